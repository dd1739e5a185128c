package tstest

import (
	"os"
	"testing"
)

// ChromiumPath is where Debian's chromium package installs the browser the
// browser tests drive (headless, through chromedp or its command line).
const ChromiumPath = "/usr/bin/chromium"

// Chromium returns ChromiumPath, once it is there. Without it the test
// skips, except in CI (CI set), which must install it: there that is a
// failure.
func Chromium(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install the Debian package chromium: %v", ChromiumPath, err)
		}
		t.Skipf("%s is missing (apt-get install -y chromium); skipping the browser test", ChromiumPath)
	}
	return ChromiumPath
}
