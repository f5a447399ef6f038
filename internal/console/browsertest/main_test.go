package browsertest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	// requireEnv set to "require" (make test does) turns a missing
	// Chromium into a failure instead of a skip.
	requireEnv = "FINCONNECTD_BROWSER_TESTS"
	// chromiumEnv names the Chromium binary to drive (default: chromium on
	// $PATH, as Debian's package installs it).
	chromiumEnv = "FINCONNECTD_CHROMIUM"

	// startTimeout bounds Chromium's start; actionTimeout one sequence of
	// browser actions. Both are generous: the machine may be loaded.
	startTimeout  = 2 * time.Minute
	actionTimeout = 90 * time.Second
)

var screenshotDir = flag.String("screenshots", "", "TestScreenshots writes PNGs of the console's main pages into this directory")

// browser is the test binary's one Chromium. TestMain sets it before any
// test runs and never changes it afterwards; when Chromium is missing (and
// not required) it stays nil and missing says why.
var browser struct {
	ctx     context.Context
	missing string
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	path, err := findChromium()
	if err != nil {
		msg := fmt.Sprintf("the console's browser tests need Chromium: %v. "+
			"Install Debian's package with `make browser-deps` (as root: apt-get install chromium), "+
			"or name a Chromium binary in $%s.", err, chromiumEnv)
		if os.Getenv(requireEnv) == "require" {
			fmt.Fprintf(os.Stderr, "FAIL: %s\n($%s=require: make test does not let these tests skip.)\n", msg, requireEnv)
			return 1
		}
		browser.missing = msg
		return m.Run()
	}
	ctx, stop, err := startChromium(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start %s: %v\n", path, err)
		return 1
	}
	defer stop()
	browser.ctx = ctx
	return m.Run()
}

func findChromium() (string, error) {
	if p := os.Getenv(chromiumEnv); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("$%s names %s: %w", chromiumEnv, p, err)
		}
		return found, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("there is no chromium on $PATH")
}

// startChromium starts headless Chromium and returns the browser's
// context; stop ends it.
func startChromium(path string) (context.Context, func(), error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("hide-scrollbars", true),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to start its sandbox as root (CI runs as root).
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	stop := func() { cancelBrowser(); cancelAlloc() }
	// The first Run starts the browser and ties it to bctx, so it must not
	// get a deadline of its own: the wait is bounded here instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err := <-started:
		if err != nil {
			stop()
			return nil, nil, err
		}
	case <-time.After(startTimeout):
		stop()
		return nil, nil, fmt.Errorf("chromium did not answer within %s", startTimeout)
	}
	return bctx, stop, nil
}

// needBrowser skips the test when Chromium is missing and not required.
func needBrowser(t *testing.T) {
	t.Helper()
	if browser.ctx == nil {
		t.Skip(browser.missing)
	}
}

// newTab opens a tab in a browser context of its own (its own cookies),
// closed when the test ends. Without Chromium (and not required) the test
// is skipped.
func newTab(t *testing.T) context.Context {
	t.Helper()
	needBrowser(t)
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser tab: %v", err)
	}
	return ctx
}

// do runs browser actions, bounded by actionTimeout.
func do(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one browser action that answers a value, bounded by
// actionTimeout.
func get[T any](t *testing.T, tab context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// script runs JavaScript in the page, as a person at the browser's
// developer tools could.
func script(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("(() => {"+expr+"; return true })()")(ctx, t)
		return err
	})
}
