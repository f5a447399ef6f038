// Package browsertest drives the operator console in a real browser:
// Debian's headless Chromium, through the DevTools protocol (chromedp),
// against a daemon started in-process on 127.0.0.1 with a SQLite store and
// a receiver in the test process. It signs in, searches, opens a payment's
// deliveries, replays a dead event until it is delivered, and checks the
// refusals (a read-only token, a form without its CSRF token).
//
// One Chromium serves the whole test binary; each test gets its own
// browser context (its own cookies). `make test` installs Chromium first
// (make browser-deps) and sets FINCONNECTD_BROWSER_TESTS=require, so a
// machine without it fails here with a message saying how to install it;
// a plain `go test` without Chromium skips these tests.
//
// `make screenshots` runs TestScreenshots with -screenshots to write the
// PNGs under docs/console/.
//
// The package has no non-test code.
package browsertest
