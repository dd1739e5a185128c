package api_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// signUpIn signs a new email account up in a new browser.
func signUpIn(t *testing.T, base, name, email string) *servertest.Page {
	p := servertest.NewPage(t, "en-US")
	p.Navigate(base + "/console#/signup")
	p.Type(`[data-testid="signup-name"]`, name)
	p.Type(`[data-testid="signup-email"]`, email)
	p.Type(`[data-testid="signup-password"]`, "a long console pass phrase of "+name)
	p.Click(`[data-testid="signup-submit"]`)
	p.Wait(`body[data-view="instances"]`)
	return p
}

// fetchStatus is the status of a same-origin fetch the page makes with its
// session (and the CSRF token for a POST).
func fetchStatus(p *servertest.Page, method, path string) int {
	p.T.Helper()
	js := fmt.Sprintf(`fetch('/api/me').then(r => r.json()).then(me => fetch(%q, {method: %q, headers: {'X-CSRF-Token': me.csrfToken || '', 'Content-Type': 'application/json'}, body: %q === 'GET' ? undefined : '{}'})).then(r => r.status)`, path, method, method)
	return int(servertest.Get(p, "fetch "+path, chromedp.Evaluate[float64](js, chromedp.EvalAwaitPromise)))
}

// TestConsoleTeams: the owner makes a team, an instance in it and an
// invite link; a second user opens the link, joins and opens the
// instance (but may not delete it); a third user sees nothing of it.
func TestConsoleTeams(t *testing.T) {
	c, idp, ag := consoleCloud(t)
	ag.AutoRun()
	alice := servertest.NewPage(t, "en-US")
	alice.Navigate(c.URL + "/console")
	idp.QueueUser(&mockoidc.MockUser{Subject: "alice-teams", Email: "alice@example.com", EmailVerified: true})
	alice.Click(`[data-testid="provider-oidc"]`)
	alice.Wait(`body[data-view="instances"]`)
	alice.Click(`[data-testid="nav-teams"]`)
	alice.Type(`[data-testid="team-name"]`, "Acme")
	alice.Click(`[data-testid="team-create"]`)
	alice.Wait(`[data-testid="team"][data-personal="false"] [data-testid="invite-create"]`)
	alice.Click(`[data-testid="team"][data-personal="false"] [data-testid="invite-create"]`)
	alice.Wait(`[data-testid="invite-link"]`)
	link := servertest.Get(alice, "read the invite link", chromedp.Evaluate[string](`document.querySelector('[data-testid="invite-link"]').value`))
	if !strings.Contains(link, "/console#/invite/") {
		t.Fatalf("invite link = %q", link)
	}
	alice.Wait(`[data-testid="invite"]`)

	alice.Click(`[data-testid="nav-instances"]`)
	alice.Click(`[data-testid="create-open"]`)
	alice.Wait(`[data-testid="create-team"]`)
	teamID := servertest.Get(alice, "the team's id", chromedp.Evaluate[string](`[...document.querySelectorAll('[data-testid="create-team"] option')].find(o => o.textContent === 'Acme').value`))
	alice.Choose(`[data-testid="create-team"]`, teamID)
	alice.Type(`[data-testid="create-name"]`, "Team claw")
	alice.Click(`[data-testid="create-submit"]`)
	alice.Wait(`[data-testid="instance"][data-status="running"]`)
	if s := alice.Text(`[data-testid="instance"] [data-testid="team"]`); s != "Acme" {
		t.Errorf("the card's team = %q", s)
	}
	id := alice.Attr(`[data-testid="instance"]`, "data-id")

	bob := signUpIn(t, c.URL, "Bob", "bob@example.com")
	u := link[strings.Index(link, "/console"):]
	bob.Navigate(c.URL + u)
	bob.Click(`[data-testid="invite-accept"]`)
	bob.Wait(`[data-testid="instance"][data-status="running"]`)
	if got := bob.Attr(`[data-testid="instance"]`, "data-id"); got != id {
		t.Fatalf("bob sees %s, want %s", got, id)
	}
	bob.Wait(`[data-testid="instance"] [data-testid="open"]`)
	var present bool
	present = servertest.Get(bob, "a delete button", chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="instance"] [data-testid="delete"]')`))
	if present {
		t.Errorf("a member is offered Delete")
	}
	newTab := chromedp.WaitNewTarget(bob.Ctx, func(info *target.Info) bool { return strings.Contains(info.URL, ".localhost") })
	bob.Click(`[data-testid="instance"] [data-testid="open"]`)
	select {
	case <-newTab:
	case <-time.After(20 * time.Second):
		t.Fatal("Open made no new tab for the member")
	}
	if code := fetchStatus(bob, http.MethodDelete, "/api/teams/"+teamID+"/tenants/"+id); code != http.StatusForbidden {
		t.Errorf("a member's delete: %d, want 403", code)
	}

	carol := signUpIn(t, c.URL, "Carol", "carol@example.com")
	carol.Wait(`[data-testid="instances-empty"]`)
	if code := fetchStatus(carol, http.MethodPost, "/api/teams/"+teamID+"/tenants/"+id+"/open"); code != http.StatusForbidden && code != http.StatusNotFound {
		t.Errorf("a non-member's open: %d, want 403 or 404", code)
	}
	// The link is single-use: Carol cannot join with it.
	carol.Navigate(c.URL + u)
	carol.Click(`[data-testid="invite-accept"]`)
	carol.Wait(`#invite-error`)
}

// TestConsoleScreenshots drives Chromium over every console page in en and
// zh-CN, audits each for accessibility (labels, names, the tab order, the
// keyboard's focus shown, text contrast), writes PNGs (to
// $CLAWFLEET_SCREENSHOTS when set: make screenshots writes
// docs/screenshots), and logs each page's load time.
func TestConsoleScreenshots(t *testing.T) {
	dir := os.Getenv("CLAWFLEET_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, idp, ag := consoleCloud(t)
	ag.AutoRun()
	ag.SetLogs(
		`{"0":"{\"subsystem\":\"gateway\"}","1":"listening on ws://0.0.0.0:18789 (PID 41)","_meta":{"logLevelName":"INFO","date":"2026-12-03T10:00:00.000Z","name":"{\"subsystem\":\"gateway\"}"}}`,
		`{"0":"{\"subsystem\":\"gateway/auth\"}","1":"trusted-proxy user alice@example.com: device auto-approved","_meta":{"logLevelName":"INFO","date":"2026-12-03T10:00:02.000Z","name":"{\"subsystem\":\"gateway/auth\"}"}}`,
		`{"0":"model provider not configured; open Settings to add one","_meta":{"logLevelName":"WARN","date":"2026-12-03T10:00:03.000Z"}}`,
		`{"0":"heartbeat ok","_meta":{"logLevelName":"DEBUG","date":"2026-12-03T10:00:05.000Z"}}`)
	shots := 0
	for _, lang := range []string{"en", "zh-CN"} {
		p := servertest.NewPage(t, lang)
		shoot := func(name, ready string) {
			t.Helper()
			p.Wait(ready)
			p.Poll("fonts", `document.fonts.status === 'loaded'`)
			png := servertest.Get(p, "screenshot "+name, chromedp.FullScreenshot(100))
			if len(png) < 1000 || string(png[1:4]) != "PNG" {
				t.Fatalf("screenshot %s: %d bytes", name, len(png))
			}
			f := filepath.Join(dir, "console-"+name+"-"+lang+".png")
			if err := os.WriteFile(f, png, 0o644); err != nil {
				t.Fatal(err)
			}
			shots++
			// Every page, in both languages, as a user reaches it: labels,
			// names, tab order and contrast (servertest.Audit), and the
			// keyboard's focus shown wherever Tab takes it.
			for _, problem := range servertest.Audit(p) {
				t.Errorf("%s (%s): %s", name, lang, problem)
			}
			// Tab goes from control to control, each showing its focus,
			// until the page's last one hands the focus back to the
			// browser (the body).
			for i, f := range servertest.Tab(p, 100) {
				if f.Where == "body" && i == 0 {
					t.Errorf("%s (%s): Tab reaches nothing on the page", name, lang)
				}
				if f.Where == "body" {
					break
				}
				if !f.Shown {
					t.Errorf("%s (%s): Tab %d focuses %s and does not show it", name, lang, i+1, f.Where)
				}
			}
			p.Eval("blur", `document.activeElement && document.activeElement.blur()`)
		}
		// load opens path afresh and logs how long the page took: the
		// server's answer, the document ready, and the console drawn (its
		// data from the API included).
		load := func(path, drawn string) {
			t.Helper()
			p.Navigate("about:blank")
			p.Navigate(c.URL + path)
			p.Wait(drawn)
			ms := servertest.Get(p, "load time", chromedp.Evaluate[string](`(() => { const e = performance.getEntriesByType('navigation')[0];
			  return [e.responseEnd - e.requestStart, e.domContentLoadedEventEnd, e.loadEventEnd, performance.now()].map(Math.round).join(' / '); })()`))
			t.Logf("%s %s: response / DOMContentLoaded / load / drawn: %s ms", lang, path, ms)
		}
		p.Navigate(c.URL + "/console")
		p.Eval("language", `localStorage.setItem('clawfleet.console.lang', '`+lang+`')`)
		load("/console#/signin", `[data-testid="signin-form"]`)
		load("/console#/signin", `[data-testid="signin-form"]`)
		shoot("signin", `[data-testid="signin-form"]`)
		p.Navigate(c.URL + "/console#/signup")
		shoot("signup", `[data-testid="signup-form"]`)
		p.Navigate(c.URL + "/console#/reset")
		shoot("reset", `[data-testid="reset-form"]`)
		idp.QueueUser(&mockoidc.MockUser{Subject: "shots-" + lang, Email: "alice-" + strings.ToLower(lang) + "@example.com", EmailVerified: true})
		p.Navigate(c.URL + "/console#/signin")
		p.Click(`[data-testid="provider-oidc"]`)
		shoot("instances-empty", `[data-testid="instances-empty"]`)
		p.Click(`[data-testid="create-open"]`)
		shoot("create", `[data-testid="create-form"]`)
		p.Type(`[data-testid="create-name"]`, "Alice's claw")
		p.Click(`[data-testid="create-submit"]`)
		p.Wait(`[data-testid="instance"][data-status="running"]`)
		load("/console#/", `[data-testid="instance"][data-status="running"]`)
		shoot("instances", `[data-testid="instance"][data-status="running"]`)
		p.Click(`[data-testid="instance"] [data-testid="logs"]`)
		shoot("logs", `tr[data-testid="log-line"][data-level="debug"]`)
		p.Navigate(c.URL + "/console#/teams")
		p.Type(`[data-testid="team-name"]`, "Acme")
		p.Click(`[data-testid="team-create"]`)
		p.Click(`[data-testid="team"][data-personal="false"] [data-testid="invite-create"]`)
		shoot("teams", `[data-testid="invite-link"]`)
		load("/console#/account", `[data-testid="session"]`)
		shoot("account", `[data-testid="session"]`)
		b := c.AddBox("shots", len(lang))
		connectBox(t, c, b).AutoRun()
		p.Navigate(c.URL + "/console#/boxes")
		p.Type(`[data-testid="claim-device"]`, b.ID)
		p.Type(`[data-testid="claim-code"]`, b.ClaimCode)
		p.Click(`[data-testid="claim-submit"]`)
		p.Wait(`[data-testid="box"] [data-testid="box-instance"] [data-status="running"]`)
		load("/console#/boxes", `[data-testid="box"] [data-testid="box-instance"] [data-status="running"]`)
		shoot("boxes", `[data-testid="box"] [data-testid="box-instance"] [data-status="running"]`)
		p.Navigate(c.URL + "/console#/")
		p.Click(`[data-testid="instance"] [data-testid="delete"]`)
		shoot("delete", `[data-testid="delete-dialog"]`)
		// The admin area, for a platform admin.
		email := "alice-" + strings.ToLower(lang) + "@example.com"
		if r := c.Admin(http.MethodPatch, "/api/admin/users/"+userID(t, c, email), map[string]any{"platformAdmin": true}); r.Code != http.StatusOK {
			t.Fatalf("make %s an admin: %d %s", email, r.Code, r.Body)
		}
		p.Navigate("about:blank")
		p.Navigate(c.URL + "/console#/admin")
		p.Click(`[data-testid="nav-admin"]`)
		shoot("admin-users", `[data-testid="admin-users"] tr[data-testid="admin-user"]`)
	}
	if shots != 24 {
		t.Errorf("%d screenshots, want 24", shots)
	}
}

// TestConsoleReturnTo: a gateway opened without a session goes through
// the router's /open/<slug> to the console's sign-in and, once signed in,
// on into the gateway.
func TestConsoleReturnTo(t *testing.T) {
	c, _, ag := consoleCloud(t)
	ag.AutoRun()
	p := signUpIn(t, c.URL, "Dana", "dana@example.com")
	p.Click(`[data-testid="create-open"]`)
	p.Type(`[data-testid="create-name"]`, "Dana claw")
	p.Click(`[data-testid="create-submit"]`)
	p.Wait(`[data-testid="instance"][data-status="running"]`)
	slug := strings.SplitN(strings.TrimPrefix(p.Text(`[data-testid="instance"] [data-testid="url"]`), "http://"), ".", 2)[0]
	p.Click(`[data-testid="signout-button"]`)
	p.Wait(`[data-testid="signin-form"]`)

	p.Navigate(c.URL + "/open/" + slug)
	p.Wait(`[data-testid="signin-form"]`)
	if loc := servertest.Get(p, "location", chromedp.Location()); !strings.Contains(loc, "/console?return_to=%2Fopen%2F"+slug) {
		t.Fatalf("not sent to the console's sign-in: %s", loc)
	}
	p.Type(`[data-testid="signin-email"]`, "dana@example.com")
	p.Type(`[data-testid="signin-password"]`, "a long console pass phrase of Dana")
	p.Click(`[data-testid="signin-submit"]`)
	var loc string
	tstest.Await(t, "the browser at the gateway's address", 15*time.Second, func() bool {
		loc, _ = chromedp.Run(p.Ctx, chromedp.Location())
		return strings.HasPrefix(loc, "http://"+slug+".localhost")
	})
}
