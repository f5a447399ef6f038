package providers

import (
	"bytes"
	"encoding/json"
	"slices"
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
func IsCredentialKey(k string) bool { return isCredentialKey(k) }

func isCredentialKey[K string | []byte](k K) bool {
	// ASCII keys (all of them in practice) are folded into a small buffer
	// without allocating; a key longer than it names no credential.
	var buf [32]byte
	n := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 0x80:
			return credentialKeys[strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(string(k)))]
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
// values are kept byte for byte; object keys come out sorted (the last of
// repeated keys wins, as when the document is decoded), without
// whitespace between tokens. A body that is not JSON comes back as nil: it
// cannot be checked, so it is not kept.
//
// It runs on every notification and provider answer, so it rewrites the
// document in one pass over its bytes instead of decoding and encoding
// each level.
func WithoutCredentials(body []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return nil
	}
	s := stripper{src: trimmed}
	return s.value(make([]byte, 0, len(trimmed)), 0)
}

// maxStripDepth bounds recursion on hostile input (json.Valid accepts any
// depth); a value deeper than it becomes null.
const maxStripDepth = 32

// stripper rewrites a document that json.Valid accepted: it only has to
// find where each token ends, never to reject anything.
type stripper struct {
	src []byte
	pos int
}

// member is one kept "key":value of an object, written in the object's
// buffer at [from, to).
type member struct {
	key      []byte // decoded
	from, to int
}

// value appends the value at s.pos, stripped and compact, to dst.
func (s *stripper) value(dst []byte, depth int) []byte {
	s.space()
	start := s.pos
	if depth > maxStripDepth {
		s.skip()
		return append(dst, "null"...)
	}
	switch s.src[s.pos] {
	case '{':
		return s.object(dst, depth)
	case '[':
		return s.array(dst, depth)
	case '"':
		s.str()
	default:
		s.literal()
	}
	return append(dst, s.src[start:s.pos]...)
}

func (s *stripper) object(dst []byte, depth int) []byte {
	s.pos++ // {
	// Objects of up to 16 members (nearly all) sort them in an array on
	// the stack; their bytes go to one buffer.
	var memberArr [16]member
	members := memberArr[:0]
	buf := make([]byte, 0, 512)
	for {
		s.space()
		if s.src[s.pos] == '}' {
			s.pos++
			break
		}
		if s.src[s.pos] == ',' {
			s.pos++
			s.space()
		}
		kstart := s.pos
		s.str()
		raw := s.src[kstart:s.pos]
		key, plain := decodeKey(raw)
		s.space()
		s.pos++ // :
		if isCredentialKey(key) {
			s.space()
			s.skip()
			continue
		}
		from := len(buf)
		if plain {
			buf = append(buf, raw...)
		} else {
			buf = appendKey(buf, string(key))
		}
		buf = append(buf, ':')
		buf = s.value(buf, depth+1)
		members = append(members, member{key: key, from: from, to: len(buf)})
	}
	// Sorted by key; of equal keys the last one (stable sort: the last of
	// its run) is kept.
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	dst = append(dst, '{')
	first := true
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].key, m.key) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, buf[m.from:m.to]...)
	}
	return append(dst, '}')
}

func (s *stripper) array(dst []byte, depth int) []byte {
	s.pos++ // [
	dst = append(dst, '[')
	first := true
	for {
		s.space()
		if s.src[s.pos] == ']' {
			s.pos++
			break
		}
		if s.src[s.pos] == ',' {
			s.pos++
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = s.value(dst, depth+1)
	}
	return append(dst, ']')
}

func (s *stripper) space() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// str moves past the string that starts at s.pos.
func (s *stripper) str() {
	i := s.pos + 1
	for {
		switch s.src[i] {
		case '\\':
			i += 2
		case '"':
			s.pos = i + 1
			return
		default:
			i++
		}
	}
}

// literal moves past the number, true, false or null at s.pos.
func (s *stripper) literal() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return
		}
		s.pos++
	}
}

// skip moves past the value at s.pos, however deep.
func (s *stripper) skip() {
	level := 0
	for {
		switch s.src[s.pos] {
		case '"':
			s.str()
		case '{', '[':
			level++
			s.pos++
		case '}', ']':
			level--
			s.pos++
		default:
			if level == 0 {
				s.literal()
				return
			}
			s.pos++
		}
		if level == 0 {
			return
		}
	}
}

// decodeKey returns the string a quoted object key stands for, and
// whether the key encodes back to exactly raw (printable ASCII without
// escapes: nearly every key, which is then returned without a copy).
func decodeKey(raw []byte) ([]byte, bool) {
	plain := true
	for _, c := range raw[1 : len(raw)-1] {
		if c < 0x20 || c > 0x7e || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return raw[1 : len(raw)-1], true
	}
	var k string
	_ = json.Unmarshal(raw, &k) // raw is a valid JSON string
	return []byte(k), false
}

// appendKey appends k quoted as encoding/json quotes a map key (without
// HTML escaping).
func appendKey(dst []byte, k string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(k) // a string always encodes
	return append(dst, bytes.TrimSpace(buf.Bytes())...)
}
