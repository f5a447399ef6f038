package pesapal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// IPN is one PesaPal instant payment notification: ids only, never a status.
type IPN struct {
	OrderTrackingID        string
	OrderMerchantReference string
	OrderNotificationType  string // IPNCHANGE, RECURRING (CALLBACKURL on browser redirects)
}

// maxIDLen bounds each IPN field: tracking ids are GUIDs and merchant
// references at most 50 characters, so anything far longer is not PesaPal.
const maxIDLen = 200

// ErrInvalidIPN is wrapped by every ParseIPN failure.
var ErrInvalidIPN = errors.New("invalid pesapal ipn")

// ParseIPN reads an IPN however PesaPal delivered it: the three PascalCase
// parameters in the query string (GET, and POST with an empty body), a JSON
// body, or a form body. Key matching is case-insensitive. OrderTrackingId is
// required.
func ParseIPN(method string, query url.Values, contentType string, body []byte) (IPN, error) {
	var n IPN
	switch {
	case strings.EqualFold(method, http.MethodGet) || len(bytes.TrimSpace(body)) == 0:
		n = fromValues(query)
	default:
		mt, _, _ := mime.ParseMediaType(contentType)
		trimmed := bytes.TrimSpace(body)
		switch {
		case trimmed[0] == '{' || mt == "application/json" || strings.HasSuffix(mt, "+json"):
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(trimmed, &raw); err != nil {
				return IPN{}, fmt.Errorf("%w: json body: %v", ErrInvalidIPN, err)
			}
			v := url.Values{}
			for k, r := range raw {
				var s string
				if err := json.Unmarshal(r, &s); err != nil {
					continue // not a string: not one of ours
				}
				v.Set(k, s)
			}
			n = fromValues(v)
		default: // a form, whatever the Content-Type says
			v, err := url.ParseQuery(string(trimmed))
			if err != nil {
				return IPN{}, fmt.Errorf("%w: body is neither JSON nor a form: %v", ErrInvalidIPN, err)
			}
			n = fromValues(v)
		}
		if n.OrderTrackingID == "" {
			// Some senders put the ids in the query even on POST.
			q := fromValues(query)
			if q.OrderTrackingID != "" {
				n = q
			}
		}
	}
	if n.OrderTrackingID == "" {
		return IPN{}, fmt.Errorf("%w: OrderTrackingId missing", ErrInvalidIPN)
	}
	for name, v := range map[string]string{
		"OrderTrackingId":        n.OrderTrackingID,
		"OrderMerchantReference": n.OrderMerchantReference,
		"OrderNotificationType":  n.OrderNotificationType,
	} {
		if len(v) > maxIDLen {
			return IPN{}, fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidIPN, name, maxIDLen)
		}
		if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return IPN{}, fmt.Errorf("%w: %s contains control characters or invalid UTF-8", ErrInvalidIPN, name)
		}
	}
	return n, nil
}

func fromValues(v url.Values) IPN {
	get := func(name string) string {
		if s := v.Get(name); s != "" {
			return strings.TrimSpace(s)
		}
		for k, vs := range v {
			if strings.EqualFold(k, name) && len(vs) > 0 {
				return strings.TrimSpace(vs[0])
			}
		}
		return ""
	}
	return IPN{
		OrderTrackingID:        get("OrderTrackingId"),
		OrderMerchantReference: get("OrderMerchantReference"),
		OrderNotificationType:  get("OrderNotificationType"),
	}
}

// Ack is the JSON body PesaPal expects in answer to an IPN: the ids echoed
// in camelCase and a numeric status, 200 when the notification was recorded
// and 500 when it was not (PesaPal then retries).
func (n IPN) Ack(status int) []byte {
	b, _ := json.Marshal(struct {
		OrderNotificationType  string `json:"orderNotificationType"`
		OrderTrackingID        string `json:"orderTrackingId"`
		OrderMerchantReference string `json:"orderMerchantReference"`
		Status                 int    `json:"status"`
	}{n.OrderNotificationType, n.OrderTrackingID, n.OrderMerchantReference, status})
	return b
}
