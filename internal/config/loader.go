package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/finconnectd/finconnectd/internal/secret"
)

// Loader reads configurations. It keeps the parser of its most recent Load,
// whose files WriteDiagnostics needs to show source lines. A Loader is not safe
// for concurrent use; each Load starts from a fresh parser, so one Loader can
// reload a configuration that changed on disk.
type Loader struct {
	// BaseDir is what relative paths given to Load are read against
	// (default: the process's working directory). Diagnostics name files as
	// they were given.
	BaseDir string

	lookupEnv func(string) (string, bool)
	parser    *hclparse.Parser
}

// NewLoader returns a Loader whose env() reads variables through lookupEnv
// (os.LookupEnv in production; nil means no variable is set).
func NewLoader(lookupEnv func(string) (string, bool)) *Loader {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	return &Loader{lookupEnv: lookupEnv, parser: hclparse.NewParser()}
}

// srcFile is one parsed configuration file.
type srcFile struct {
	name string // as shown in diagnostics
	abs  string // absolute path ("" for in-memory sources)
	dir  string // absolute directory that file() is relative to
	file *hcl.File
}

// Load reads path, a file or a directory whose *.hcl files are merged in
// lexical order, and returns the validated configuration. The diagnostics
// hold every problem found (and warnings); the Config is nil when they
// contain an error.
func (l *Loader) Load(path string) (*Config, hcl.Diagnostics) {
	l.parser = hclparse.NewParser()
	if path == "" {
		path = "."
	}
	abs := l.abs(path)
	st, err := os.Stat(abs)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration",
			Detail:   fmt.Sprintf("Cannot open %s: %s. Pass an existing file or directory with -config, or set FINCONNECT_CONFIG.", path, describeFileError(err)),
		}}
	}
	var names []string // display names
	dir := abs
	if st.IsDir() {
		entries, err := os.ReadDir(abs)
		if err != nil {
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Cannot read configuration directory",
				Detail:   fmt.Sprintf("Cannot list %s: %s. Check its permissions.", path, describeFileError(err)),
			}}
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".hcl") {
				continue
			}
			names = append(names, filepath.Join(path, n))
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "No configuration files",
				Detail:   fmt.Sprintf("The directory %s contains no *.hcl files. Pass a configuration file or a directory of *.hcl files with -config.", path),
			}}
		}
	} else {
		names = []string{path}
		dir = filepath.Dir(abs)
	}

	var diags hcl.Diagnostics
	var files []*srcFile
	for _, n := range names {
		a := l.abs(n)
		src, err := readBounded(a, maxConfigFileSize)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read configuration file",
				Detail:   fmt.Sprintf("Cannot read %s: %s. Check that it exists and is readable.", n, describeFileError(err)),
			})
			continue
		}
		if cd := CheckSource(src, n); cd.HasErrors() {
			l.parser.AddFile(n, &hcl.File{Bytes: src})
			diags = append(diags, cd...)
			continue
		}
		f, pd := l.parser.ParseHCL(src, n)
		diags = append(diags, pd...)
		if f == nil || pd.HasErrors() {
			continue
		}
		files = append(files, &srcFile{name: n, abs: a, dir: filepath.Dir(a), file: f})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return l.decodeFiles(files, dir, diags)
}

// LoadSource decodes an in-memory configuration (serve -dev, tests). filename
// names it in diagnostics; dir is what relative paths (state.path, file())
// are resolved against.
func (l *Loader) LoadSource(filename string, src []byte, dir string) (*Config, hcl.Diagnostics) {
	l.parser = hclparse.NewParser()
	dir = l.abs(dir)
	if cd := CheckSource(src, filename); cd.HasErrors() {
		l.parser.AddFile(filename, &hcl.File{Bytes: src})
		return nil, cd
	}
	f, diags := l.parser.ParseHCL(src, filename)
	if f == nil || diags.HasErrors() {
		return nil, diags
	}
	return l.decodeFiles([]*srcFile{{name: filename, dir: dir, file: f}}, dir, diags)
}

// WriteDiagnostics writes diags in HCL's text form (severity, summary, file and
// line, the source line with the range marked, detail), using the sources of
// the most recent Load. width wraps detail text (0: no wrapping).
func (l *Loader) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, width uint, color bool) error {
	files := map[string]*hcl.File{}
	if l.parser != nil {
		files = l.parser.Files()
	}
	// Wrapping must not split a quoted example ("*/15 * * * *") across
	// lines: its spaces become no-break spaces, which the wrapper keeps
	// together, and are turned back into spaces on the way out.
	keep := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Detail = glueQuoted(c.Detail)
		keep[i] = &c
	}
	var b bytes.Buffer
	if err := hcl.NewDiagnosticTextWriter(&b, files, width, color).WriteDiagnostics(keep); err != nil {
		return fmt.Errorf("write diagnostics: %w", err)
	}
	if _, err := io.WriteString(w, strings.ReplaceAll(b.String(), nbsp, " ")); err != nil {
		return fmt.Errorf("write diagnostics: %w", err)
	}
	return nil
}

// nbsp is the no-break space glueQuoted puts in quoted text.
const nbsp = "\u00a0"

// glueQuoted replaces the spaces inside "..." in s with no-break spaces.
func glueQuoted(s string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && in && i+1 < len(s):
			b.WriteByte(c)
			i++
			b.WriteByte(s[i])
			continue
		case c == '"':
			in = !in
		case c == ' ' && in:
			b.WriteString(nbsp)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (l *Loader) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	base := l.BaseDir
	if base == "" {
		if wd, err := os.Getwd(); err == nil {
			base = wd
		}
	}
	return filepath.Join(base, p)
}

func (l *Loader) decodeFiles(files []*srcFile, dir string, diags hcl.Diagnostics) (*Config, hcl.Diagnostics) {
	d := newDecoder(l.lookupEnv, dir)
	for _, f := range files {
		if f.abs != "" {
			d.cfg.Files = append(d.cfg.Files, f.abs)
		}
	}
	d.decode(files)
	diags = append(diags, d.diags...)
	diags = sortDiagnostics(diags, files)
	scrub(diags, d.secrets)
	if diags.HasErrors() {
		return nil, diags
	}
	return d.cfg, diags
}

// sortDiagnostics orders diagnostics as a reader meets them: by file in load
// order, then by position; diagnostics without a location first.
func sortDiagnostics(diags hcl.Diagnostics, files []*srcFile) hcl.Diagnostics {
	order := map[string]int{}
	for i, f := range files {
		order[f.name] = i + 1
	}
	key := func(d *hcl.Diagnostic) (int, int) {
		if d.Subject == nil {
			return 0, 0
		}
		return order[d.Subject.Filename], d.Subject.Start.Byte
	}
	sort.SliceStable(diags, func(i, j int) bool {
		fi, bi := key(diags[i])
		fj, bj := key(diags[j])
		if fi != fj {
			return fi < fj
		}
		return bi < bj
	})
	return diags
}

// minScrubLen is the shortest value scrub replaces.
const minScrubLen = 8

// scrub replaces any value that env() or file() produced in a diagnostic's
// text. Diagnostics are written so that they never contain one; this is the
// last line of defence (for example an error text of a function).
func scrub(diags hcl.Diagnostics, secrets map[string]struct{}) {
	if len(secrets) == 0 {
		return
	}
	list := make([]string, 0, len(secrets))
	for s := range secrets {
		// Short values would mangle ordinary words ("tok" in "tokens");
		// real credentials are longer, and the checks never quote them.
		if len(strings.TrimSpace(s)) >= minScrubLen {
			list = append(list, s)
		}
	}
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	for _, d := range diags {
		for _, s := range list {
			d.Summary = strings.ReplaceAll(d.Summary, s, secret.Redacted)
			d.Detail = strings.ReplaceAll(d.Detail, s, secret.Redacted)
			if t := strings.TrimSpace(s); t != s {
				d.Summary = strings.ReplaceAll(d.Summary, t, secret.Redacted)
				d.Detail = strings.ReplaceAll(d.Detail, t, secret.Redacted)
			}
		}
	}
}
