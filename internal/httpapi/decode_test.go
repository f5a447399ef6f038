package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

type decodeInner struct {
	Email string `json:"email"`
}

type decodeTarget struct {
	Name  string         `json:"name"`
	Count int            `json:"count,omitempty"`
	Inner *decodeInner   `json:"inner,omitempty"`
	Data  map[string]any `json:"data,omitempty"`
}

func decodeBody(body string) (decodeTarget, error) {
	var v decodeTarget
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	err := DecodeJSON(httptest.NewRecorder(), r, &v)
	return v, err
}

// TestDecodeJSONReportsEveryField: every unknown or mistyped field is
// named, and the good fields still arrive.
func TestDecodeJSONReportsEveryField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body   string
		status int
		fields string
		want   decodeTarget
	}{
		{`{"name":"a","count":2}`, 0, "", decodeTarget{Name: "a", Count: 2}},
		{`{"name":1,"count":"x","extra":true}`, 422, "name,count,extra", decodeTarget{}},
		{`{"name":"a","count":"x"}`, 422, "count", decodeTarget{Name: "a"}},
		{`{"name":"a","inner":{"email":3,"nick":"n"}}`, 422, "inner.email,inner.nick", decodeTarget{Name: "a", Inner: &decodeInner{}}},
		{`{"NAME":"a"}`, 0, "", decodeTarget{Name: "a"}},
		{`{"name":"a"} {}`, 400, "", decodeTarget{}},
		{`[1]`, 400, "", decodeTarget{}},
		{`{"name":`, 400, "", decodeTarget{}},
		{``, 400, "", decodeTarget{}},
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			got, err := decodeBody(c.body)
			var p *Problem
			switch {
			case c.status == 0 && err != nil:
				t.Fatalf("err %v", err)
			case c.status != 0 && (!errors.As(err, &p) || p.Status != c.status):
				t.Fatalf("err %v, want a %d problem", err, c.status)
			}
			if p != nil {
				var names []string
				for _, e := range p.Errors {
					names = append(names, e.Field)
				}
				if strings.Join(names, ",") != c.fields {
					t.Errorf("fields %v, want %s", names, c.fields)
				}
			}
			if c.status != 400 && !reflect.DeepEqual(got, c.want) {
				t.Errorf("decoded %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestQueryProblem(t *testing.T) {
	t.Parallel()
	p := QueryProblem([]FieldError{{Field: "limit", Message: "m"}, {Field: "status", Message: "m"}})
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Detail, "limit, status") || len(p.Errors) != 2 {
		t.Fatalf("%+v", p)
	}
}

// FuzzDecodeJSON: any body decodes or yields a problem, never a panic;
// what decodes without error is what encoding/json decodes strictly.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a","count":2}`, `{"name":1,"inner":{"email":[]}}`, `[]`, `{"data":{"x":1}}`, `{"a":`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeBody(string(body))
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("not a problem: %v", err)
			}
			return
		}
		var want decodeTarget
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("accepted %q that encoding/json rejects: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", body, got, want)
		}
	})
}

func TestCursor(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"pay_abc", "dlv_x-1", "a"} {
		got, err := DecodeCursor(EncodeCursor(id))
		if err != nil || got != id {
			t.Errorf("round trip of %q: %q, %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "pay_abc", "!!", EncodeCursor(""), strings.Repeat("A", 300),
		base64URL("c2:pay_abc"), base64URL("c1:pay abc"), base64URL("c1:pay\x00")} {
		if _, err := DecodeCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func FuzzDecodeCursor(f *testing.F) {
	f.Add(EncodeCursor("pay_abc"))
	f.Add("")
	f.Fuzz(func(t *testing.T, c string) {
		id, err := DecodeCursor(c)
		if err == nil && EncodeCursor(id) != c {
			t.Fatalf("%q decodes to %q, which encodes to %q", c, id, EncodeCursor(id))
		}
	})
}
