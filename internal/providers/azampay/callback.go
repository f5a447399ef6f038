package azampay

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
)

// Callback is the JSON AzamPay posts after an MNO checkout settles. The
// user/password fields some merchants receive (callback basic auth) are
// deliberately not decoded, so they cannot end up in a log or in state.
type Callback struct {
	MSISDN               string
	Amount               string
	Message              string
	UtilityRef           string // our externalId
	Operator             string
	Reference            string
	TransactionStatus    string // "success" / "failure" (compare case-insensitively)
	ExternalReference    string
	TransID              string
	MNOReference         string
	ClientID             string
	FSPReferenceID       string
	Signature            string
	AdditionalProperties json.RawMessage
}

// ErrInvalidCallback is wrapped by every ParseCallback failure.
var ErrInvalidCallback = errors.New("invalid azampay callback")

// ErrBadSignature is wrapped when a callback's signature does not verify.
var ErrBadSignature = errors.New("azampay callback signature does not verify")

type wireCallback struct {
	MSISDN               wire.String     `json:"msisdn"`
	Amount               wire.String     `json:"amount"`
	Message              wire.String     `json:"message"`
	UtilityRef           wire.String     `json:"utilityref"`
	Operator             wire.String     `json:"operator"`
	Reference            wire.String     `json:"reference"`
	TransactionStatus    wire.String     `json:"transactionstatus"`
	ExternalReference    wire.String     `json:"externalreference"`
	TransID              wire.String     `json:"transid"`
	MNOReference         wire.String     `json:"mnoreference"`
	ClientID             wire.String     `json:"clientId"`
	FSPReferenceID       wire.String     `json:"fspReferenceId"`
	Signature            wire.String     `json:"signature"`
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
}

// ParseCallback decodes a callback body. Keys match case-insensitively (an
// old SDK sent transactionStatus); values may be strings, numbers or null.
// utilityref and transactionstatus are required. Values are kept exactly as
// received, since the signature covers them raw.
func ParseCallback(body []byte) (Callback, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Callback{}, fmt.Errorf("%w: body is not a JSON object", ErrInvalidCallback)
	}
	var w wireCallback
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return Callback{}, fmt.Errorf("%w: %v", ErrInvalidCallback, err)
	}
	c := Callback{
		MSISDN:            string(w.MSISDN),
		Amount:            string(w.Amount),
		Message:           string(w.Message),
		UtilityRef:        string(w.UtilityRef),
		Operator:          string(w.Operator),
		Reference:         string(w.Reference),
		TransactionStatus: string(w.TransactionStatus),
		ExternalReference: string(w.ExternalReference),
		TransID:           string(w.TransID),
		MNOReference:      string(w.MNOReference),
		ClientID:          string(w.ClientID),
		FSPReferenceID:    string(w.FSPReferenceID),
		Signature:         string(w.Signature),
	}
	if len(w.AdditionalProperties) > 0 && string(w.AdditionalProperties) != "null" {
		c.AdditionalProperties = json.RawMessage(bytes.Clone(w.AdditionalProperties))
	}
	if c.UtilityRef == "" {
		return Callback{}, fmt.Errorf("%w: utilityref missing", ErrInvalidCallback)
	}
	if c.TransactionStatus == "" {
		return Callback{}, fmt.Errorf("%w: transactionstatus missing", ErrInvalidCallback)
	}
	if err := wire.CheckIDs("utilityref", c.UtilityRef, "externalreference", c.ExternalReference,
		"reference", c.Reference, "transid", c.TransID, "mnoreference", c.MNOReference,
		"transactionstatus", c.TransactionStatus, "operator", c.Operator, "amount", c.Amount,
		"msisdn", c.MSISDN); err != nil {
		return Callback{}, fmt.Errorf("%w: %v", ErrInvalidCallback, err)
	}
	c.Message = wire.CleanText(c.Message)
	return c, nil
}

// SignedMessage is the text AzamPay signs: utilityref + externalreference +
// transactionstatus + operator, raw, no separators.
func (c Callback) SignedMessage() string {
	return c.UtilityRef + c.ExternalReference + c.TransactionStatus + c.Operator
}

// VerifyCallback checks the callback's base64 signature: RSA PKCS#1 v1.5
// over SHA-256 of SignedMessage, with AzamPay's public key.
func VerifyCallback(pub *rsa.PublicKey, c Callback) error {
	if pub == nil {
		return errors.New("verify azampay callback: no public key")
	}
	if c.Signature == "" {
		return fmt.Errorf("verify azampay callback: %w: signature missing", ErrBadSignature)
	}
	sig, err := decodeBase64(c.Signature)
	if err != nil {
		return fmt.Errorf("verify azampay callback: %w: signature is not base64", ErrBadSignature)
	}
	sum := sha256.Sum256([]byte(c.SignedMessage()))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("verify azampay callback: %w", ErrBadSignature)
	}
	return nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// ParsePublicKey reads AzamPay's public key from what the key endpoint
// answers: JSON {"publicKey": PEM} (the PEM possibly with literal "\n"
// sequences) or a raw PEM body. SubjectPublicKeyInfo ("PUBLIC KEY") and
// PKCS#1 ("RSA PUBLIC KEY") blocks are accepted, as is bare base64 DER.
func ParsePublicKey(body []byte) (*rsa.PublicKey, error) {
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(text, "{") {
		var j struct {
			PublicKey wire.String `json:"publicKey"`
			Data      *struct {
				PublicKey wire.String `json:"publicKey"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(text), &j); err != nil {
			return nil, fmt.Errorf("parse azampay public key: decode json: %w", err)
		}
		text = string(j.PublicKey)
		if text == "" && j.Data != nil {
			text = string(j.Data.PublicKey)
		}
		if text == "" {
			return nil, errors.New("parse azampay public key: publicKey field missing")
		}
	} else if strings.HasPrefix(text, `"`) {
		var s string
		if err := json.Unmarshal([]byte(text), &s); err == nil {
			text = s
		}
	}
	text = strings.ReplaceAll(text, `\r\n`, "\n")
	text = strings.ReplaceAll(text, `\n`, "\n")
	text = strings.TrimSpace(text)

	var der []byte
	if blk, _ := pem.Decode([]byte(text)); blk != nil {
		der = blk.Bytes
	} else {
		b, err := decodeBase64(strings.Join(strings.Fields(text), ""))
		if err != nil {
			return nil, errors.New("parse azampay public key: neither PEM nor base64 DER")
		}
		der = b
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("parse azampay public key: %T is not an RSA key", k)
		}
		return rk, nil
	}
	if rk, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return rk, nil
	}
	return nil, errors.New("parse azampay public key: not an RSA public key (PKIX or PKCS#1)")
}

// MapStatus maps a callback's transactionstatus (or the status query's
// status text) to ours, case-insensitively: success/successful/completed →
// succeeded; failure/failed/cancelled/canceled/rejected → failed; anything
// else pending.
func MapStatus(s string) providers.Status {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "success", "successful", "succeeded", "completed", "settled":
		return providers.StatusSucceeded
	case "failure", "failed", "fail", "cancelled", "canceled", "rejected", "expired":
		return providers.StatusFailed
	case "reversed", "refunded":
		return providers.StatusReversed
	default:
		return providers.StatusPending
	}
}
