package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// QueryProblem is a 400 naming every bad query parameter: the one rule for
// query parameters of every list and read endpoint.
func QueryProblem(errs []FieldError) *Problem {
	names := make([]string, len(errs))
	for i, e := range errs {
		names[i] = e.Field
	}
	p := NewProblem(http.StatusBadRequest, "bad-query", "Invalid query parameter",
		"Check the query parameter(s): "+strings.Join(names, ", ")+".")
	p.Errors = errs
	return p
}

// decodeJSON reads a bounded JSON body into v, rejecting unknown fields and
// trailing data. When v is a struct, every unknown or mistyped field is
// reported (as a 422 with one FieldError each), not only the first, and
// the fields that are right are still decoded into v, so the caller can
// check them too and report everything at once.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return NewProblem(http.StatusRequestEntityTooLarge, "too-large", "Request body too large",
				fmt.Sprintf("The body exceeds %d bytes.", MaxBodyBytes))
		}
		return NewProblem(http.StatusBadRequest, "malformed", "Unreadable body", "The body could not be read.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return NewProblem(http.StatusBadRequest, "malformed", "Malformed JSON", "The body is not valid JSON: "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return NewProblem(http.StatusBadRequest, "malformed", "Malformed JSON", "The body has data after the JSON object.")
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return strictDecode(raw, v, "")
	}
	if first := firstByte(raw); first != '{' {
		var kind string
		switch {
		case first == '[':
			kind = "array"
		case first == '"':
			kind = "string"
		case first == 'n':
			kind = "null"
		case first == 't' || first == 'f':
			kind = "bool"
		default:
			kind = "number"
		}
		return NewProblem(http.StatusBadRequest, "malformed", "Malformed JSON", "The body must be a JSON object, not a JSON "+kind+".")
	}
	// A body whose every field is known and of the right type (any valid
	// request) decodes in one pass; only one with a bad field is taken
	// apart field by field to name them all.
	if strictDecode(raw, v, "") == nil {
		return nil
	}
	rv.Elem().SetZero() // what the failed pass decoded
	good, errs := checkFields(raw, rv.Elem().Type(), "")
	if err := strictDecode(good, v, ""); err != nil {
		return err // cannot happen: good holds the fields that decoded
	}
	if len(errs) > 0 {
		return ValidationProblem(errs)
	}
	return nil
}

// checkFields decodes the object raw field by field against struct type t
// and returns the object without the bad fields, and one FieldError per
// bad field (nested objects are checked the same way, prefix naming them).
func checkFields(raw json.RawMessage, t reflect.Type, prefix string) (json.RawMessage, []FieldError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return json.RawMessage("{}"), []FieldError{{Field: strings.TrimSuffix(prefix, "."), Message: "is not valid JSON"}}
	}
	var (
		errs []FieldError
		keep bytes.Buffer
	)
	keep.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			break
		}
		f, ok := fieldByJSONName(t, key)
		if !ok {
			errs = append(errs, FieldError{Field: prefix + key, Message: "is not a known field"})
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && firstByte(val) == '{' {
			var nested []FieldError
			val, nested = checkFields(val, ft, prefix+key+".")
			errs = append(errs, nested...)
		} else if err := strictDecode(val, reflect.New(f.Type).Interface(), prefix+key); err != nil {
			var p *Problem
			if errors.As(err, &p) {
				errs = append(errs, p.Errors...)
			}
			continue
		}
		if keep.Len() > 1 {
			keep.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		keep.Write(k)
		keep.WriteByte(':')
		keep.Write(val)
	}
	keep.WriteByte('}')
	return keep.Bytes(), errs
}

// strictDecode decodes raw into v rejecting unknown fields; a failure is a
// 422 naming field (or the field the decoder names).
func strictDecode(raw json.RawMessage, v any, field string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		name := field
		if ute.Field != "" {
			name = strings.Trim(field+"."+ute.Field, ".")
		}
		return ValidationProblem([]FieldError{{Field: name, Message: "has the wrong type; expected " + ute.Type.String()}})
	}
	if after, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name := strings.Trim(field+"."+strings.Trim(after, `"`), ".")
		return ValidationProblem([]FieldError{{Field: name, Message: "is not a known field"}})
	}
	return ValidationProblem([]FieldError{{Field: field, Message: "is not valid: " + err.Error()}})
}

// fieldByJSONName finds t's field that encoding/json would decode key into
// (its json name, else a case-insensitive match, as encoding/json does).
func fieldByJSONName(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold *reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
		if fold == nil && strings.EqualFold(name, key) {
			fold = &f
		}
	}
	if fold != nil {
		return *fold, true
	}
	return reflect.StructField{}, false
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
