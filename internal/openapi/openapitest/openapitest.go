// Package openapitest checks, in tests, that the API answers what its
// OpenAPI document (internal/openapi/openapi.json) says, with kin-openapi's
// validator: Check wraps the handler an API test serves, Transport the
// client a test calls a running daemon with. Each answer to a request under
// /v1/ must have a status the document lists for its operation (the
// "default" answer does not count: an undocumented status is a gap in the
// document), the headers it declares required, and a body that matches the
// schema of its status and content type. A mismatch fails the test, naming
// the request and what differs.
//
// Only tests import this package.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/finconnectd/finconnectd/internal/openapi"
)

// maxBody bounds the answer kept for validation.
const maxBody = 4 << 20

// Validator checks answers against the document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	server *url.URL // the document's first server: requests are matched as if sent there
}

// New loads and validates the document.
func New() (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Document())
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	if len(doc.Servers) == 0 {
		return nil, fmt.Errorf("openapi.json names no server")
	}
	server, err := url.Parse(doc.Servers[0].URL)
	if err != nil {
		return nil, fmt.Errorf("openapi.json server URL: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	return &Validator{doc: doc, router: router, server: server}, nil
}

// shared is the one Validator of a test binary: the document is embedded
// and never changes, and a Validator is only read once made.
var shared = sync.OnceValues(New)

func mustNew(t testing.TB) *Validator {
	t.Helper()
	v, err := shared()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Validate checks one answer to r. It returns nil for requests outside
// /v1/ and for requests no operation describes (the daemon's route test
// covers those).
func (v *Validator) Validate(r *http.Request, status int, header http.Header, body []byte) error {
	if !strings.HasPrefix(r.URL.Path, "/v1/") || r.Method == http.MethodHead {
		return nil
	}
	// Match the request as if it had been sent to the document's server.
	m := r.Clone(context.Background())
	u := *r.URL
	u.Scheme, u.Host = v.server.Scheme, v.server.Host
	m.URL, m.Host, m.Body = &u, v.server.Host, http.NoBody
	route, params, err := v.router.FindRoute(m)
	if err != nil {
		return nil
	}
	what := fmt.Sprintf("%s %s answered %d", r.Method, r.URL.RequestURI(), status)
	if route.Operation.Responses.Value(strconv.Itoa(status)) == nil {
		return fmt.Errorf("%s, a status openapi.json does not list for %s %s (body %.300s)", what, r.Method, route.Path, body)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: m, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options: &openapi3filter.Options{
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s, which does not match openapi.json: %w\nbody: %.600s", what, err, body)
	}
	return nil
}

// Check wraps h so that every answer it gives is validated; a mismatch
// fails t.
func Check(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	v := mustNew(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if err := v.Validate(r, rec.status, w.Header(), rec.body.Bytes()); err != nil {
			t.Errorf("openapi: %v", err)
		}
	})
}

// recorder passes an answer through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	if room := maxBody - r.body.Len(); room > 0 {
		r.body.Write(b[:min(len(b), room)])
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Transport wraps base (nil: http.DefaultTransport) so that every answer
// a client gets through it is validated; a mismatch fails t.
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	t.Helper()
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, v: mustNew(t), base: base}
}

type transport struct {
	t    testing.TB
	v    *Validator
	base http.RoundTripper
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tr.base.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.URL.Path, "/v1/") {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the answer to %s %s: %w", r.Method, r.URL, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := tr.v.Validate(r, resp.StatusCode, resp.Header, body); err != nil {
		tr.t.Errorf("openapi: %v", err)
	}
	return resp, nil
}
