package integration

import (
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/cloud/login/logintest"
	"github.com/clawfleet/clawfleet/cloud/mail/mailtest"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// consoleEnv is the real cloud with the console's ways in (mockoidc as its
// OIDC provider; email accounts, their links mailed to a loopback SMTP
// server) and one real agent on the process runtime running gateway.
type consoleEnv struct {
	c    *cloud
	a    *agent
	idp  *logintest.OIDC
	mail *mailtest.Server
}

func newConsoleEnv(t *testing.T, gateway string, cpuMillis int) *consoleEnv {
	t.Helper()
	tstest.Chromium(t)
	idp := logintest.NewOIDC(t)
	oc := idp.Config("oidc")
	// A plain relay on loopback (CLAWFLEET_SMTP_TLS=none is allowed there).
	ms := mailtest.NewServer(t, func(s *mailtest.Server) { s.StartTLS, s.User = false, "" })
	port := freePort(t)
	c := &cloud{t: t, dataDir: t.TempDir(), httpPort: port, mqttPort: freePort(t), wgPort: freePort(t), adminToken: "cfa_integration_admin_token_0123456789",
		extraEnv: []string{
			"CLAWFLEET_PUBLIC_URL=http://127.0.0.1:" + strconv.Itoa(port),
			"CLAWFLEET_OIDC_ISSUER=" + oc.Issuer, "CLAWFLEET_OIDC_CLIENT_ID=" + oc.ClientID, "CLAWFLEET_OIDC_CLIENT_SECRET=" + oc.ClientSecret,
			"CLAWFLEET_SMTP_HOST=127.0.0.1", "CLAWFLEET_SMTP_PORT=" + strconv.Itoa(ms.Port()), "CLAWFLEET_SMTP_TLS=none",
			"CLAWFLEET_SMTP_FROM=clawfleet <noreply@example.com>",
			"CLAWFLEET_PLANS_FILE=" + writePlans(t, "unused", cpuMillis),
			"CLAWFLEET_TENANT_PORT_BASE=" + fmt.Sprint(tstest.TenantPortBase(t)),
		}}
	c.start()
	token, _ := c.enrollToken(1, "1h")
	a := c.enrollAgent(token, "console-host")
	a.start("--runtime", "process", "--openclaw-bin", gateway)
	tstest.Await(t, "the host online", 30*time.Second, func() bool { return c.hosts()[a.deviceID].Status == "online" })
	return &consoleEnv{c: c, a: a, idp: idp, mail: ms}
}

// signInOIDC opens the console in a browser of its own and signs in as the
// given person through the provider's authorization-code flow; it returns
// the page once My OpenClaw receives pushed status.
func (e *consoleEnv) signInOIDC(t *testing.T, subject, email string) *servertest.Page {
	t.Helper()
	p := servertest.NewPage(t, "en-US")
	p.Navigate(e.c.url("/console"))
	e.idp.QueueUser(&mockoidc.MockUser{Subject: subject, Email: email, EmailVerified: true})
	p.Click(`[data-testid="provider-oidc"]`)
	p.Wait(`[data-testid="live"][data-live="true"]`)
	return p
}

// createInstance creates an instance from the console's form (in team,
// when not ""), waits until the pushed status shows it running and returns
// its id.
func createInstance(t *testing.T, p *servertest.Page, name, team string, ready time.Duration) string {
	t.Helper()
	p.Click(`[data-testid="create-open"]`)
	p.Type(`[data-testid="create-name"]`, name)
	if team != "" {
		p.Choose(`[data-testid="create-team"]`, team)
	}
	p.Click(`[data-testid="create-submit"]`)
	p.Wait(`[data-testid="instance"]`)
	id := p.Attr(`[data-testid="instance"]`, "data-id")
	start := time.Now()
	p.WaitFor(`[data-testid="instance"][data-status="running"]`, ready)
	t.Logf("tenant %s running %s after the console showed it", id, time.Since(start).Round(time.Millisecond))
	return id
}

// openInNewTab clicks the running instance's Open and returns the new tab
// (the gateway, through the router).
func openInNewTab(t *testing.T, p *servertest.Page) *servertest.Page {
	t.Helper()
	newTab := chromedp.WaitNewTarget(p.Ctx, func(info *target.Info) bool { return strings.Contains(info.URL, ".localhost") })
	p.Click(`[data-testid="instance"][data-status="running"] [data-testid="open"]`)
	select {
	case tid := <-newTab:
		tctx, cancel := chromedp.NewContext(p.Ctx, chromedp.WithTargetID(tid))
		t.Cleanup(cancel)
		return &servertest.Page{T: t, Ctx: tctx}
	case <-time.After(30 * time.Second):
		t.Fatal("Open made no new tab to the gateway")
		return nil
	}
}

// deleteInstance deletes the one instance from its card, confirming with
// its slug, and waits until its gateway process is gone.
func deleteInstance(t *testing.T, p *servertest.Page, id string) {
	t.Helper()
	slug := strings.SplitN(strings.TrimPrefix(p.Text(`[data-testid="instance"] [data-testid="url"]`), "http://"), ".", 2)[0]
	p.Click(`[data-testid="instance"] [data-testid="delete"]`)
	p.Type(`[data-testid="delete-confirm-input"]`, slug)
	p.Click(`[data-testid="delete-confirm"]`)
	p.Wait(`[data-testid="instances-empty"]`)
	tstest.Await(t, "the gateway process gone", 30*time.Second, func() bool { return processGone(id) })
}

// fetchStatus sends a request from the page as the console would (its
// session cookie and CSRF token) and returns the answer's status.
func fetchStatus(p *servertest.Page, method, path string) int {
	p.T.Helper()
	js := fmt.Sprintf(`fetch('/api/me').then(r => r.json()).then(me => fetch(%q, {method: %q, headers: {'X-CSRF-Token': me.csrfToken}})).then(r => r.status)`, path, method)
	return servertest.Get(p, method+" "+path+" from the page", chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
}

// TestConsoleEndToEnd is a team's journey in Chromium against the real
// cloud and agent and the real OpenClaw gateway (one start of it): user A
// signs in through mockoidc's authorization-code flow, makes a team and an
// instance in it, sees it reach running by the pushed status, opens it
// (OpenClaw's Control UI says Connected, through the router and the
// tunnel) and reads its log; A invites B, who signs in, joins, opens it
// too and may not delete it; C, signed in but no member, is refused at the
// subdomain; A deletes it.
func TestConsoleEndToEnd(t *testing.T) {
	ocBin := runtimetest.RealOpenClaw(t, "CLAWFLEET_OPENCLAW_BIN")
	// The real gateway boots slowly when throttled.
	e := newConsoleEnv(t, ocBin, 1000)

	alice := e.signInOIDC(t, "e2e-alice", "alice@example.com")
	alice.Wait(`[data-testid="instances-empty"]`)
	// A personal team is its user's alone: to share, make a team.
	alice.Click(`#nav a[data-route="teams"]`)
	alice.Type(`[data-testid="team-name"]`, "Crew")
	alice.Click(`[data-testid="team-create"]`)
	crew := `[data-testid="team"][data-personal="false"]`
	teamID := alice.Attr(crew, "data-id")
	alice.Click(`#nav a[data-route="instances"]`)
	alice.Wait(`[data-testid="live"][data-live="true"]`)
	id := createInstance(t, alice, "Crew claw", teamID, 3*time.Minute)
	if got := alice.Text(`[data-testid="instance"] [data-testid="team"]`); got != "Crew" {
		t.Fatalf("the card's team = %q, want Crew", got)
	}
	address := alice.Attr(`[data-testid="instance"] [data-testid="url"]`, "href")

	// Open: the new tab is OpenClaw's Control UI, connected over its
	// WebSocket as the team's gateway user, no token typed, no pairing.
	tab := openInNewTab(t, alice)
	start := time.Now()
	loc, text := awaitControlUIConnected(t, tab.Ctx, 2*time.Minute)
	t.Logf("A's Control UI connected %s after Open (%s)", time.Since(start).Round(time.Millisecond), loc)
	if strings.Contains(strings.ToLower(text), "pairing required") {
		t.Errorf("the Control UI asks for pairing: %.800s", text)
	}

	// The log, read in the console: the gateway approved A's browser.
	alice.Click(`[data-testid="instance"] [data-testid="logs"]`)
	alice.WaitFor(`tr[data-testid="log-line"]`, 30*time.Second)
	alice.Poll("the gateway's device approval in the log", `document.querySelector('[data-testid="log-table"]').innerText.includes('auto-approved')`)
	// OpenClaw's JSON lines (its log file) read as time, level and
	// message; its console output (captured stdout) as time, [subsystem]
	// and message; neither shown raw.
	rows := servertest.Get(alice, "read the log rows", chromedp.Evaluate[[]map[string]string](`[...document.querySelectorAll('tr[data-testid="log-line"]')].map(r => ({level: r.dataset.level, source: r.dataset.source || '', time: r.cells[0].innerText, msg: r.cells[2].innerText}))`))
	stdoutRead := 0
	for _, r := range rows {
		if strings.HasPrefix(r["msg"], "{") || strings.HasPrefix(r["msg"], "stdout|") {
			t.Errorf("a log line shown raw: %v", r)
		}
		if r["source"] == "" && (r["level"] == "none" || r["time"] == "") {
			t.Errorf("a line of the log file not read as time/level/message: %v", r)
		}
		if r["source"] == "stdout" && r["time"] != "" && strings.HasPrefix(r["msg"], "[") {
			stdoutRead++
		}
		// The router attributes every request it passes (docs: the
		// gateway warns of proxy-shaped traffic it cannot attribute).
		if strings.Contains(r["msg"], "unattributable") {
			t.Errorf("the gateway saw unattributable proxy traffic: %v", r)
		}
	}
	if stdoutRead == 0 {
		t.Errorf("no line of the gateway's console output read as time and [subsystem]: %v", rows)
	}
	t.Logf("%d log lines in the console", len(rows))
	alice.Click(`[data-testid="logs-back"]`)

	// A invites B with a link from the console.
	alice.Click(`#nav a[data-route="teams"]`)
	alice.Click(crew + ` [data-testid="invite-create"]`)
	link := alice.Attr(crew+` [data-testid="invite-link"]`, "value")
	if !strings.Contains(link, "/console#/invite/cfi_") {
		t.Fatalf("invite link = %q", link)
	}

	// B opens the link, signs in, joins and sees the team's instance.
	bob := servertest.NewPage(t, "en-US")
	bob.Navigate(link)
	e.idp.QueueUser(&mockoidc.MockUser{Subject: "e2e-bob", Email: "bob@example.com", EmailVerified: true})
	bob.Click(`[data-testid="provider-oidc"]`)
	bob.Click(`[data-testid="invite-accept"]`)
	bob.WaitFor(`[data-testid="instance"][data-id="`+id+`"][data-status="running"]`, 30*time.Second)
	// A member opens and reads but does not manage: no Delete, no Restart,
	// and the API refuses a delete all the same.
	bob.Poll("no Delete or Restart for a member", `!document.querySelector('[data-testid="instance"] [data-testid="delete"]') && !document.querySelector('[data-testid="instance"] [data-testid="restart"]')`)
	if code := fetchStatus(bob, "DELETE", "/api/teams/"+teamID+"/tenants/"+id); code != 403 {
		t.Fatalf("a member's DELETE of the team's instance = %d, want 403", code)
	}
	btab := openInNewTab(t, bob)
	start = time.Now()
	loc, _ = awaitControlUIConnected(t, btab.Ctx, 2*time.Minute)
	t.Logf("B's Control UI connected %s after Open (%s)", time.Since(start).Round(time.Millisecond), loc)

	// C is signed in but in no team of the instance: the subdomain sends
	// C's browser to the console, which refuses with a page of its own.
	carol := e.signInOIDC(t, "e2e-carol", "carol@example.com")
	carol.Navigate(address)
	carol.Poll("the refusal page", `document.body && document.body.innerText.includes('Cannot open this OpenClaw') && document.body.innerText.includes('not yours')`)
	if html := servertest.Get(carol, "read the page", chromedp.Evaluate[string](`document.documentElement.outerHTML`)); strings.Contains(html, "OpenClaw Control") {
		t.Fatalf("a non-member's browser got gateway content: %.500s", html)
	}

	alice.Click(`#nav a[data-route="instances"]`)
	deleteInstance(t, alice, id)
}

// TestConsoleEndToEndEmail: the journey with an email account, on the
// stand-in gateway, in English and in Chinese (the browser's language):
// sign up in the console, confirm the address by the mailed link, sign out
// and in with the password, create, see it reach running by the pushed
// status, read its logs, open it through the router and the tunnel in a
// new tab, delete it. In Chinese the mail, the link's page, the console's
// pages and a refusal are Chinese, with no English word left on them.
func TestConsoleEndToEndEmail(t *testing.T) {
	e := newConsoleEnv(t, bin("standin"), 250)
	for _, tc := range []emailJourney{
		{lang: "en-US", email: "erin@example.com", name: "Erin", instance: "End to end",
			mailSubject: "Verify your email address", verified: "verified", unverified: "not verified",
			wrongPassword: "wrong", title: "My OpenClaw"},
		{lang: "zh-CN", email: "lin@example.com", name: "林", instance: "端到端",
			mailSubject: "请验证您的 clawfleet 邮箱地址", verified: "已验证", unverified: "未验证",
			wrongPassword: "密码", title: "我的 OpenClaw", chinese: true},
	} {
		t.Run(tc.lang, func(t *testing.T) { tc.run(t, e) })
	}
}

// emailJourney is TestConsoleEndToEndEmail in one language: the words the
// pages must show in it.
type emailJourney struct {
	lang, email, name, instance string
	mailSubject                 string
	verified, unverified        string
	wrongPassword               string // in the refusal of a wrong password
	title                       string // My OpenClaw's heading
	chinese                     bool   // no English word may be left on the pages
}

func (j emailJourney) run(t *testing.T, e *consoleEnv) {
	const password = "a long sentence erin remembers"
	p := servertest.NewPage(t, j.lang)
	p.Navigate(e.c.url("/console"))
	j.noEnglish(p, "the sign-in page")
	p.Click(`[data-testid="to-signup"]`)
	p.Type(`[data-testid="signup-name"]`, j.name)
	p.Type(`[data-testid="signup-email"]`, j.email)
	p.Type(`[data-testid="signup-password"]`, password)
	p.Click(`[data-testid="signup-submit"]`)
	p.Wait(`[data-testid="instances-empty"]`)
	if s := p.Text(`h1`); s != j.title {
		t.Errorf("My OpenClaw's heading = %q, want %q", s, j.title)
	}
	j.noEnglish(p, "My OpenClaw, empty")

	// The verification link, as mailed, in the user's language.
	got := e.mail.Wait(t)
	hdr, body := mailtest.Decode(t, got.Data)
	verify := regexp.MustCompile(`http://\S+/auth/local/verify\?token=[\w.~%-]+`).FindString(body)
	if got.Rcpt[0] != j.email || verify == "" {
		t.Fatalf("verification mail to %v without a link:\n%s", got.Rcpt, body)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(hdr.Header.Get("Subject"))
	if err != nil || !strings.Contains(subject, j.mailSubject) {
		t.Errorf("the mail's subject = %q, want %q in it", subject, j.mailSubject)
	}
	p.Navigate(verify)
	j.noEnglish(p, "the verification page")
	p.Click(`button[type="submit"]`)
	p.Wait(`p[role="status"]`)
	j.noEnglish(p, "the verification page, confirmed")
	p.Click(`a[href="/console"]`)
	p.Click(`#nav a[data-route="account"]`)
	p.Poll("the address verified", fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid="account-email"]'); return !!el && el.innerText.includes(%q) && !el.innerText.includes(%q); })()`, j.verified, j.unverified))
	j.noEnglish(p, "the account page")

	// Sign out; a wrong password is refused in words of the language; in
	// again with the password.
	p.Click(`#signout-button`)
	p.Type(`[data-testid="signin-email"]`, j.email)
	p.Type(`[data-testid="signin-password"]`, password+" but wrong")
	p.Click(`[data-testid="signin-submit"]`)
	p.Wait(`#signin-error:not([hidden])`)
	if s := p.Text(`#signin-error`); !strings.Contains(strings.ToLower(s), j.wrongPassword) {
		t.Errorf("a wrong password's refusal = %q, want %q in it", s, j.wrongPassword)
	}
	j.noEnglish(p, "the sign-in page, refused")
	p.Clear(`[data-testid="signin-password"]`)
	p.Type(`[data-testid="signin-password"]`, password)
	p.Click(`[data-testid="signin-submit"]`)
	p.Wait(`[data-testid="instances-empty"]`)
	p.Wait(`[data-testid="live"][data-live="true"]`)
	p.Click(`[data-testid="create-open"]`)
	j.noEnglish(p, "the create form")
	p.Click(`[data-testid="create-cancel"]`)
	id := createInstance(t, p, j.instance, "", 90*time.Second)
	j.noEnglish(p, "My OpenClaw, running")

	// The stand-in's log, read as time and message.
	p.Click(`[data-testid="instance"] [data-testid="logs"]`)
	p.WaitFor(`tr[data-testid="log-line"]`, 30*time.Second)
	p.Poll("the stand-in's start in the log", `document.querySelector('[data-testid="log-table"]').innerText.includes('listening on')`)
	j.noEnglish(p, "the logs page")
	p.Click(`[data-testid="logs-back"]`)

	// Open: the new tab is the gateway itself, through the router.
	tab := openInNewTab(t, p)
	tab.Poll("the gateway's page in the new tab", `document.body && document.body.innerText.includes('clawfleet stand-in gateway')`)

	deleteInstance(t, p, id)
}

// noEnglish fails the test when, in a Chinese journey, the page's visible
// text holds an English word: a string the page forgot to translate. Names
// that stay as they are (the product's, units, the stand-in's log lines,
// addresses) are not words of a sentence.
func (j emailJourney) noEnglish(p *servertest.Page, where string) {
	p.T.Helper()
	if !j.chinese {
		return
	}
	p.Wait(`html[lang="zh-CN"]`)
	words := servertest.Get(p, "the words of "+where, chromedp.Evaluate[[]string](`(() => {
	  const keep = new Set(['OpenClaw', 'clawfleet', 'CPU', 'MiB', 'GiB', 'KiB', 'English', 'API', 'URL', 'OIDC', 'SSO', 'GitHub', 'Google',
	    'Chrome', 'HeadlessChrome', 'Firefox', 'Safari', 'Edge', 'Linux', 'Windows', 'macOS', 'Android', 'iOS']);
	  // Not the page's words: the gateway's own log lines, what the user
	  // typed, identifiers and addresses, and the plans' names (the
	  // operator's, from the plans file).
	  const skip = '.log-msg, .log-time, input, textarea, code, .mono, script, style, .plan-name, [data-testid="plan"] strong, [data-testid="url"]';
	  const found = [];
	  const take = (text) => {
	    const cleaned = text.replace(/https?:\/\/\S+/g, ' ').replace(/\S+@\S+/g, ' ');
	    for (const w of cleaned.match(/[A-Za-z]{3,}/g) || []) if (!keep.has(w)) found.push(w);
	  };
	  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
	    const el = n.parentElement;
	    if (el && !el.closest(skip) && el.checkVisibility()) take(n.nodeValue);
	  }
	  // A closed select's options are not visible, but they are its words.
	  document.querySelectorAll('select').forEach(sel => sel.checkVisibility() && [...sel.options].forEach(o => take(o.text)));
	  document.querySelectorAll('[placeholder], [aria-label]').forEach(el => {
	    if (el.closest(skip) && !el.matches('input, textarea')) return;
	    if (el.checkVisibility()) ['placeholder', 'aria-label'].forEach(a => el.hasAttribute(a) && take(el.getAttribute(a)));
	  });
	  return found;
	})()`))
	if len(words) > 0 {
		p.T.Errorf("%s in zh-CN shows English words: %q", where, words)
	}
}
