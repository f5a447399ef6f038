# finconnectd — `make help` lists the targets.
GO       ?= go
BIN      := bin/finconnectd
PKG      := github.com/finconnectd/finconnectd
# Semantic versions: a build at a vX.Y.Z tag is X.Y.Z; any other build is
# what internal/version/VERSION says (bump it, then tag the commit vX.Y.Z).
TAG      := $(shell git describe --tags --exact-match --match 'v[0-9]*.[0-9]*.[0-9]*' 2>/dev/null)
VERSION  ?= $(or $(patsubst v%,%,$(TAG)),$(shell cat internal/version/VERSION))
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
# Go tests may run the built binary (crash tests); they find it here.
export FINCONNECTD_TEST_BINARY := $(CURDIR)/$(BIN)
# The console's browser tests (internal/console/browsertest) drive Debian's
# chromium. Under make they fail, not skip, when it is missing; a plain
# `go test` skips them. FINCONNECTD_CHROMIUM may name another Chromium.
export FINCONNECTD_BROWSER_TESTS := require

.PHONY: help build run test check fmt fmt-check vet bench bench-go bench-http fuzz clean browser-deps screenshots

help: ## List targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/finconnectd (static, version stamped)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/finconnectd

run: build ## Run the daemon on embedded defaults: emulator, dev config, temp store
	$(BIN) serve -dev

test: build vet fmt-check browser-deps ## vet, gofmt check, and every test with -race
	$(GO) test -race -count=1 -timeout 12m ./...

# Never fails itself: when chromium cannot be installed (not root, no
# apt-get, offline) it says so, and the browser tests then fail saying how
# to install it.
browser-deps: ## Install Debian's chromium for the console's browser tests, when missing
	@if [ -n "$$FINCONNECTD_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "browser-deps: chromium is missing and only root can install it: apt-get install chromium"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "browser-deps: chromium is missing and there is no apt-get; install Chromium and set FINCONNECTD_CHROMIUM"; exit 0; fi; \
	echo "browser-deps: installing Debian's chromium for the console's browser tests"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	{ $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
	echo "browser-deps: could not install chromium (offline?); the console's browser tests fail until it is installed"

screenshots: browser-deps ## Write docs/console/*.png: the console's main pages in headless Chromium
	$(GO) test -count=1 -run '^TestScreenshots$$' ./internal/console/browsertest -args -screenshots=$(CURDIR)/docs/console

check: test ## fmt check + vet + test

vet: ## go vet
	$(GO) vet ./...

fmt-check: ## Fail when a Go file is not gofmt-formatted
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt: ## gofmt Go files and finconnectd fmt the examples
	gofmt -w $$(git ls-files '*.go')
	$(GO) run ./cmd/finconnectd fmt examples

bench: bench-go bench-http ## Every benchmark: the Go benchmarks, then the HTTP bench with its baselines

bench-go: ## Go benchmarks (provider clients, reconcile, store, ingest, delivery, pay API), in process
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-http: build ## finconnectd measured from outside over HTTP against baselines in the same run (5-8 min)
	$(GO) build -o bin/finconnectd-bench ./cmd/finconnectd-bench
	bin/finconnectd-bench -bin $(BIN)

fuzz: ## Run each fuzz target for 20s
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$p || exit 1; \
	  done; \
	done

clean: ## Remove build output
	rm -rf bin
