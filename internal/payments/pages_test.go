package payments

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/sandbox"
)

// TestListPages: GET /v1/payments walks every payment page by page with
// next_cursor, undisturbed by a payment made meanwhile; a bad or unknown
// cursor is a 400 naming cursor.
func TestListPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: sandbox.Settings{Delay: sandbox.Duration(time.Hour)}})
	var want []string
	for _, ref := range []string{"PAGE1", "PAGE2", "PAGE3"} {
		r := h.pay("", paymentBody("clickpesa.tz", ref, phoneFor("clickpesa.tz", 0)))
		if r.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", ref, r.status, r.body)
		}
		want = append([]string{ref}, want...)
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		path := "/v1/payments?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := h.do(http.MethodGet, path, testToken, "", nil)
		var l PaymentList
		r.decode(t, &l)
		if r.status != http.StatusOK || page > 3 {
			t.Fatalf("page %d: %d %s", page, r.status, r.body)
		}
		for _, p := range l.Payments {
			got = append(got, p.Reference)
		}
		if page == 0 {
			h.pay("", paymentBody("clickpesa.tz", "PAGENEW", phoneFor("clickpesa.tz", 0)))
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("walked %v, want %v", got, want)
	}
	for _, c := range []string{"x", httpapi.EncodeCursor("pay_gone")} {
		r := h.do(http.MethodGet, "/v1/payments?cursor="+url.QueryEscape(c), testToken, "", nil)
		var p httpapi.Problem
		r.decode(t, &p)
		if r.status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "cursor" {
			t.Errorf("cursor %q: %d %s, want 400 naming cursor", c, r.status, r.body)
		}
	}
}
