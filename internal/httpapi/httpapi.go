// Package httpapi holds what every handler on the private API listener
// shares: RFC 9457 problem+json errors, bearer-token authentication (constant
// time), bounded JSON decoding and JSON responses. It knows nothing about
// payments or events and must not.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/finconnectd/finconnectd/internal/secret"
)

// MaxBodyBytes bounds every API request body.
const MaxBodyBytes = 1 << 20

// FieldError names one bad field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem document. It is also an error, so handlers
// can return it.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// NewProblem builds a problem whose type is a stable URN derived from slug,
// e.g. NewProblem(409, "reference-in-use", "Reference already used", "...").
func NewProblem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: "urn:finconnectd:problem:" + slug, Title: title, Status: status, Detail: detail}
}

// ValidationProblem is a 422 with field errors.
func ValidationProblem(errs []FieldError) *Problem {
	p := NewProblem(http.StatusUnprocessableEntity, "validation", "Invalid request",
		"One or more fields are invalid; see errors.")
	p.Errors = errs
	return p
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteError writes err: a *Problem as itself, anything else as a 500 whose
// detail does not expose the internal error text but names the request ID
// under which AccessLog logs it.
func WriteError(w http.ResponseWriter, err error) {
	id := noteError(w, err)
	var p *Problem
	if errors.As(err, &p) {
		WriteProblem(w, p)
		return
	}
	detail := "The request could not be completed; see the daemon's log."
	if id != "" {
		detail = "The request could not be completed; the daemon's log has the error under request_id " + id + "."
	}
	WriteProblem(w, NewProblem(http.StatusInternalServerError, "internal", "Internal error", detail))
}

// WriteJSON writes v with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Router is where an API registers its routes: an *http.ServeMux, or
// Routes, which also records the patterns (the daemon's tests check each
// one against the OpenAPI document).
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// Routes registers on a mux and remembers the patterns registered.
type Routes struct {
	mux      *http.ServeMux
	patterns []string
}

// NewRoutes registers on mux.
func NewRoutes(mux *http.ServeMux) *Routes { return &Routes{mux: mux} }

// Handle registers handler for pattern on the mux.
func (r *Routes) Handle(pattern string, handler http.Handler) {
	r.mux.Handle(pattern, handler)
	r.patterns = append(r.patterns, pattern)
}

// Patterns returns the patterns registered so far, in order.
func (r *Routes) Patterns() []string { return slices.Clone(r.patterns) }

// HandlerFunc is an http handler that returns an error into WriteError.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h to http.Handler.
func Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notePattern(w, r.Pattern)
		if err := h(w, r); err != nil {
			WriteError(w, err)
		}
	})
}

// DecodeJSON reads a bounded JSON body into v, rejecting unknown fields and
// trailing data. Errors are problems naming what is wrong: every unknown or
// mistyped field of a struct, and v still gets the fields that are right
// (see decodeJSON).
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSON(w, r, v)
}

// Token is one accepted bearer token: the name callers are known by (in
// logs and audit records, never the value), the value, and its scopes.
type Token struct {
	Name   string
	Value  secret.Value
	Scopes []string
}

// Principal is who made a request: the name of the token it carried and
// that token's scopes.
type Principal struct {
	Name   string
	Scopes []string
}

// Has reports whether p was granted scope.
func (p Principal) Has(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal Authenticator.Require put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authenticator checks bearer tokens against a fixed set, in constant time.
// Tokens are hashed first so the comparison does not leak their lengths,
// and every token is compared, so the time does not tell which one matched.
type Authenticator struct {
	sums       [][32]byte
	principals []Principal
}

// NewAuthenticator accepts any of tokens (empty values are ignored). With no
// tokens every request is refused.
func NewAuthenticator(tokens []Token) *Authenticator {
	a := &Authenticator{}
	for _, t := range tokens {
		if !t.Value.IsZero() {
			a.sums = append(a.sums, sha256.Sum256([]byte(t.Value.Reveal())))
			a.principals = append(a.principals, Principal{Name: t.Name, Scopes: slices.Clone(t.Scopes)})
		}
	}
	return a
}

// Lookup resolves a raw token value to its principal.
func (a *Authenticator) Lookup(token string) (Principal, bool) {
	if token == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i, s := range a.sums {
		if subtle.ConstantTimeCompare(sum[:], s[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return a.principals[found], true
}

// Authenticate resolves an "Authorization: Bearer TOKEN" header value to
// the token's principal.
func (a *Authenticator) Authenticate(authorization string) (Principal, bool) {
	const prefix = "Bearer "
	if len(authorization) <= len(prefix) || !strings.EqualFold(authorization[:len(prefix)], prefix) {
		return Principal{}, false
	}
	return a.Lookup(authorization[len(prefix):])
}

// Valid reports whether the Authorization header carries an accepted token.
func (a *Authenticator) Valid(authorization string) bool {
	_, ok := a.Authenticate(authorization)
	return ok
}

// Require wraps next so that requests without an accepted token get 401;
// accepted ones reach next with their Principal in the context.
func (a *Authenticator) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.Authenticate(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="finconnectd"`)
			WriteProblem(w, NewProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
				"Send the value of one of the api block's tokens as 'Authorization: Bearer TOKEN'."))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// RequireScope wraps next so that only requests whose principal has scope
// reach it; others get 403 (401 when no principal authenticated them).
func RequireScope(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="finconnectd"`)
			WriteProblem(w, NewProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
				"Send the value of one of the api block's tokens as 'Authorization: Bearer TOKEN'."))
		case !p.Has(scope):
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="finconnectd", error="insufficient_scope", scope=%q`, scope))
			WriteProblem(w, NewProblem(http.StatusForbidden, "insufficient-scope", "Forbidden",
				fmt.Sprintf("The token %q does not have the scope %q this endpoint needs; add it to the token's scopes in the api block.", p.Name, scope)))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// Scoped is r with every handler registered behind RequireScope(scope),
// for mounting a whole API that needs one scope.
func Scoped(r Router, scope string) Router { return scopedRouter{r: r, scope: scope} }

type scopedRouter struct {
	r     Router
	scope string
}

func (s scopedRouter) Handle(pattern string, h http.Handler) {
	s.r.Handle(pattern, RequireScope(s.scope, h))
}
