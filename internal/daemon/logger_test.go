package daemon

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLoggerDurations: a duration reads the same in JSON and text logs.
func TestLoggerDurations(t *testing.T) {
	t.Parallel()
	for _, terminal := range []bool{false, true} {
		var b bytes.Buffer
		NewLogger(&b, terminal, func(string) (string, bool) { return "", false }, nil).
			Info("done", "took", 3010*time.Microsecond)
		out := b.String()
		if terminal {
			if !strings.Contains(out, "took=3.01ms") {
				t.Errorf("text log: %s", out)
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(b.Bytes(), &line); err != nil {
			t.Fatalf("json log %q: %v", out, err)
		}
		if line["took"] != "3.01ms" {
			t.Errorf("json took = %#v, want \"3.01ms\": %s", line["took"], out)
		}
	}
}
