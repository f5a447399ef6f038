package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

func TestParsePaymentsArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args    []string
		want    paymentsArgs
		wantErr bool
		help    bool
	}{
		{args: []string{"list"}, want: paymentsArgs{Sub: "list", Limit: 100}},
		{args: []string{"list", "-status", "unknown", "-provider", "clickpesa.tz", "-json", "-limit", "5"},
			want: paymentsArgs{Sub: "list", Status: "unknown", Provider: "clickpesa.tz", JSON: true, Limit: 5}},
		{args: []string{"show", "pay_abc", "-json"}, want: paymentsArgs{Sub: "show", ID: "pay_abc", JSON: true, Limit: 100}},
		{args: []string{"show", "-config", "x.hcl", "pay_abc"}, want: paymentsArgs{Sub: "show", ID: "pay_abc", Config: "x.hcl", Limit: 100}},
		{args: []string{"show"}, wantErr: true},
		{args: []string{"show", "a", "b"}, wantErr: true},
		{args: []string{"list", "extra"}, wantErr: true},
		{args: []string{"list", "-status", "paid"}, wantErr: true},
		{args: []string{"list", "-limit", "0"}, wantErr: true},
		{args: []string{"delete"}, wantErr: true},
		{args: nil, wantErr: true},
		{args: []string{"-help"}, help: true},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parsePaymentsArgs(c.args, &stderr)
			if c.help {
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err %v, want ErrHelp", err)
				}
				return
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, wantErr %v", err, c.wantErr)
			}
			if err == nil && got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestWritePayment(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p := state.Payment{ID: "pay_1", Provider: "clickpesa.tz", Reference: "R1\x1b[2J", Status: "unknown", Amount: "1000", Currency: "TZS",
		CreatedAt: at, UpdatedAt: at, NextSyncAt: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	writePayment(&b, p)
	out := b.String()
	for _, want := range []string{"pay_1", "1000 TZS", "never (sync gave up after 24h)", "2026-11-22T10:00:00Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("control character printed")
	}
	b.Reset()
	writePaymentList(&b, []state.Payment{p})
	if !strings.Contains(b.String(), "ID") || !strings.Contains(b.String(), "pay_1") {
		t.Errorf("list:\n%s", b.String())
	}
}
