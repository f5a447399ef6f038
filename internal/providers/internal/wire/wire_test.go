package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/secret"
)

func TestString(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{`"abc"`, "abc", false},
		{`"a b-c:1/2"`, "a b-c:1/2", false},
		{`"caf\u00e9"`, "café", false},
		{`"tab\tnewline\n"`, "tab\tnewline\n", false},
		{`"\"quoted\""`, `"quoted"`, false},
		{`"Dar es Salaam – Kariakoo"`, "Dar es Salaam – Kariakoo", false},
		{`""`, "", false},
		{`1000`, "1000", false},
		{`1000.50`, "1000.50", false},
		{`12345678901234567890`, "12345678901234567890", false},
		{`null`, "", false},
		{`true`, "true", false},
		{`{}`, "", true},
		{`[1]`, "", true},
	}
	for _, tt := range tests {
		var v struct {
			S String `json:"s"`
		}
		err := json.Unmarshal([]byte(`{"s":`+tt.in+`}`), &v)
		if (err != nil) != tt.err || (!tt.err && string(v.S) != tt.want) {
			t.Errorf("%s: got %q, %v", tt.in, v.S, err)
		}
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		in   string
		want int
		err  bool
	}{
		{`200`, 200, false}, {`"200"`, 200, false}, {`null`, 0, false}, {`"x"`, 0, true}, {`1.5`, 0, true},
	}
	for _, tt := range tests {
		var n Int
		err := json.Unmarshal([]byte(tt.in), &n)
		if (err != nil) != tt.err || (!tt.err && int(n) != tt.want) {
			t.Errorf("%s: got %d, %v", tt.in, n, err)
		}
	}
}

func TestDecimal(t *testing.T) {
	for in, ok := range map[string]bool{
		"1500": true, "1500.00": true, "0.5": true, " 10 ": true,
		"0": false, "0.00": false, "-1": false, "1e3": false, "1,000": false, "": false, "1.": false, ".5": false, "NaN": false,
	} {
		n, err := Decimal(in)
		if (err == nil) != ok {
			t.Errorf("Decimal(%q) err = %v, want ok=%v", in, err, ok)
		}
		if ok && string(n) != strings.TrimSpace(in) {
			t.Errorf("Decimal(%q) = %q", in, n)
		}
	}
}

func TestMergeJSON(t *testing.T) {
	type payload struct {
		Amount json.Number `json:"amount"`
		ID     string      `json:"id"`
	}
	b, err := MergeJSON(payload{"15000.00", "A"}, map[string]any{"id": "B", "extra": true})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"amount":15000.00,"extra":true,"id":"B"}` {
		t.Fatalf("merged %s", b)
	}
	b, _ = MergeJSON(payload{"1.50", "A"}, nil)
	if string(b) != `{"amount":1.50,"id":"A"}` {
		t.Fatalf("unmerged %s", b)
	}
}

func TestDoClassifiesTransport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", MaxBody+10)))
	}))
	t.Cleanup(big.Close)

	c := &Caller{Provider: providers.PesaPal, Block: "b", Timeout: 2 * time.Second}
	tests := []struct {
		name       string
		url        string
		initiation bool
		want       providers.ErrorKind
	}{
		{"refused read", refused, false, providers.Retryable},
		{"refused initiation never left", refused, true, providers.Retryable},
		{"oversized read", big.URL, false, providers.Retryable},
		{"oversized initiation", big.URL, true, providers.UnknownOutcome},
		{"bad url", "http://[::1", false, providers.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Do(context.Background(), Request{Op: "op", Method: "GET", URL: tt.url, Initiation: tt.initiation})
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Kind != tt.want {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStatusKind(t *testing.T) {
	tests := []struct {
		init   bool
		status int
		want   providers.ErrorKind
	}{
		{false, 500, providers.Retryable}, {true, 500, providers.UnknownOutcome}, {true, 429, providers.Retryable},
		{false, 400, providers.Permanent}, {true, 409, providers.Permanent},
	}
	for _, tt := range tests {
		if got := StatusKind(tt.init, tt.status); got != tt.want {
			t.Errorf("StatusKind(%v, %d) = %v, want %v", tt.init, tt.status, got, tt.want)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{`"a"`, `1`, `null`, `{}`, `"\u00e9"`, `-1.5e3`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s String
		err := s.UnmarshalJSON(b)
		var n Int
		_ = n.UnmarshalJSON(b)
		// A string reads as encoding/json reads it, whatever path it took.
		if tb := bytes.TrimSpace(b); len(tb) > 0 && tb[0] == '"' {
			var want string
			werr := json.Unmarshal(tb, &want)
			if (err == nil) != (werr == nil) || err == nil && string(s) != want {
				t.Fatalf("String(%q) = %q, %v; encoding/json: %q, %v", b, s, err, want, werr)
			}
		}
	})
}

func TestErrScrubsSecrets(t *testing.T) {
	c := &Caller{Provider: providers.PesaPal, Secrets: []secret.Value{secret.New("consumer-key-123"), secret.New("")}}
	err := c.Err("op", providers.Permanent, 400, "", "invalid key consumer-key-123 given", nil)
	if strings.Contains(err.Error(), "consumer-key-123") || !strings.Contains(err.Error(), secret.Redacted) {
		t.Fatalf("not scrubbed: %v", err)
	}
}

func TestReadRetryPolicy(t *testing.T) {
	tests := []struct {
		retries     int
		backoff     time.Duration
		wantRetries int
		wantBackoff time.Duration
	}{
		{0, 0, DefaultReadRetries, DefaultRetryBackoff},
		{-1, time.Second, 0, time.Second},
		{5, -time.Second, 5, DefaultRetryBackoff},
	}
	for _, tt := range tests {
		r, b := ReadRetryPolicy(tt.retries, tt.backoff)
		if r != tt.wantRetries || b != tt.wantBackoff {
			t.Errorf("ReadRetryPolicy(%d, %s) = %d, %s; want %d, %s", tt.retries, tt.backoff, r, b, tt.wantRetries, tt.wantBackoff)
		}
	}
}
