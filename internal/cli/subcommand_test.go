package cli

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
)

func TestParseSubcommand(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		sub        string
		positional []string
		json       bool
		err        string // "" ok, "help" flag.ErrHelp, else a substring
		stdout     string // substring of what is printed to stdout
		stderr     string // substring of what is printed to stderr
	}{
		{"flags after arguments", []string{"show", "id1", "-json", "id2"}, "show", []string{"id1", "id2"}, true, "", "", ""},
		{"flags first", []string{"list", "-json"}, "list", nil, true, "", "", ""},
		{"help to stdout", []string{"-help"}, "", nil, false, "help", "Usage: test", ""},
		{"help after a subcommand", []string{"list", "-h"}, "list", nil, false, "help", "Usage: test", ""},
		{"missing subcommand", nil, "", nil, false, "missing subcommand", "", "Usage: test"},
		{"unknown subcommand", []string{"frob"}, "", nil, false, "unknown subcommand", "", `finconnectd test: unknown subcommand "frob"`},
		{"unknown flag", []string{"list", "-nope"}, "list", nil, false, "-nope", "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			asJSON := fs.Bool("json", false, "print JSON")
			fs.Usage = func() { _, _ = fs.Output().Write([]byte("Usage: test\n")) }
			sub, positional, err := parseSubcommand(fs, "test", []string{"list", "show"}, tt.args, &stdout, &stderr)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.err == "help" && !errors.Is(err, flag.ErrHelp):
				t.Fatalf("err = %v, want flag.ErrHelp", err)
			case tt.err != "" && tt.err != "help" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if tt.err == "" && (sub != tt.sub || !slices.Equal(positional, tt.positional) || *asJSON != tt.json) {
				t.Fatalf("got %q %q json=%v, want %q %q json=%v", sub, positional, *asJSON, tt.sub, tt.positional, tt.json)
			}
			if !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("stdout %q, stderr %q; want %q and %q", stdout.String(), stderr.String(), tt.stdout, tt.stderr)
			}
		})
	}
}
