package cli

import (
	"path/filepath"

	"github.com/finconnectd/finconnectd/internal/config"
)

// diagWidth wraps diagnostic details like Terraform does.
const diagWidth = 78

// configPath resolves -config: the flag, else $FINCONNECT_CONFIG, else the
// working directory.
func configPath(io IO, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v, ok := io.LookupEnv("FINCONNECT_CONFIG"); ok && v != "" {
		return v
	}
	// The working directory: "." is read against io.Cwd (newLoader's
	// BaseDir), so diagnostics name files relative to it.
	return "."
}

// newLoader returns a config loader reading env() through io and relative
// paths against io.Cwd.
func newLoader(io IO) *config.Loader {
	l := config.NewLoader(io.LookupEnv)
	if io.Cwd != "" && filepath.IsAbs(io.Cwd) {
		l.BaseDir = io.Cwd
	}
	return l
}

// loadConfig resolves -config (flag, else $FINCONNECT_CONFIG, else io.Cwd),
// loads and validates it, prints every diagnostic (warnings too) to
// io.Stderr in HCL's text form, and returns nil when there was an error.
// validate, plan, apply and serve share this one load path.
func loadConfig(io IO, path string) *config.Config {
	cfg, _ := loadConfigWarnings(io, path)
	return cfg
}

// loadConfigWarnings is loadConfig that also reports how many warnings were
// printed.
func loadConfigWarnings(io IO, path string) (*config.Config, int) {
	l := newLoader(io)
	cfg, diags := l.Load(configPath(io, path))
	if len(diags) > 0 {
		_ = l.WriteDiagnostics(io.Stderr, diags, diagWidth, colorOn(io))
	}
	if diags.HasErrors() {
		return nil, 0
	}
	return cfg, len(diags)
}
