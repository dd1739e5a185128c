package api_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestDashboardBoxes: the Batches tab lists every box with its claim, in
// English and Chinese, and a reprint done from it shows the new code and
// label once: the code it shows claims the box, the old one no longer.
func TestDashboardBoxes(t *testing.T) {
	tstest.Chromium(t)
	c := servertest.New(t, servertest.WithSharedSecret())
	owned, free := c.AddBox("dash", 0), c.AddBox("dash", 1)
	teamA := newTeam(t, c, "alice", "team-a")
	if r := c.User(http.MethodPost, "/api/claims", "alice", map[string]any{"deviceId": owned.ID, "claimCode": owned.ClaimCode, "teamId": teamA}); r.Code != http.StatusCreated {
		t.Fatalf("claim: %d %s", r.Code, r.Body)
	}
	page := c.URL + "/#token=" + url.QueryEscape(servertest.AdminToken) + "&tab=batches"
	row := func(dom, id string) string {
		t.Helper()
		r := regexp.MustCompile(`(?s)<tr[^>]*data-testid="box-row"[^>]*data-device-id="` + id + `"[^>]*>.*?</tr>`).FindString(dom)
		if r == "" {
			t.Fatalf("no row for box %s; DOM:\n%s", id, dom)
		}
		return r
	}
	dom := dumpDOM(t, page+"&lang=en", "--lang=en-US", "--accept-lang=en-US")
	for _, want := range []string{`data-claimed="true"`, ">Claimed<", ">alice<", "team " + teamA, "dash #0", `data-testid="reset-box"`, `data-testid="reprint-box"`} {
		if r := row(dom, owned.ID); !strings.Contains(r, want) {
			t.Errorf("claimed box's row lacks %q:\n%s", want, r)
		}
	}
	if r := row(dom, free.ID); !strings.Contains(r, ">Unclaimed<") || !strings.Contains(r, `data-claimed="false"`) {
		t.Errorf("free box's row:\n%s", r)
	}
	dom = dumpDOM(t, page+"&lang=zh-CN", "--lang=en-US", "--accept-lang=en-US")
	if r := row(dom, owned.ID); !strings.Contains(r, ">已认领<") || !strings.Contains(r, ">重新打印标签<") {
		t.Errorf("claimed box's row in Chinese:\n%s", r)
	}

	// A reprint from the page.
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(tstest.ChromiumPath), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.Env("HOME="+t.TempDir()))...)
	defer cancel()
	ctx, cancel2 := chromedp.NewContext(actx)
	defer cancel2()
	tctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	defer cancel3()
	reprint := `button[data-testid="reprint-box"][data-device-id="` + free.ID + `"]`
	if err := chromedp.Do(tctx, chromedp.Navigate(page+"&lang=en"), chromedp.WaitVisible(chromedp.CSS(reprint)), chromedp.Click(chromedp.CSS(reprint)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")), chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(`#box-code-panel[data-device-id="`+free.ID+`"]`)), chromedp.WaitVisible(chromedp.CSS("#box-code-label"))); err != nil {
		t.Fatalf("reprint from the page: %v", err)
	}
	code, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("#box-code-value")))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`(function(){var i=document.getElementById('box-code-label');return i.complete&&i.naturalWidth>0&&document.getElementById('box-code-download').getAttribute('download')!==null})()`))
	if err != nil || !loaded {
		t.Fatalf("the label image is not shown with its download: %v %v", loaded, err)
	}
	if r := c.User(http.MethodPost, "/api/claims", "bob", map[string]any{"deviceId": free.ID, "claimCode": free.ClaimCode}); r.Code != http.StatusForbidden {
		t.Fatalf("the old code after the reprint: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/claims", "bob", map[string]any{"deviceId": free.ID, "claimCode": strings.TrimSpace(code)}); r.Code != http.StatusCreated {
		t.Fatalf("the code the page showed (%q): %d %s", code, r.Code, r.Body)
	}
}
