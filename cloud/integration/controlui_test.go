package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// pageText is every text node of the page, including inside shadow roots
// (OpenClaw's Control UI is made of web components).
const pageText = `(() => {
  const out = [];
  const walk = (n) => {
    if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) {
      if (c.nodeType === 3) out.push(c.textContent.trim());
      else if (c.nodeType === 1 || c.nodeType === 11) walk(c);
    }
  };
  walk(document.documentElement);
  return out.filter(Boolean).join(" ");
})()`

// awaitControlUIConnected waits until the Control UI in the tab ctx says it
// is connected (and not disconnected) and returns the tab's location and
// text; an access token left in the address bar fails the test at once.
func awaitControlUIConnected(t *testing.T, ctx context.Context, timeout time.Duration) (loc, text string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var err error
		if loc, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
			t.Fatalf("read the location: %v", err)
		}
		if text, err = chromedp.Run(ctx, chromedp.Evaluate[string](pageText)); err != nil {
			t.Fatalf("read the page: %v", err)
		}
		if strings.Contains(loc, "?t=") || strings.Contains(loc, "&t=") {
			t.Fatalf("the access token stayed in the address bar: %s", loc)
		}
		if strings.Contains(text, "Connected") && !strings.Contains(text, "Disconnected") {
			return loc, text
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Control UI never said Connected; it shows: %.1500s", text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// browser starts headless Chromium (Debian's package) for one test.
func browser(t *testing.T) context.Context { return tstest.Browser(t) }

// controlUIConnected opens the owner's one-time link in a real browser and
// waits for OpenClaw's Control UI to say it is connected over its WebSocket
// through the router — no token typed, no manual pairing. Another user's
// browser, signed in to its own gateway, is refused on this one.
func controlUIConnected(t *testing.T, e *tenantEnv, owner string) {
	ctx := browser(t)
	link := e.c.accessLink(t, owner)
	start := time.Now()
	// The first Run starts the browser: no timeout on its context.
	if err := chromedp.Do(ctx, chromedp.Navigate(link.String())); err != nil {
		t.Fatalf("navigate to the access link: %v", err)
	}
	loc, text := awaitControlUIConnected(t, ctx, 2*time.Minute)
	t.Logf("Control UI connected %s after opening the link (%s)", time.Since(start).Round(time.Millisecond), loc)
	if strings.Contains(strings.ToLower(text), "pairing required") || strings.Contains(text, "token") && strings.Contains(text, "Gateway Token") {
		t.Errorf("the Control UI asks for pairing or a token: %.800s", text)
	}
	// The gateway saw the owner through the trusted proxy and approved the
	// browser's device on its own.
	var logs struct{ Lines []string }
	tstest.Await(t, "the gateway to log the trusted-proxy device approval", 20*time.Second, func() bool {
		code, out := e.c.user(owner, "GET", "/api/tenants/me/logs?tail=400", nil)
		if code != 200 || json.Unmarshal(out, &logs) != nil {
			return false
		}
		return strings.Contains(strings.Join(logs.Lines, "\n"), "auto-approved")
	})
}
