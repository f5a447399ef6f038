// Package openapi holds the OpenAPI 3.1 description of everything the
// private listener serves under /v1, embedded in the binary and served at
// GET /v1/openapi.json. The document is kept by hand beside the handlers;
// the daemon's tests fail when a registered route is not described, and the
// API tests check every answer they get against it.
package openapi

import (
	_ "embed"
	"net/http"
)

//go:embed openapi.json
var document []byte

// Path is where the document is served.
const Path = "/v1/openapi.json"

// Document returns the OpenAPI document (JSON). Callers must not modify it.
func Document() []byte { return document }

// Handler serves the document. It needs no token: it describes the API,
// it does not give access to it.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(document)
	})
}
