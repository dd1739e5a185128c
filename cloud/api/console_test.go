package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
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

// consoleCloud is a cloud with a known public URL, mockoidc as its OIDC
// provider, and a fake docker host.
func consoleCloud(t testing.TB, opts ...servertest.Option) (*servertest.Cloud, *logintest.OIDC, *servertest.Agent) {
	idp := logintest.NewOIDC(t)
	addr := servertest.FreeAddr(t)
	c := servertest.New(t, append([]servertest.Option{servertest.WithFlags("--http-addr", addr, "--public-url", "http://"+addr), servertest.WithEnv(oidcEnv(idp))}, opts...)...)
	return c, idp, c.AddHost("console-host")
}

// instanceJourney creates an instance in a signed-in console, sees it
// reach running through the pushed status (no polling), reads its logs,
// opens it in a new tab and deletes it.
func instanceJourney(t *testing.T, c *servertest.Cloud, ag *servertest.Agent, p *servertest.Page) {
	p.Wait(`[data-testid="instances-empty"]`)
	p.Wait(`[data-testid="live"][data-live="true"]`)
	p.Click(`[data-testid="create-open"]`)
	p.Wait(`[data-testid="plan-free"]`)
	// The plans' limits are there before choosing.
	if s := p.Text(`[data-testid="create-form"]`); !strings.Contains(s, "1.5 GiB") || !strings.Contains(strings.ToLower(s), "basic") {
		t.Errorf("the plans' limits are not shown: %q", s)
	}
	p.Type(`[data-testid="create-name"]`, "Claw of mine")
	p.Click(`[data-testid="plan-basic"]`)
	p.Click(`[data-testid="create-submit"]`)
	p.Wait(`[data-testid="instance"][data-status="pending"]`)
	id := p.Attr(`[data-testid="instance"]`, "data-id")
	if s := p.Text(`[data-testid="instance"]`); !strings.Contains(s, "Claw of mine") || !strings.Contains(s, "basic") || !strings.Contains(s, "Shared cloud host") {
		t.Errorf("the card lacks the name, plan or host kind: %q", s)
	}
	gets := func() float64 {
		return c.Metric(`clawfleet_http_requests_total{code="200",method="GET",route="/api/tenants/me"}`)
	}
	before := gets()
	d := ag.WaitDesired("the new tenant", servertest.HasTenant(id))
	ag.Ack(d.Revision)
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantStarting}})
	p.Wait(`[data-testid="instance"][data-status="starting"] [data-testid="progress"][data-step="2"]`)
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, StartedAt: time.Now().UnixMilli()}})
	p.Wait(`[data-testid="instance"][data-status="running"]`)
	if after := gets(); after != before {
		t.Errorf("the console read its tenants %v times while the tenant started: it must be pushed, not polled", after-before)
	}
	if s := p.Text(`[data-testid="instance"] [data-testid="url"]`); !strings.Contains(s, ".localhost") {
		t.Errorf("address = %q", s)
	}
	// Usage: none yet; then two measurements a minute apart (half a core,
	// 256 MiB), shown as charts once the page is drawn again.
	if s := p.Text(`[data-testid="instance"] [data-testid="usage-note"]`); !strings.Contains(s, "No usage") {
		t.Errorf("usage before any report = %q", s)
	}
	start := time.Now().Add(-3 * time.Minute).Truncate(time.Minute)
	for i, cpuUsec := range []int64{1e6, 31e6} {
		ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning, StartedAt: start.UnixMilli(),
			Usage: &proto.TenantUsage{CPUUsec: cpuUsec, MemoryBytes: 256 << 20, AtMs: start.Add(time.Duration(i) * time.Minute).UnixMilli()}}})
	}
	tstest.Await(t, "the usage sample stored", 10*time.Second, func() bool {
		if err := c.App.Tenants().FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		u, err := c.App.Tenants().Usage(context.Background(), id, time.Hour)
		return err == nil && len(u) > 0
	})

	// Logs: OpenClaw's JSON lines as time, level, message; a filter.
	ag.SetLogs(
		`{"0":"{\"subsystem\":\"gateway\"}","1":"listening on ws://0.0.0.0:18789","_meta":{"logLevelName":"INFO","date":"2026-12-03T10:00:00.000Z","name":"{\"subsystem\":\"gateway\"}"},"time":"2026-12-03T10:00:00.000Z"}`,
		`{"0":"model call failed: quota","_meta":{"logLevelName":"ERROR","date":"2026-12-03T10:00:01.000Z"},"time":"2026-12-03T10:00:01.000Z"}`,
		`plain line without json`,
		// OpenClaw's console output, as a host merges it into the log.
		`stdout| 2026-12-03T10:00:00.500+00:00 [heartbeat] started`)
	p.Click(`[data-testid="instance"] [data-testid="logs"]`)
	p.Wait(`tr[data-testid="log-line"][data-level="error"]`)
	table := p.Text(`[data-testid="log-table"]`)
	for _, want := range []string{"INFO", "[gateway]", "listening on ws://0.0.0.0:18789", "ERROR", "model call failed: quota", "plain line without json"} {
		if !strings.Contains(table, want) {
			t.Errorf("the log table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "_meta") {
		t.Errorf("raw JSON shown in the log table:\n%s", table)
	}
	if !strings.Contains(table, "[heartbeat] started") || strings.Contains(table, "stdout|") || strings.Contains(table, "+00:00") {
		t.Errorf("the gateway's console output not read as time, [subsystem] and message:\n%s", table)
	}
	p.Type(`[data-testid="logs-filter"]`, "quota")
	p.Poll("the filter to leave one line", `document.querySelectorAll('tr[data-testid="log-line"]').length === 1`)
	// Followed: a new line arrives by itself.
	ag.AppendLogs(`{"0":"second quota warning","_meta":{"logLevelName":"WARN","date":"2026-12-03T10:00:02.000Z"}}`)
	p.Wait(`tr[data-testid="log-line"][data-level="warn"]`)
	p.Click(`[data-testid="logs-back"]`)
	p.Wait(`[data-testid="instance"] [data-testid="usage-cpu"][data-points="1"] svg[data-testid="chart"] polyline`)
	if s := p.Text(`[data-testid="instance"] [data-testid="usage-cpu"] [data-testid="usage-value"]`); !strings.HasPrefix(s, "0.5 / ") {
		t.Errorf("the CPU now = %q, want 0.5 of the plan's cores", s)
	}
	if s := p.Text(`[data-testid="instance"] [data-testid="usage-memory"] [data-testid="usage-value"]`); !strings.HasPrefix(s, "256 MiB / ") {
		t.Errorf("the memory now = %q, want 256 MiB of the plan's", s)
	}

	// Open: a new tab lands on the one-time link into the gateway.
	newTab := chromedp.WaitNewTarget(p.Ctx, func(info *target.Info) bool { return strings.Contains(info.URL, ".localhost") })
	p.Click(`[data-testid="instance"][data-status="running"] [data-testid="open"]`)
	select {
	case tid := <-newTab:
		tctx, cancel := chromedp.NewContext(p.Ctx, chromedp.WithTargetID(tid))
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
	slug := strings.TrimSuffix(strings.SplitN(strings.TrimPrefix(p.Text(`[data-testid="instance"] [data-testid="url"]`), "http://"), ".", 2)[0], "/")
	p.Click(`[data-testid="instance"] [data-testid="delete"]`)
	p.Type(`[data-testid="delete-confirm-input"]`, "not-the-slug")
	p.Click(`[data-testid="delete-confirm"]`)
	p.Wait(`#delete-error`)
	if r := c.Admin(http.MethodGet, "/api/admin/tenants/"+id, nil); r.Code != http.StatusOK {
		t.Fatalf("a wrong confirmation deleted the tenant: %d", r.Code)
	}
	p.Clear(`[data-testid="delete-confirm-input"]`)
	p.Type(`[data-testid="delete-confirm-input"]`, slug)
	p.Click(`[data-testid="delete-confirm"]`)
	p.Wait(`[data-testid="instances-empty"]`)
	if r := c.Admin(http.MethodGet, "/api/admin/tenants/"+id, nil); r.Code != http.StatusNotFound {
		t.Fatalf("after delete: %d %s", r.Code, r.Body)
	}
}

// TestConsoleOIDC: sign in through mockoidc's authorization-code flow in
// Chromium, then the whole instance journey.
func TestConsoleOIDC(t *testing.T) {
	c, idp, ag := consoleCloud(t)
	p := servertest.NewPage(t, "en-US")
	p.Navigate(c.URL + "/console")
	p.Wait(`[data-testid="signin-view"]`)
	if s := p.Text(`[data-testid="provider-oidc"]`); s != "Continue with Single sign-on" {
		t.Errorf("provider button = %q", s)
	}
	p.Wait(`[data-testid="signin-form"]`) // local accounts are on
	idp.QueueUser(&mockoidc.MockUser{Subject: "alice-console", Email: "alice@example.com", EmailVerified: true, PreferredUsername: "alice"})
	p.Click(`[data-testid="provider-oidc"]`)
	p.Wait(`body[data-view="instances"]`)
	if who := p.Text(`[data-testid="who"]`); who != "alice@example.com" && !strings.Contains(who, "alice") {
		t.Errorf("signed in as %q", who)
	}
	instanceJourney(t, c, ag, p)

	// The account page: the OIDC identity and this session.
	p.Click(`[data-testid="nav-account"]`)
	p.Wait(`[data-testid="identity"]`)
	p.Wait(`[data-testid="session"][data-current="true"]`)
	if s := p.Text(`[data-testid="identities"]`); !strings.Contains(s, "oidc") {
		t.Errorf("identities: %q", s)
	}
	// An API key, shown once, that works on the API.
	p.Type(`[data-testid="key-name"]`, "ci")
	p.Click(`[data-testid="key-create"]`)
	p.Wait(`[data-testid="key-token"]`)
	key := servertest.Get(p, "the key", chromedp.Evaluate[string](`document.querySelector('[data-testid="key-token"]').value`))
	if r := c.Do(http.MethodGet, "/api/teams", map[string]string{"Authorization": "Bearer " + key}, nil); r.Code != http.StatusOK {
		t.Errorf("the console's API key on GET /api/teams: %d %s", r.Code, r.Body)
	}

	// Chinese, by the switch, remembered after a reload.
	p.Choose(`#lang-select`, "zh-CN")
	p.Navigate(c.URL + "/console#/")
	p.Wait(`html[lang="zh-CN"] [data-testid="instances-empty"]`)
	if s := p.Text(`h1`); s != "我的 OpenClaw" {
		t.Errorf("Chinese title = %q", s)
	}

	// Sign out: back to the sign-in page, and the session is gone.
	p.Click(`[data-testid="signout-button"]`)
	p.Wait(`[data-testid="signin-view"]`)
}

// TestConsoleEmail: sign up with an email account, confirm it by the link
// the cloud logs (no SMTP), sign out and in with the password, and the
// instance journey.
func TestConsoleEmail(t *testing.T) {
	logs := &tstest.Buffer{}
	c, _, ag := consoleCloud(t, servertest.WithLog(logs))
	p := servertest.NewPage(t, "en-US")
	p.Navigate(c.URL + "/console#/signup")
	const password = "a long console pass phrase 7"
	p.Type(`[data-testid="signup-name"]`, "Erin")
	p.Type(`[data-testid="signup-email"]`, "erin@example.com")
	p.Type(`[data-testid="signup-password"]`, "short")
	p.Click(`[data-testid="signup-submit"]`)
	p.Wait(`#signin-error`) // the policy's refusal, in words
	if s := p.Text(`#signin-error`); !strings.Contains(strings.ToLower(s), "15") {
		t.Errorf("a short password's refusal = %q", s)
	}
	p.Clear(`[data-testid="signup-password"]`)
	p.Type(`[data-testid="signup-password"]`, password)
	p.Click(`[data-testid="signup-submit"]`)
	p.Wait(`body[data-view="instances"]`)

	var link string
	tstest.Await(t, "the verification link in the log", 10*time.Second, func() bool {
		m := regexp.MustCompile(`link="?(http[^"\s]+/auth/local/verify\?token=[^"\s]+)`).FindStringSubmatch(logs.String())
		if m != nil {
			link = m[1]
		}
		return m != nil
	})
	u, _ := url.Parse(link)
	p.Navigate(c.URL + u.RequestURI())
	p.Click(`button[type="submit"]`)
	p.Wait(`[role="status"]`)
	// The page leads back to the console, not the operator's dashboard.
	p.Click(`a[href="/console"]`)
	p.Wait(`body[data-view="instances"]`)

	p.Navigate(c.URL + "/console#/account")
	p.Wait(`[data-testid="account-email"]`)
	if s := p.Text(`[data-testid="account-email"]`); !strings.Contains(s, "erin@example.com") || !strings.Contains(s, "verified") || strings.Contains(s, "not verified") {
		t.Errorf("account email = %q", s)
	}
	p.Click(`[data-testid="signout-button"]`)
	p.Wait(`[data-testid="signin-form"]`)
	p.Type(`[data-testid="signin-email"]`, "erin@example.com")
	p.Type(`[data-testid="signin-password"]`, "a wrong pass phrase of erin")
	p.Click(`[data-testid="signin-submit"]`)
	p.Wait(`#signin-error`)
	p.Clear(`[data-testid="signin-password"]`)
	p.Type(`[data-testid="signin-password"]`, password)
	p.Click(`[data-testid="signin-submit"]`)
	p.Wait(`body[data-view="instances"]`)
	instanceJourney(t, c, ag, p)
}

// TestConsoleChineseErrors: a Chinese browser gets the console and the
// cloud's sign-in errors in Chinese.
func TestConsoleChineseErrors(t *testing.T) {
	c, _, _ := consoleCloud(t)
	p := servertest.NewPage(t, "zh-CN")
	p.Navigate(c.URL + "/console")
	p.Wait(`html[lang="zh-CN"] [data-testid="signin-form"]`)
	if s := p.Text(`h1`); s != "登录" {
		t.Errorf("title = %q", s)
	}
	p.Type(`[data-testid="signin-email"]`, "nobody@example.com")
	p.Type(`[data-testid="signin-password"]`, "a wrong pass phrase of nobody")
	p.Click(`[data-testid="signin-submit"]`)
	p.Wait(`#signin-error`)
	if s := p.Text(`#signin-error`); !regexp.MustCompile(`\p{Han}`).MatchString(s) {
		t.Errorf("the sign-in error is not in Chinese: %q", s)
	}
}

// TestAssetsCached: the pages link their scripts and style sheets by
// content hash, which are then cached for good; any other request for a
// file is revalidated by its ETag (304 when unchanged).
func TestAssetsCached(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	for _, page := range []string{"/", "/console"} {
		r := c.Do(http.MethodGet, page, nil, nil)
		links := regexp.MustCompile(`"/assets/([a-z.]+)\?v=([0-9a-f]{12})"`).FindAllStringSubmatch(string(r.Body), -1)
		if r.Code != http.StatusOK || len(links) < 2 || r.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: %d, Cache-Control %q, versioned links %v", page, r.Code, r.Header.Get("Cache-Control"), links)
		}
		for _, l := range links {
			r := c.Do(http.MethodGet, "/assets/"+l[1]+"?v="+l[2], nil, nil)
			if r.Code != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.Header.Get("ETag") != `"`+l[2]+`"` {
				t.Fatalf("%s: %d, Cache-Control %q, ETag %q", l[0], r.Code, r.Header.Get("Cache-Control"), r.Header.Get("ETag"))
			}
			plain := c.Do(http.MethodGet, "/assets/"+l[1], nil, nil)
			if plain.Code != http.StatusOK || plain.Header.Get("Cache-Control") != "no-cache" || !bytes.Equal(plain.Body, r.Body) {
				t.Fatalf("/assets/%s without its version: %d, Cache-Control %q", l[1], plain.Code, plain.Header.Get("Cache-Control"))
			}
			if again := c.Do(http.MethodGet, "/assets/"+l[1], map[string]string{"If-None-Match": `"` + l[2] + `"`}, nil); again.Code != http.StatusNotModified {
				t.Fatalf("/assets/%s revalidated with its ETag: %d, want 304", l[1], again.Code)
			}
		}
	}
	if r := c.Do(http.MethodGet, "/assets/nosuch.js", nil, nil); r.Code != http.StatusNotFound {
		t.Fatalf("a missing asset: %d", r.Code)
	}
}
