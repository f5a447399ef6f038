package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const canary = "canary-8c1f2e7d-secret"

func TestValueNeverPrints(t *testing.T) {
	s := New(canary)
	type holder struct {
		Name string
		Key  Value
	}
	h := holder{Name: "x", Key: s}

	var logBuf bytes.Buffer
	lg := slog.New(slog.NewJSONHandler(&logBuf, nil))
	lg.Info("msg", "key", s, "holder", h)
	tlg := slog.New(slog.NewTextHandler(&logBuf, nil))
	tlg.Info("msg", "key", s)

	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %+v %#v %q %x", s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", h, h, &h),
		fmt.Errorf("wrapped: %v: %w", s, errors.New("x")).Error(),
		string(js), logBuf.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, canary) {
			t.Fatalf("secret leaked in %q", out)
		}
		if !strings.Contains(out, Redacted) {
			t.Fatalf("output %q does not say %q", out, Redacted)
		}
	}
	if s.Reveal() != canary {
		t.Fatal("Reveal lost the value")
	}
	if !s.Equal(canary) || s.Equal("other") {
		t.Fatal("Equal is wrong")
	}
	if s.IsZero() || !New("").IsZero() {
		t.Fatal("IsZero is wrong")
	}
}
