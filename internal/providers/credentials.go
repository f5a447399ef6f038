package providers

import (
	"bytes"
	"encoding/json"
	"strings"
)

// credentialKeys are the JSON keys, lower case without "_" or "-", that
// providers echo and that are credentials or proofs: AzamPay's clientId
// (and the user/password of callback basic auth), ClickPesa's clientId,
// API keys, tokens, and the signature or checksum itself.
var credentialKeys = map[string]bool{
	"clientid": true, "clientsecret": true, "apikey": true,
	"user": true, "username": true, "password": true, "secret": true,
	"token": true, "accesstoken": true, "authorization": true,
	"consumerkey": true, "consumersecret": true,
	"signature": true, "checksum": true, "checksummethod": true,
}

// IsCredentialKey reports whether a JSON key names a credential or proof
// field that must never be stored, forwarded or shown.
func IsCredentialKey(k string) bool {
	// ASCII keys (all of them in practice) are folded into a small buffer
	// without allocating; a key longer than it names no credential.
	var buf [32]byte
	n := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 0x80:
			return credentialKeys[strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(k))]
		case c == '_' || c == '-':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if n == len(buf) {
			return false
		}
		buf[n] = c
		n++
	}
	return credentialKeys[string(buf[:n])]
}

// WithoutCredentials returns a copy of a provider's JSON document with
// every credential field (IsCredentialKey), at any depth, removed. Other
// values are kept byte for byte; object keys come out sorted. A body that
// is not JSON comes back as nil: it cannot be checked, so it is not kept.
func WithoutCredentials(body []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return nil
	}
	out, err := stripCredentials(trimmed, 0)
	if err != nil {
		return nil
	}
	return out
}

// maxStripDepth bounds recursion on hostile input (json.Valid accepts any
// depth); anything deeper is dropped.
const maxStripDepth = 32

func stripCredentials(v json.RawMessage, depth int) (json.RawMessage, error) {
	if depth > maxStripDepth {
		return json.RawMessage("null"), nil
	}
	switch v[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, err
		}
		for k, e := range m {
			if IsCredentialKey(k) {
				delete(m, k)
				continue
			}
			c, err := stripCredentials(bytes.TrimSpace(e), depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = c
		}
		return encodeJSON(m)
	case '[':
		var a []json.RawMessage
		if err := json.Unmarshal(v, &a); err != nil {
			return nil, err
		}
		for i, e := range a {
			c, err := stripCredentials(bytes.TrimSpace(e), depth+1)
			if err != nil {
				return nil, err
			}
			a[i] = c
		}
		return encodeJSON(a)
	}
	return append(json.RawMessage(nil), v...), nil
}

func encodeJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimSpace(buf.Bytes())), nil
}
