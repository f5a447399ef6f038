package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/finconnectd/finconnectd/internal/config"
)

// fmtArgs are fmt's parsed flags.
type fmtArgs struct {
	Check   bool
	Diff    bool
	NoColor bool
	Paths   []string
}

const fmtUsage = `Usage: finconnectd fmt [-check] [-diff] [PATH...]

Rewrite HCL configuration files in the canonical format (hclwrite). PATH is
a file or a directory (its *.hcl files, not recursive); the default is the
current directory; "-" formats standard input to standard output. The names
of files that changed are printed.

Exit status: 0 on success, 1 on an error (for example a syntax error), 3 with
-check when a file is not formatted.

Flags:
`

const fmtExamples = `
Examples:
  finconnectd fmt                      # format ./*.hcl in place
  finconnectd fmt -check examples      # CI: list files that need formatting
  finconnectd fmt -diff -check prod.hcl
  cat prod.hcl | finconnectd fmt -
`

// maxFmtFileSize bounds a file fmt reads.
const maxFmtFileSize = 4 << 20

func parseFmtArgs(args []string, stderr io.Writer) (fmtArgs, error) {
	var a fmtArgs
	fs := flag.NewFlagSet("fmt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&a.Check, "check", false, "do not write; exit 3 and list the files that are not formatted")
	fs.BoolVar(&a.Diff, "diff", false, "print the changes as a unified diff")
	fs.BoolVar(&a.NoColor, "no-color", false, "never colour diagnostics (NO_COLOR set to anything does the same)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), fmtUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), fmtExamples)
	}
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	a.Paths = fs.Args()
	return a, nil
}

// runFmt is `finconnectd fmt`.
func runFmt(_ context.Context, io IO, args []string) int {
	a, err := parseFmtArgs(args, io.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitError
	}
	color := colorOn(io) && !a.NoColor
	paths := a.Paths
	if len(paths) == 0 {
		paths = []string{"."}
	}
	f := formatter{io: io, args: a, color: color}
	for _, p := range paths {
		if p == "-" {
			f.stdin()
			continue
		}
		files, err := f.expand(p)
		if err != nil {
			fmt.Fprintf(io.Stderr, "finconnectd fmt: %v\n", err)
			f.failed = true
			continue
		}
		for _, file := range files {
			f.file(file)
		}
	}
	switch {
	case f.failed:
		return ExitError
	case a.Check && f.changed:
		return ExitFormat
	}
	return ExitOK
}

type formatter struct {
	io      IO
	args    fmtArgs
	color   bool
	failed  bool
	changed bool
}

// abs resolves p against the injected working directory.
func (f *formatter) abs(p string) string {
	if filepath.IsAbs(p) || f.io.Cwd == "" {
		return p
	}
	return filepath.Join(f.io.Cwd, p)
}

// expand turns a PATH argument into the files to format.
func (f *formatter) expand(p string) ([]string, error) {
	st, err := os.Stat(f.abs(p))
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", p, pathErr(err))
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(f.abs(p))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// format checks the syntax of src and returns its canonical form.
func (f *formatter) format(name string, src []byte) ([]byte, bool) {
	parser := hclparse.NewParser()
	diags := config.CheckSource(src, name)
	if diags.HasErrors() {
		parser.AddFile(name, &hcl.File{Bytes: src})
	} else {
		_, diags = parser.ParseHCL(src, name)
	}
	if diags.HasErrors() {
		_ = hcl.NewDiagnosticTextWriter(f.io.Stderr, parser.Files(), diagWidth, f.color).WriteDiagnostics(diags)
		f.failed = true
		return nil, false
	}
	return hclwrite.Format(src), true
}

func (f *formatter) stdin() {
	src, err := io.ReadAll(io.LimitReader(f.io.Stdin, maxFmtFileSize+1))
	if err != nil {
		fmt.Fprintf(f.io.Stderr, "finconnectd fmt: read standard input: %v\n", err)
		f.failed = true
		return
	}
	if len(src) > maxFmtFileSize {
		fmt.Fprintf(f.io.Stderr, "finconnectd fmt: standard input is larger than %d bytes\n", maxFmtFileSize)
		f.failed = true
		return
	}
	out, ok := f.format("<stdin>", src)
	if !ok {
		return
	}
	if !bytes.Equal(out, src) {
		f.changed = true
	}
	switch {
	case f.args.Diff:
		_, _ = io.WriteString(f.io.Stdout, unifiedDiff("<stdin>", "<stdin>", string(src), string(out)))
	case !f.args.Check:
		_, _ = f.io.Stdout.Write(out)
	}
}

func (f *formatter) file(name string) {
	path := f.abs(name)
	src, err := readFileBounded(path, maxFmtFileSize)
	if err != nil {
		fmt.Fprintf(f.io.Stderr, "finconnectd fmt: %s: %v\n", name, err)
		f.failed = true
		return
	}
	out, ok := f.format(name, src)
	if !ok || bytes.Equal(out, src) {
		return
	}
	f.changed = true
	fmt.Fprintln(f.io.Stdout, name)
	if f.args.Diff {
		_, _ = io.WriteString(f.io.Stdout, unifiedDiff(name, name, string(src), string(out)))
	}
	if f.args.Check {
		return
	}
	if err := writeFileAtomic(path, out); err != nil {
		fmt.Fprintf(f.io.Stderr, "finconnectd fmt: %v\n", err)
		f.failed = true
	}
}

func readFileBounded(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open: %w", pathErr(err))
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// writeFileAtomic replaces path with data: temp file in the same directory,
// fsync, keep the mode, rename, fsync the directory.
func writeFileAtomic(path string, data []byte) (err error) {
	// Replace the file a symlink points at, not the link.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// pathErr drops the path from an *os.PathError (the caller names the file).
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ---- unified diff ----

// unifiedDiff renders the change from old to new as a unified diff with
// three lines of context; "" when they are equal.
func unifiedDiff(oldName, newName, old, new string) string {
	if old == new {
		return ""
	}
	return udiff.Unified(oldName, newName, old, new)
}
