package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// sensitiveMark marks cty values that came from env() or file().
type sensitiveMark struct{}

// sensitive is the mark values from env()/file() carry.
func sensitive() sensitiveMark { return sensitiveMark{} }

// isSensitive reports whether v, or anything inside it, is marked sensitive.
func isSensitive(v cty.Value) bool {
	if v == cty.NilVal {
		return false
	}
	_, pvm := v.UnmarkDeepWithPaths()
	for _, p := range pvm {
		if _, ok := p.Marks[sensitive()]; ok {
			return true
		}
	}
	return false
}

// errHiddenText replaces a function error whose arguments are sensitive: the
// underlying message may quote them.
const errHiddenText = "an argument comes from env() or file(), so the details of this error are hidden; check that value"

// functions returns the functions of the language for a file in dir.
// record is called with every value env() and file() produce, so the loader
// can scrub them from any diagnostic as a last line of defence.
func functions(dir string, lookupEnv func(string) (string, bool), record func(string)) map[string]function.Function {
	fs := map[string]function.Function{
		"env":  envFunc(lookupEnv, record),
		"file": fileFunc(dir, record),
	}
	std := map[string]function.Function{
		"abs":             stdlib.AbsoluteFunc,
		"ceil":            stdlib.CeilFunc,
		"chomp":           stdlib.ChompFunc,
		"chunklist":       stdlib.ChunklistFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"csvdecode":       stdlib.CSVDecodeFunc,
		"distinct":        stdlib.DistinctFunc,
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"floor":           stdlib.FloorFunc,
		"format":          stdlib.FormatFunc,
		"formatdate":      stdlib.FormatDateFunc,
		"formatlist":      stdlib.FormatListFunc,
		"indent":          stdlib.IndentFunc,
		"index":           stdlib.IndexFunc,
		"join":            stdlib.JoinFunc,
		"jsondecode":      stdlib.JSONDecodeFunc,
		"jsonencode":      stdlib.JSONEncodeFunc,
		"keys":            stdlib.KeysFunc,
		"length":          stdlib.LengthFunc,
		"log":             stdlib.LogFunc,
		"lookup":          stdlib.LookupFunc,
		"lower":           stdlib.LowerFunc,
		"max":             stdlib.MaxFunc,
		"merge":           stdlib.MergeFunc,
		"min":             stdlib.MinFunc,
		"parseint":        stdlib.ParseIntFunc,
		"pow":             stdlib.PowFunc,
		"range":           stdlib.RangeFunc,
		"regex":           stdlib.RegexFunc,
		"regexall":        stdlib.RegexAllFunc,
		"regex_replace":   stdlib.RegexReplaceFunc,
		"replace":         stdlib.ReplaceFunc,
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setproduct":      stdlib.SetProductFunc,
		"setsubtract":     stdlib.SetSubtractFunc,
		"setunion":        stdlib.SetUnionFunc,
		"signum":          stdlib.SignumFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"split":           stdlib.SplitFunc,
		"strlen":          stdlib.StrlenFunc,
		"strrev":          stdlib.ReverseFunc,
		"substr":          stdlib.SubstrFunc,
		"timeadd":         stdlib.TimeAddFunc,
		"title":           stdlib.TitleFunc,
		"tobool":          stdlib.MakeToFunc(cty.Bool),
		"tolist":          stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tonumber":        stdlib.MakeToFunc(cty.Number),
		"tostring":        stdlib.MakeToFunc(cty.String),
		"trim":            stdlib.TrimFunc,
		"trimprefix":      stdlib.TrimPrefixFunc,
		"trimspace":       stdlib.TrimSpaceFunc,
		"trimsuffix":      stdlib.TrimSuffixFunc,
		"upper":           stdlib.UpperFunc,
		"values":          stdlib.ValuesFunc,
		"zipmap":          stdlib.ZipmapFunc,
	}
	for name, f := range std {
		fs[name] = hideSensitiveErrors(f)
	}
	return fs
}

// hideSensitiveErrors wraps f so that, when any argument is sensitive, an
// error (whose text may quote the argument) is replaced by a neutral one and
// the result stays marked. Without sensitive arguments f behaves as before.
func hideSensitiveErrors(f function.Function) function.Function {
	params := f.Params()
	for i := range params {
		params[i].AllowMarked = true
	}
	varParam := f.VarParam()
	if varParam != nil {
		varParam.AllowMarked = true
	}
	unmarkAll := func(args []cty.Value) ([]cty.Value, bool) {
		out := make([]cty.Value, len(args))
		marked := false
		for i, a := range args {
			if isSensitive(a) {
				marked = true
			}
			out[i], _ = a.UnmarkDeep()
		}
		return out, marked
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    varParam,
		Type: func(args []cty.Value) (cty.Type, error) {
			plain, marked := unmarkAll(args)
			ty, err := f.ReturnTypeForValues(plain)
			if err != nil && marked {
				return cty.NilType, errors.New(errHiddenText)
			}
			return ty, err
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			plain, marked := unmarkAll(args)
			v, err := f.Call(plain)
			if err != nil {
				if marked {
					return cty.NilVal, errors.New(errHiddenText)
				}
				return cty.NilVal, err
			}
			if marked {
				v = v.Mark(sensitive())
			}
			return v, nil
		},
	})
}

// envFunc is env(NAME) / env(NAME, DEFAULT). The result is sensitive.
func envFunc(lookupEnv func(string) (string, bool), record func(string)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or DEFAULT when it is not set. The result is sensitive.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String, AllowMarked: true},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default, like env(\"NAME\", \"default\")")
			}
			name := args[0].AsString()
			if name == "" {
				return cty.NilVal, function.NewArgErrorf(0, "the variable name must not be empty")
			}
			if v, ok := lookupEnv(name); ok {
				record(v)
				return cty.StringVal(v).Mark(sensitive()), nil
			}
			if len(args) == 2 {
				d, _ := args[1].Unmark()
				if d.IsNull() {
					return cty.NilVal, function.NewArgErrorf(1, "the default must not be null")
				}
				record(d.AsString())
				return cty.StringVal(d.AsString()).Mark(sensitive()), nil
			}
			return cty.NilVal, fmt.Errorf("the environment variable %s is not set; set it, or give a default with env(%q, \"DEFAULT\")", name, name)
		},
	})
}

// fileFunc is file(PATH), relative to dir (the calling file's directory).
// The result is sensitive; files are bounded to maxFileSize.
func fileFunc(dir string, record func(string)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a file, relative to the configuration file that calls it. The result is sensitive.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String, AllowMarked: true}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			pv, pathMarks := args[0].Unmark()
			_, pathSensitive := pathMarks[sensitive()]
			p := pv.AsString()
			if p == "" {
				return cty.NilVal, function.NewArgErrorf(0, "the path must not be empty")
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := readBounded(p, maxFileSize)
			if err != nil {
				if pathSensitive {
					return cty.NilVal, errors.New("cannot read the file (its path comes from env() or file(), so it is not shown); check that it exists and is readable")
				}
				return cty.NilVal, fmt.Errorf("cannot read %s: %s; check that the file exists and is readable by finconnectd", pv.AsString(), describeFileError(err))
			}
			record(string(b))
			return cty.StringVal(string(b)).Mark(sensitive()), nil
		},
	})
}

// readBounded reads at most limit bytes of a regular file.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, errors.New("is a directory")
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("file too large (more than %d bytes)", limit)
	}
	return b, nil
}

func describeFileError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
