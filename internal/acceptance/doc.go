// Package acceptance holds acceptance tests that drive the built
// finconnectd binary exactly as an operator does: `finconnectd sandbox` as
// the providers, `plan`/`apply`/`state` against it, `serve -config DIR` and
// `serve -dev` as long-running processes, the pay API and the events API
// over loopback HTTP, signals (SIGHUP, SIGTERM, SIGINT), and httptest sinks
// in the test process that verify every delivery's Standard Webhooks
// signature. Each test proves the "Done when" of an issue end to end.
//
// The tests use $FINCONNECTD_TEST_BINARY (exported by `make test`, which
// builds bin/finconnectd first) or build the binary once for the package.
// They listen on 127.0.0.1 only, poll with deadlines instead of sleeping,
// and show the processes' output when they fail.
//
// This package has no non-test code and must not import anything from the
// daemon's internals beyond what an operator's own code could use: the
// signature check (internal/delivery), to forge notifications, the
// ClickPesa checksum function, and the API's published OpenAPI document,
// which every answer of the API calls is validated against
// (internal/openapi/openapitest).
package acceptance
