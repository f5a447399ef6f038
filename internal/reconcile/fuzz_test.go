package reconcile

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseJSON feeds plan files to the parser: it must never panic, and a
// plan it accepts must render and round-trip.
func FuzzParseJSON(f *testing.F) {
	f.Add(`{"format_version":"1.0","lineage":"l","serial":3,"created_at":"2026-11-22T10:00:00Z","refreshed":true,"resource_changes":[]}`)
	f.Add(`{"format_version":"1.0","lineage":"l","serial":1,"created_at":"2026-11-22T10:00:00Z","refreshed":true,"resource_changes":[{"address":"ipn.orders","type":"ipn","name":"orders","provider":"pesapal.ke","actions":["create"],"before":null,"after":{"url":"https://x","notification_type":"POST","provider":"pesapal.ke"},"after_unknown":{"ipn_id":true}}]}`)
	f.Add(`{"format_version":"1.0","lineage":"l","serial":1,"created_at":"2026-11-22T10:00:00Z","refreshed":false,"resource_changes":[{"address":"ipn.o","type":"ipn","name":"o","provider":"pesapal.ke","actions":["forget","create"],"before":{"ipn_id":"a"},"after":{"url":"u"},"replace_paths":[["url"]],"importing":{"id":"b"},"reason":"r"}]}`)
	f.Add(`{"format_version":"1.0","resource_changes":[{"address":"key.azampay.tz","type":"key","name":"azampay.tz","actions":["forget"],"before":{}}]}`)
	f.Add(`{"format_version":"2.0"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParseJSON(strings.NewReader(in))
		if err != nil {
			return
		}
		var text, js bytes.Buffer
		if err := Render(&text, p); err != nil {
			t.Fatal(err)
		}
		if err := RenderJSON(&js, p); err != nil {
			t.Fatal(err)
		}
		back, err := ParseJSON(&js)
		if err != nil {
			t.Fatalf("re-parse of rendered plan: %v", err)
		}
		var text2 bytes.Buffer
		_ = Render(&text2, back)
		if text.String() != text2.String() {
			t.Fatalf("round trip changed the plan:\n%s\n---\n%s", text.String(), text2.String())
		}
	})
}
