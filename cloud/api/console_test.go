package api_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/clawfleet/clawfleet/cloud/login/logintest"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// consolePage drives the console in a real Chromium.
type consolePage struct {
	t   *testing.T
	ctx context.Context
}

func newConsolePage(t *testing.T, lang string) *consolePage {
	ctx := tstest.Browser(t, chromedp.Flag("lang", lang), chromedp.Flag("accept-lang", lang))
	// The first action starts the browser: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &consolePage{t: t, ctx: ctx}
}

// bounded runs a on the page with a bound, failing the test with what.
func bounded[T any](p *consolePage, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		p.t.Fatalf("%s: %v; the page shows:\n%.2000s", what, err, body)
	}
	return v
}

func (p *consolePage) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	bounded(p, what, chromedp.Steps(actions...))
}

func (p *consolePage) wait(sel string) {
	p.t.Helper()
	p.run("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (p *consolePage) click(sel string) {
	p.t.Helper()
	p.run("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

func (p *consolePage) typeIn(sel, text string) {
	p.t.Helper()
	p.run("type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (p *consolePage) clear(sel string) {
	p.t.Helper()
	p.eval("clear "+sel, `document.querySelector(`+strconv.Quote(sel)+`).value = ''`)
}

func (p *consolePage) text(sel string) string {
	p.t.Helper()
	p.wait(sel)
	return bounded(p, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func (p *consolePage) attr(sel, name string) string {
	p.t.Helper()
	p.run("wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	return bounded(p, "read "+name+" of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}

func (p *consolePage) eval(what, js string) {
	p.t.Helper()
	bounded(p, what, chromedp.Evaluate[any](js))
}

func (p *consolePage) poll(what, js string) {
	p.t.Helper()
	bounded(p, what, chromedp.Poll[any](js, chromedp.WithPollingTimeout(15*time.Second)))
}

func (p *consolePage) navigate(u string) { p.t.Helper(); p.run("open "+u, chromedp.Navigate(u)) }

// consoleCloud is a cloud with a known public URL, mockoidc as its OIDC
// provider, and a fake docker host.
func consoleCloud(t *testing.T, opts ...servertest.Option) (*servertest.Cloud, *logintest.OIDC, *servertest.Agent) {
	idp := logintest.NewOIDC(t)
	addr := servertest.FreeAddr(t)
	c := servertest.New(t, append([]servertest.Option{servertest.WithFlags("--http-addr", addr, "--public-url", "http://"+addr), servertest.WithEnv(oidcEnv(idp))}, opts...)...)
	return c, idp, c.AddHost("console-host")
}

// instanceJourney creates an instance in a signed-in console, sees it
// reach running through the pushed status (no polling), reads its logs,
// opens it in a new tab and deletes it.
func instanceJourney(t *testing.T, c *servertest.Cloud, ag *servertest.Agent, p *consolePage) {
	p.wait(`[data-testid="instances-empty"]`)
	p.wait(`[data-testid="live"][data-live="true"]`)
	p.click(`[data-testid="create-open"]`)
	p.wait(`[data-testid="plan-free"]`)
	// The plans' limits are there before choosing.
	if s := p.text(`[data-testid="create-form"]`); !strings.Contains(s, "1.5 GiB") || !strings.Contains(strings.ToLower(s), "basic") {
		t.Errorf("the plans' limits are not shown: %q", s)
	}
	p.typeIn(`[data-testid="create-name"]`, "Claw of mine")
	p.click(`[data-testid="plan-basic"]`)
	p.click(`[data-testid="create-submit"]`)
	p.wait(`[data-testid="instance"][data-status="pending"]`)
	id := p.attr(`[data-testid="instance"]`, "data-id")
	if s := p.text(`[data-testid="instance"]`); !strings.Contains(s, "Claw of mine") || !strings.Contains(s, "basic") || !strings.Contains(s, "Shared cloud host") {
		t.Errorf("the card lacks the name, plan or host kind: %q", s)
	}
	gets := func() float64 {
		return c.Metric(`clawfleet_http_requests_total{code="200",method="GET",route="/api/tenants/me"}`)
	}
	before := gets()
	d := ag.WaitDesired("the new tenant", servertest.HasTenant(id))
	ag.Ack(d.Revision)
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantStarting}})
	p.wait(`[data-testid="instance"][data-status="starting"] [data-testid="progress"][data-step="2"]`)
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, StartedAt: time.Now().UnixMilli()}})
	p.wait(`[data-testid="instance"][data-status="running"]`)
	if after := gets(); after != before {
		t.Errorf("the console read its tenants %v times while the tenant started: it must be pushed, not polled", after-before)
	}
	if s := p.text(`[data-testid="instance"] [data-testid="url"]`); !strings.Contains(s, ".localhost") {
		t.Errorf("address = %q", s)
	}

	// Logs: OpenClaw's JSON lines as time, level, message; a filter.
	ag.SetLogs(
		`{"0":"{\"subsystem\":\"gateway\"}","1":"listening on ws://0.0.0.0:18789","_meta":{"logLevelName":"INFO","date":"2026-12-03T10:00:00.000Z","name":"{\"subsystem\":\"gateway\"}"},"time":"2026-12-03T10:00:00.000Z"}`,
		`{"0":"model call failed: quota","_meta":{"logLevelName":"ERROR","date":"2026-12-03T10:00:01.000Z"},"time":"2026-12-03T10:00:01.000Z"}`,
		`plain line without json`)
	p.click(`[data-testid="instance"] [data-testid="logs"]`)
	p.wait(`tr[data-testid="log-line"][data-level="error"]`)
	table := p.text(`[data-testid="log-table"]`)
	for _, want := range []string{"INFO", "[gateway]", "listening on ws://0.0.0.0:18789", "ERROR", "model call failed: quota", "plain line without json"} {
		if !strings.Contains(table, want) {
			t.Errorf("the log table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "_meta") {
		t.Errorf("raw JSON shown in the log table:\n%s", table)
	}
	p.typeIn(`[data-testid="logs-filter"]`, "quota")
	p.poll("the filter to leave one line", `document.querySelectorAll('tr[data-testid="log-line"]').length === 1`)
	// Followed: a new line arrives by itself.
	ag.AppendLogs(`{"0":"second quota warning","_meta":{"logLevelName":"WARN","date":"2026-12-03T10:00:02.000Z"}}`)
	p.wait(`tr[data-testid="log-line"][data-level="warn"]`)
	p.click(`[data-testid="logs-back"]`)

	// Open: a new tab lands on the one-time link into the gateway.
	newTab := chromedp.WaitNewTarget(p.ctx, func(info *target.Info) bool { return strings.Contains(info.URL, ".localhost") })
	p.click(`[data-testid="instance"][data-status="running"] [data-testid="open"]`)
	select {
	case tid := <-newTab:
		tctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithTargetID(tid))
		defer cancel()
		loc, err := chromedp.Run(tctx, chromedp.Location())
		if err != nil {
			t.Fatalf("read the new tab: %v", err)
		}
		if !strings.Contains(loc, ".localhost") {
			t.Errorf("the new tab went to %q", loc)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Open made no new tab to the gateway")
	}

	// Delete, with the slug typed to confirm; a wrong one refused.
	slug := strings.TrimSuffix(strings.SplitN(strings.TrimPrefix(p.text(`[data-testid="instance"] [data-testid="url"]`), "http://"), ".", 2)[0], "/")
	p.click(`[data-testid="instance"] [data-testid="delete"]`)
	p.typeIn(`[data-testid="delete-confirm-input"]`, "not-the-slug")
	p.click(`[data-testid="delete-confirm"]`)
	p.wait(`#delete-error`)
	if r := c.Admin(http.MethodGet, "/api/admin/tenants/"+id, nil); r.Code != http.StatusOK {
		t.Fatalf("a wrong confirmation deleted the tenant: %d", r.Code)
	}
	p.clear(`[data-testid="delete-confirm-input"]`)
	p.typeIn(`[data-testid="delete-confirm-input"]`, slug)
	p.click(`[data-testid="delete-confirm"]`)
	p.wait(`[data-testid="instances-empty"]`)
	if r := c.Admin(http.MethodGet, "/api/admin/tenants/"+id, nil); r.Code != http.StatusNotFound {
		t.Fatalf("after delete: %d %s", r.Code, r.Body)
	}
}

// TestConsoleOIDC: sign in through mockoidc's authorization-code flow in
// Chromium, then the whole instance journey.
func TestConsoleOIDC(t *testing.T) {
	c, idp, ag := consoleCloud(t)
	p := newConsolePage(t, "en-US")
	p.navigate(c.URL + "/console")
	p.wait(`[data-testid="signin-view"]`)
	if s := p.text(`[data-testid="provider-oidc"]`); s != "Continue with Single sign-on" {
		t.Errorf("provider button = %q", s)
	}
	p.wait(`[data-testid="signin-form"]`) // local accounts are on
	idp.QueueUser(&mockoidc.MockUser{Subject: "alice-console", Email: "alice@example.com", EmailVerified: true, PreferredUsername: "alice"})
	p.click(`[data-testid="provider-oidc"]`)
	p.wait(`body[data-view="instances"]`)
	if who := p.text(`[data-testid="who"]`); who != "alice@example.com" && !strings.Contains(who, "alice") {
		t.Errorf("signed in as %q", who)
	}
	instanceJourney(t, c, ag, p)

	// The account page: the OIDC identity and this session.
	p.click(`[data-testid="nav-account"]`)
	p.wait(`[data-testid="identity"]`)
	p.wait(`[data-testid="session"][data-current="true"]`)
	if s := p.text(`[data-testid="identities"]`); !strings.Contains(s, "oidc") {
		t.Errorf("identities: %q", s)
	}

	// Chinese, by the switch, remembered after a reload.
	p.run("switch to Chinese", chromedp.SetValue(chromedp.CSS(`#lang-select`), "zh-CN"))
	p.eval("switch to Chinese", `document.getElementById('lang-select').dispatchEvent(new Event('change'))`)
	p.navigate(c.URL + "/console#/")
	p.wait(`html[lang="zh-CN"] [data-testid="instances-empty"]`)
	if s := p.text(`h1`); s != "我的 OpenClaw" {
		t.Errorf("Chinese title = %q", s)
	}

	// Sign out: back to the sign-in page, and the session is gone.
	p.click(`[data-testid="signout-button"]`)
	p.wait(`[data-testid="signin-view"]`)
}

// TestConsoleEmail: sign up with an email account, confirm it by the link
// the cloud logs (no SMTP), sign out and in with the password, and the
// instance journey.
func TestConsoleEmail(t *testing.T) {
	logs := &tstest.Buffer{}
	c, _, ag := consoleCloud(t, servertest.WithLog(logs))
	p := newConsolePage(t, "en-US")
	p.navigate(c.URL + "/console#/signup")
	const password = "a long console pass phrase 7"
	p.typeIn(`[data-testid="signup-name"]`, "Erin")
	p.typeIn(`[data-testid="signup-email"]`, "erin@example.com")
	p.typeIn(`[data-testid="signup-password"]`, "short")
	p.click(`[data-testid="signup-submit"]`)
	p.wait(`#signin-error`) // the policy's refusal, in words
	if s := p.text(`#signin-error`); !strings.Contains(strings.ToLower(s), "15") {
		t.Errorf("a short password's refusal = %q", s)
	}
	p.clear(`[data-testid="signup-password"]`)
	p.typeIn(`[data-testid="signup-password"]`, password)
	p.click(`[data-testid="signup-submit"]`)
	p.wait(`body[data-view="instances"]`)

	var link string
	tstest.Await(t, "the verification link in the log", 10*time.Second, func() bool {
		m := regexp.MustCompile(`link="?(http[^"\s]+/auth/local/verify\?token=[^"\s]+)`).FindStringSubmatch(logs.String())
		if m != nil {
			link = m[1]
		}
		return m != nil
	})
	u, _ := url.Parse(link)
	p.navigate(c.URL + u.RequestURI())
	p.click(`button[type="submit"]`)
	p.wait(`[role="status"]`)

	p.navigate(c.URL + "/console#/account")
	p.wait(`[data-testid="account-email"]`)
	if s := p.text(`[data-testid="account-email"]`); !strings.Contains(s, "erin@example.com") || !strings.Contains(s, "verified") || strings.Contains(s, "not verified") {
		t.Errorf("account email = %q", s)
	}
	p.click(`[data-testid="signout-button"]`)
	p.wait(`[data-testid="signin-form"]`)
	p.typeIn(`[data-testid="signin-email"]`, "erin@example.com")
	p.typeIn(`[data-testid="signin-password"]`, "a wrong pass phrase of erin")
	p.click(`[data-testid="signin-submit"]`)
	p.wait(`#signin-error`)
	p.clear(`[data-testid="signin-password"]`)
	p.typeIn(`[data-testid="signin-password"]`, password)
	p.click(`[data-testid="signin-submit"]`)
	p.wait(`body[data-view="instances"]`)
	instanceJourney(t, c, ag, p)
}

// TestConsoleChineseErrors: a Chinese browser gets the console and the
// cloud's sign-in errors in Chinese.
func TestConsoleChineseErrors(t *testing.T) {
	c, _, _ := consoleCloud(t)
	p := newConsolePage(t, "zh-CN")
	p.navigate(c.URL + "/console")
	p.wait(`html[lang="zh-CN"] [data-testid="signin-form"]`)
	if s := p.text(`h1`); s != "登录" {
		t.Errorf("title = %q", s)
	}
	p.typeIn(`[data-testid="signin-email"]`, "nobody@example.com")
	p.typeIn(`[data-testid="signin-password"]`, "a wrong pass phrase of nobody")
	p.click(`[data-testid="signin-submit"]`)
	p.wait(`#signin-error`)
	if s := p.text(`#signin-error`); !regexp.MustCompile(`\p{Han}`).MatchString(s) {
		t.Errorf("the sign-in error is not in Chinese: %q", s)
	}
}
