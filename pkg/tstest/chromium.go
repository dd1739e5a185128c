package tstest

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser the
// browser tests drive (headless, through chromedp or its command line).
const ChromiumPath = "/usr/bin/chromium"

// Chromium returns ChromiumPath, once it is there. Without it the test
// skips, except in CI (CI set), which must install it: there that is a
// failure. Browser tests are not unit tests: -short (make check, the inner
// loop) skips them; make test, in CI too, runs them.
func Chromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("a browser test: -short (make check) leaves it to make test")
	}
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install the Debian package chromium: %v", ChromiumPath, err)
		}
		t.Skipf("%s is missing (apt-get install -y chromium); skipping the browser test", ChromiumPath)
	}
	return ChromiumPath
}

// Browser starts headless Chromium (ChromiumPath, through chromedp) for one
// test and returns its context; flags are more command-line switches
// (chromedp.Flag("lang", "zh-CN")). It is stopped when the test ends.
func Browser(t testing.TB, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.Env("HOME="+t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(opts, flags...)...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	return ctx
}
