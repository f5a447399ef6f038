package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/sandbox"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestParseSandboxArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr bool
		check   func(t *testing.T, a sandboxArgs)
	}{
		{"defaults", nil, nil, false, func(t *testing.T, a sandboxArgs) {
			if a.Listen != "127.0.0.1:9999" || a.Settings.Delay != sandbox.Duration(2*time.Second) ||
				a.Settings.SlowAnswer != sandbox.Duration(time.Minute) || a.Settings.ClickPesaChecksumMethod != "canonical" {
				t.Errorf("%+v", a)
			}
		}},
		{"all flags", []string{"-listen", "127.0.0.1:0", "-clickpesa-webhook", "http://127.0.0.1:1/cp", "-clickpesa-checksum-key", "k",
			"-clickpesa-checksum-method", "legacy", "-azampay-callback", "http://127.0.0.1:1/az", "-delay", "10ms", "-token-ttl", "1m",
			"-latency", "5ms", "-slow-answer", "3s"}, nil, false, func(t *testing.T, a sandboxArgs) {
			s := a.Settings
			if a.Listen != "127.0.0.1:0" || s.ClickPesaWebhook != "http://127.0.0.1:1/cp" || s.ClickPesaChecksumKey != "k" ||
				s.ClickPesaChecksumMethod != "legacy" || s.AzamPayCallback != "http://127.0.0.1:1/az" ||
				s.Delay != sandbox.Duration(10*time.Millisecond) || s.TokenTTL != sandbox.Duration(time.Minute) ||
				s.Latency != sandbox.Duration(5*time.Millisecond) || s.SlowAnswer != sandbox.Duration(3*time.Second) {
				t.Errorf("%+v", a)
			}
		}},
		{"key from env", nil, map[string]string{sandboxChecksumKeyEnv: "envkey"}, false, func(t *testing.T, a sandboxArgs) {
			if a.Settings.ClickPesaChecksumKey != "envkey" {
				t.Errorf("%+v", a.Settings)
			}
		}},
		{"bad method", []string{"-clickpesa-checksum-method", "sha1"}, nil, true, nil},
		{"bad url", []string{"-azampay-callback", "not a url"}, nil, true, nil},
		{"bad duration", []string{"-delay", "soon"}, nil, true, nil},
		{"negative duration", []string{"-delay", "-1s"}, nil, true, nil},
		{"stray argument", []string{"extra"}, nil, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			a, err := parseSandboxArgs(tc.args, io.Discard, env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

// TestSandboxCommand runs `finconnectd sandbox` through Run, talks to it,
// and stops it by cancelling the context.
func TestSandboxCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"sandbox", "-listen", "127.0.0.1:0", "-delay", "10ms", "-clickpesa-checksum-key", "canary-key-123"},
			IO{Stdout: io.Discard, Stderr: stderr})
	}()
	urlRe := regexp.MustCompile(`msg="sandbox listening" url=(http://127\.0\.0\.1:\d+)`)
	var base string
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if m := urlRe.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("sandbox exited early with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox did not report its address: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/pesapal/api/Auth/RequestToken",
		strings.NewReader(`{"consumer_key":"k","consumer_secret":"s"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"200"`) {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sandbox did not stop after cancel")
	}
	out := stderr.String()
	if !strings.Contains(out, "sandbox stopped") || !strings.Contains(out, "checksum=\"on (canonical)\"") {
		t.Errorf("log: %s", out)
	}
	if strings.Contains(out, "canary-key-123") {
		t.Error("the checksum key was logged")
	}
}
