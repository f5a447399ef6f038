// Package config reads finconnectd's HCL configuration (docs/configuration.md) into the
// typed, validated, defaulted Config that every other package consumes.
//
// One Loader parses a file or a directory of *.hcl files with one
// hclparse.Parser, evaluates expressions with env(), file() and go-cty's
// standard library, resolves provider.KIND.NAME references, fills in defaults
// (defaults.go, the only place they live) and checks everything HCL cannot
// type-check itself: durations, cron specs, URLs, enums, duplicates. Every
// problem is an hcl.Diagnostic with a source range and a sentence saying how
// to fix it; all of them are reported in one run.
//
// Values that come from env() or file() are marked sensitive and stay marked;
// credential fields decode into secret.Value, and no diagnostic ever shows a
// sensitive value. This package performs no network I/O, starts nothing and
// imports nothing internal except secret.
package config
