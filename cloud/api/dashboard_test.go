package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestDashboard loads the embedded dashboard in a real headless Chromium
// against an in-process cloud and checks what it rendered.
func TestDashboard(t *testing.T) {
	tstest.Chromium(t)
	c := servertest.New(t)
	base := c.URL

	t.Run("EmptyState", func(t *testing.T) {
		dom := dumpDOM(t, base+"/#token="+url.QueryEscape(servertest.AdminToken)+"&lang=en", "--lang=en-US", "--accept-lang=en-US")
		empty := regexp.MustCompile(`<div[^>]*id="hosts-empty"[^>]*>`).FindString(dom)
		if empty == "" || strings.Contains(empty, "hidden") || !strings.Contains(dom, "No hosts yet") {
			t.Errorf("empty state not shown for a cloud without hosts: %q", empty)
		}
		if strings.Contains(dom, `data-testid="host-row"`) {
			t.Errorf("host rows on an empty cloud")
		}
	})

	hostID, _ := c.Provision("dash-host-1")

	// Every tab, in both languages, passes the console's accessibility
	// audit (labels, names, tab order, contrast) and shows the focus
	// wherever Tab takes it.
	t.Run("Accessible", func(t *testing.T) {
		for _, lang := range []string{"en", "zh-CN"} {
			p := servertest.NewPage(t, lang)
			for _, tab := range []string{"hosts", "tenants", "tokens", "batches", "settings"} {
				p.Navigate("about:blank")
				p.Navigate(base + "/#token=" + url.QueryEscape(servertest.AdminToken) + "&lang=" + lang + "&tab=" + tab)
				p.Wait(`[data-testid="tab-` + tab + `"][aria-selected="true"]`)
				for _, problem := range servertest.Audit(p) {
					t.Errorf("%s tab (%s): %s", tab, lang, problem)
				}
				for i, f := range servertest.Tab(p, 100) {
					if f.Where == "body" {
						if i == 0 {
							t.Errorf("%s tab (%s): Tab reaches nothing", tab, lang)
						}
						break
					}
					if !f.Shown {
						t.Errorf("%s tab (%s): Tab %d focuses %s and does not show it", tab, lang, i+1, f.Where)
					}
				}
			}
		}
	})

	t.Run("HostsEnglish", func(t *testing.T) {
		dom := dumpDOM(t, base+"/#token="+url.QueryEscape(servertest.AdminToken), "--lang=en-US", "--accept-lang=en-US")
		if !strings.Contains(dom, `data-view="app"`) {
			t.Fatalf("dashboard did not reach the signed-in view; DOM:\n%s", dom)
		}
		row := hostRow(t, dom, hostID)
		for _, want := range []string{"dash-host-1", hostID, `data-testid="status-badge"`, `data-status="pending"`, ">Pending<", `data-testid="delete-host"`} {
			if !strings.Contains(row, want) {
				t.Errorf("host row lacks %q; row:\n%s", want, row)
			}
		}
		if !regexp.MustCompile(`data-testid="tab-hosts"[^>]*>Hosts<`).MatchString(dom) {
			t.Errorf("English tab label Hosts not found")
		}
		if !regexp.MustCompile(`<div[^>]*id="health"[^>]*data-status="ok"`).MatchString(dom) {
			t.Errorf("health indicator is not ok; DOM:\n%s", dom)
		}
		if m := regexp.MustCompile(`id="count-total"[^>]*>(\d+)<`).FindStringSubmatch(dom); m == nil || m[1] != "1" {
			t.Errorf("host count = %v, want 1", m)
		}
		if strings.Contains(dom, servertest.AdminToken) {
			t.Errorf("the admin token appears in the page")
		}
	})

	t.Run("Chinese", func(t *testing.T) {
		dom := dumpDOM(t, base+"/#token="+url.QueryEscape(servertest.AdminToken)+"&lang=zh-CN", "--lang=en-US", "--accept-lang=en-US")
		if !strings.Contains(dom, `<html lang="zh-CN"`) {
			t.Errorf("html lang is not zh-CN")
		}
		for _, want := range []string{">主机<", ">注册令牌<", ">待接入<"} {
			if !strings.Contains(dom, want) {
				t.Errorf("Chinese label %q not found", want)
			}
		}
		row := hostRow(t, dom, hostID)
		if !strings.Contains(row, "dash-host-1") || !strings.Contains(row, `data-testid="status-badge"`) {
			t.Errorf("host row incomplete:\n%s", row)
		}
	})

	t.Run("ChineseFromBrowserLanguage", func(t *testing.T) {
		// No lang parameter: the language comes from navigator.language
		// (headless Chromium takes it from --accept-lang).
		dom := dumpDOM(t, base+"/#token="+url.QueryEscape(servertest.AdminToken), "--lang=zh-CN", "--accept-lang=zh-CN")
		if !strings.Contains(dom, `<html lang="zh-CN"`) || !strings.Contains(dom, ">主机<") {
			t.Errorf("--lang=zh-CN did not select Chinese; DOM:\n%s", dom)
		}
	})

	t.Run("WrongToken", func(t *testing.T) {
		// A Chinese browser, but lang=en in the fragment wins.
		dom := dumpDOM(t, base+"/#token=wrong-token-0123456789abcdef&lang=en", "--lang=zh-CN", "--accept-lang=zh-CN")
		if !strings.Contains(dom, `data-view="login"`) || !strings.Contains(dom, `data-auth-error="unauthorized"`) {
			t.Fatalf("wrong token did not lead to the login view; DOM:\n%s", dom)
		}
		login := regexp.MustCompile(`<section[^>]*id="login-view"[^>]*>`).FindString(dom)
		if login == "" || strings.Contains(login, "hidden") {
			t.Errorf("login view missing or hidden: %q", login)
		}
		if !regexp.MustCompile(`<form[^>]*id="login-form"`).MatchString(dom) || !strings.Contains(dom, `id="token-input"`) {
			t.Errorf("login form or token field missing")
		}
		msg := regexp.MustCompile(`<div[^>]*id="login-error"[^>]*>([^<]*)<`).FindStringSubmatch(dom)
		if msg == nil || !strings.Contains(msg[1], "admin token was rejected") || strings.Contains(msg[0], "hidden") {
			t.Errorf("unauthorized message not shown: %v", msg)
		}
		if strings.Contains(dom, `data-testid="host-row"`) {
			t.Errorf("hosts rendered despite the wrong token")
		}
		// A user who landed on the operator's sign-in finds the console.
		if !regexp.MustCompile(`<a href="/console" data-testid="console-link"[^>]*>Not the operator\? Sign in to your OpenClaw in the console\.</a>`).MatchString(dom) {
			t.Errorf("no link to the console on the operator's sign-in")
		}
	})

	page := func(lang, extra string) string {
		return base + "/#token=" + url.QueryEscape(servertest.AdminToken) + "&lang=" + lang + extra
	}

	t.Run("TenantsEmpty", func(t *testing.T) {
		for _, tc := range []struct{ lang, tab, empty, owner, create string }{
			{"en", "Tenants", "No tenants yet", "Owner user ID", "Create tenant"},
			{"zh-CN", "租户", "还没有租户", "所有者用户 ID", "创建租户"},
		} {
			dom := dumpDOM(t, page(tc.lang, "&tab=tenants"), "--lang=en-US", "--accept-lang=en-US")
			if !strings.Contains(dom, `data-tenants-loaded="true"`) {
				t.Fatalf("%s: tenants not loaded; DOM:\n%s", tc.lang, dom)
			}
			if view := regexp.MustCompile(`<section[^>]*id="tenants-view"[^>]*>`).FindString(dom); view == "" || strings.Contains(view, "hidden") {
				t.Errorf("%s: tenants view missing or hidden: %q", tc.lang, view)
			}
			if !regexp.MustCompile(`data-testid="tab-tenants"[^>]*>` + tc.tab + `<`).MatchString(dom) {
				t.Errorf("%s: tab label %q not found", tc.lang, tc.tab)
			}
			empty := regexp.MustCompile(`<div[^>]*id="tenants-empty"[^>]*>`).FindString(dom)
			if empty == "" || strings.Contains(empty, "hidden") || !strings.Contains(dom, ">"+tc.empty+"<") {
				t.Errorf("%s: empty state not shown: %q", tc.lang, empty)
			}
			if table := regexp.MustCompile(`<table[^>]*id="tenants-table"[^>]*>`).FindString(dom); !strings.Contains(table, "hidden") || strings.Contains(dom, `data-testid="tenant-row"`) {
				t.Errorf("%s: tenant table shown for a cloud without tenants: %q", tc.lang, table)
			}
			for _, id := range []string{"tenant-owner", "tenant-email", "tenant-name", "tenant-create"} {
				if !strings.Contains(dom, `data-testid="`+id+`"`) {
					t.Errorf("%s: form field %s missing", tc.lang, id)
				}
			}
			if !regexp.MustCompile(`<form[^>]*data-testid="tenant-form"`).MatchString(dom) || !strings.Contains(dom, ">"+tc.owner+"<") || !strings.Contains(dom, ">"+tc.create+"<") {
				t.Errorf("%s: create form or its labels missing", tc.lang)
			}
			sel := regexp.MustCompile(`(?s)<select[^>]*data-testid="tenant-plan"[^>]*>.*?</select>`).FindString(dom)
			var plans []string
			for _, m := range regexp.MustCompile(`<option value="(\w+)"`).FindAllStringSubmatch(sel, -1) {
				plans = append(plans, m[1])
			}
			if !slices.Equal(plans, []string{"free", "basic", "pro", "enterprise"}) {
				t.Errorf("%s: plan options = %v", tc.lang, plans)
			}
		}
	})

	// Tenants need an online host: a fake agent (tenants_test.go) runs them.
	agentHost, secret := c.Provision("dash-host-2")
	ag := c.NewAgent(agentHost, secret)
	create := func(owner, plan, name string) map[string]any {
		r := c.Admin(http.MethodPost, "/api/admin/tenants", map[string]any{"ownerId": owner, "ownerEmail": owner + "@example.com", "plan": plan, "name": name})
		if r.Code != http.StatusCreated {
			t.Fatalf("admin create: %d %s", r.Code, r.Body)
		}
		return r.JSON(t)
	}
	running, failed := create("dash-user", "basic", "Dash Claw"), create("dash-user-2", "free", "Broken Claw")
	runID, failID := running["id"].(string), failed["id"].(string)
	d := ag.WaitDesired("both tenants desired", func(d *proto.Desired) bool { return servertest.HasTenant(runID)(d) && servertest.HasTenant(failID)(d) })
	ag.Ack(d.Revision)
	ag.Report([]proto.TenantStatus{{ID: runID, State: proto.TenantRunning, DiskUsedBytes: 300 << 20, DiskTotalBytes: 5<<30 - 330<<20}, {ID: failID, State: proto.TenantFailed, Error: "pull failed: <script>alert(1)</script>"}})
	tstest.Await(t, "running and failed tenants", 10*time.Second, func() bool {
		return c.Admin(http.MethodGet, "/api/admin/tenants/"+runID, nil).JSON(t)["status"] == "running" &&
			c.Admin(http.MethodGet, "/api/admin/tenants/"+failID, nil).JSON(t)["status"] == "failed"
	})
	ag.SetLogs("gateway listening on :18789", "<img src=x onerror=alert(1)>", "ready")
	tenantRow := func(t *testing.T, dom, id string) string {
		t.Helper()
		row := regexp.MustCompile(`(?s)<tr[^>]*data-testid="tenant-row"[^>]*data-tenant-id="` + regexp.QuoteMeta(id) + `"[^>]*>.*?</tr>`).FindString(dom)
		if row == "" {
			t.Fatalf("no tenant row for %s; DOM:\n%s", id, dom)
		}
		return row
	}

	t.Run("TenantsEnglish", func(t *testing.T) {
		// #logs= opens the tenants tab with that tenant's logs.
		dom := dumpDOM(t, page("en", "&logs="+runID), "--lang=en-US", "--accept-lang=en-US")
		row := tenantRow(t, dom, runID)
		for _, want := range []string{`data-status="running"`, `data-testid="tenant-status"`, ">Running<", ">dash-claw<", ">Dash Claw<",
			">dash-user<", ">dash-user@example.com<", ">basic<", "1000m CPU · 1.50 GiB", ">dash-host-2<", agentHost, ">20000<",
			`href="` + running["url"].(string) + `"`, `rel="noopener noreferrer"`, `data-testid="tenant-restart-gen">0<`,
			`data-testid="restart-tenant"`, `data-testid="delete-tenant"`, `data-testid="logs-tenant"`, `data-testid="signout-tenant"`, ">Sign out<",
			`data-testid="tenant-disk"`, ">Disk 300 MiB of 5.00 GiB<"} {
			if !strings.Contains(row, want) {
				t.Errorf("running tenant's row lacks %q; row:\n%s", want, row)
			}
		}
		// "Open" is offered for the running tenant only.
		openRe := regexp.MustCompile(`<button[^>]*data-testid="open-tenant"[^>]*>Open<`)
		if b := openRe.FindString(row); b == "" || strings.Contains(b, "disabled") {
			t.Errorf("running tenant's Open button missing or disabled: %q", b)
		}
		frow := tenantRow(t, dom, failID)
		if b := openRe.FindString(frow); b == "" || !strings.Contains(b, "disabled") {
			t.Errorf("failed tenant's Open button missing or enabled: %q", b)
		}
		for _, want := range []string{`data-status="failed"`, ">Failed<", ">20120<", "500m CPU · 1.00 GiB",
			`data-testid="tenant-last-error">pull failed: &lt;script&gt;alert(1)&lt;/script&gt;<`} {
			if !strings.Contains(frow, want) {
				t.Errorf("failed tenant's row lacks %q; row:\n%s", want, frow)
			}
		}
		for id, want := range map[string]string{"tenants-count-total": "2", "tenants-count-running": "1", "tenants-count-failed": "1"} {
			if m := regexp.MustCompile(`id="` + id + `"[^>]*>(\d+)<`).FindStringSubmatch(dom); m == nil || m[1] != want {
				t.Errorf("%s = %v, want %s", id, m, want)
			}
		}
		panel := regexp.MustCompile(`<div[^>]*id="logs-panel"[^>]*>`).FindString(dom)
		if panel == "" || strings.Contains(panel, "hidden") || !strings.Contains(panel, `data-tenant-id="`+runID+`"`) ||
			!strings.Contains(panel, `data-state="loaded"`) || !strings.Contains(panel, `data-lines="3"`) {
			t.Errorf("logs panel not open with 3 lines: %q", panel)
		}
		pre := regexp.MustCompile(`<pre[^>]*id="logs-pre"[^>]*>([^<]*)</pre>`).FindStringSubmatch(dom)
		if pre == nil || pre[1] != "gateway listening on :18789\n&lt;img src=x onerror=alert(1)&gt;\nready" {
			t.Errorf("logs not shown as text: %q", pre)
		}
		if strings.Contains(dom, "<img src") || strings.Contains(dom, "<script>alert") {
			t.Errorf("text from the API became markup")
		}
		// The hosts tab (rendered, hidden) shows what the tenants reserve.
		hrow := hostRow(t, dom, agentHost)
		for _, want := range []string{`data-tenants="2"`, ">2 tenants<", ">CPU 1.5 / 16<", ">Mem 2.50 GiB / 7.50 GiB<"} {
			if !strings.Contains(hrow, want) {
				t.Errorf("host row lacks %q; row:\n%s", want, hrow)
			}
		}
	})

	t.Run("TenantsChinese", func(t *testing.T) {
		dom := dumpDOM(t, page("zh-CN", "&tab=tenants"), "--lang=en-US", "--accept-lang=en-US")
		row := tenantRow(t, dom, runID)
		for _, want := range []string{">运行中<", ">日志<", ">重启<", ">删除<", ">退出登录<", ">磁盘 300 MiB / 5.00 GiB<", `data-label="所有者"`} {
			if !strings.Contains(row, want) {
				t.Errorf("Chinese row lacks %q; row:\n%s", want, row)
			}
		}
		if !strings.Contains(tenantRow(t, dom, failID), ">失败<") || !strings.Contains(hostRow(t, dom, agentHost), ">2 个租户<") {
			t.Errorf("Chinese failed badge or host tenant count missing")
		}
		if panel := regexp.MustCompile(`<div[^>]*id="logs-panel"[^>]*>`).FindString(dom); !strings.Contains(panel, "hidden") {
			t.Errorf("logs panel open without asking: %q", panel)
		}
	})

	// Screenshots for people working on the page, on request only:
	// CLAWFLEET_DASHBOARD_SCREENSHOT=/tmp/dash.png go test ./cloud/api/ -run 'Dashboard$'
	// writes /tmp/dash.png (hosts) and /tmp/dash-tenants.png (tenants, logs open).
	if shot := os.Getenv("CLAWFLEET_DASHBOARD_SCREENSHOT"); shot != "" {
		runChromium(t, base+"/#token="+url.QueryEscape(servertest.AdminToken), "--screenshot="+shot, "--window-size=1280,800")
		ext := filepath.Ext(shot)
		tshot := strings.TrimSuffix(shot, ext) + "-tenants" + ext
		runChromium(t, page("en", "&logs="+runID), "--screenshot="+tshot, "--window-size=1440,1300")
		t.Logf("screenshots written to %s and %s", shot, tshot)
	}
}

// TestDashboardDictionary checks app.js's dictionary: both languages have
// the same keys with the same {placeholders}, and every key named in
// index.html or passed literally to t() or cell() exists.
func TestDashboardDictionary(t *testing.T) {
	js, err := os.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	src := string(js)
	block := func(lang string) map[string]string {
		start := strings.Index(src, "'"+lang+"': {")
		if start < 0 {
			t.Fatalf("no %s dictionary in app.js", lang)
		}
		end := strings.Index(src[start:], "\n    }")
		if end < 0 {
			t.Fatalf("unterminated %s dictionary", lang)
		}
		m := map[string]string{}
		for _, kv := range regexp.MustCompile(`(?m)^\s*'([\w.]+)': '((?:[^'\\]|\\.)*)',?$`).FindAllStringSubmatch(src[start:start+end], -1) {
			if _, dup := m[kv[1]]; dup {
				t.Errorf("%s: key %s given twice", lang, kv[1])
			}
			m[kv[1]] = kv[2]
		}
		if len(m) < 50 {
			t.Fatalf("%s dictionary parsed to only %d entries", lang, len(m))
		}
		return m
	}
	en, zh := block("en"), block("zh-CN")
	placeholders := regexp.MustCompile(`\{\w+\}`)
	for k, v := range en {
		z, ok := zh[k]
		if !ok {
			t.Errorf("zh-CN lacks %s", k)
			continue
		}
		pe, pz := placeholders.FindAllString(v, -1), placeholders.FindAllString(z, -1)
		slices.Sort(pe)
		slices.Sort(pz)
		if !slices.Equal(pe, pz) {
			t.Errorf("%s: placeholders differ: en %v, zh-CN %v", k, pe, pz)
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("en lacks %s", k)
		}
	}
	var used []string
	for _, m := range regexp.MustCompile(`data-i18n(?:-placeholder|-aria-label)?="([^"]+)"`).FindAllStringSubmatch(string(page), -1) {
		used = append(used, m[1])
	}
	for _, m := range regexp.MustCompile(`\b(?:t|cell)\('([\w.]+)'[,)]`).FindAllStringSubmatch(src, -1) {
		used = append(used, m[1])
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys in use", len(used))
	}
	for _, k := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("key %s is used but not in the dictionary", k)
		}
	}
}

// hostRow returns the <tr> of the host with the given id.
func hostRow(t *testing.T, dom, id string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<tr[^>]*data-testid="host-row"[^>]*data-host-id="` + regexp.QuoteMeta(id) + `"[^>]*>.*?</tr>`)
	row := re.FindString(dom)
	if row == "" {
		t.Fatalf("no host row for %s; DOM:\n%s", id, dom)
	}
	return row
}

func dumpDOM(t *testing.T, pageURL string, extra ...string) string {
	t.Helper()
	args := append([]string{"--dump-dom"}, extra...)
	dom := runChromium(t, pageURL, args...)
	if !strings.Contains(dom, "<html") {
		// Under load, headless Chromium now and then exits 0 having printed
		// nothing: once more before failing on an empty page.
		t.Logf("chromium printed no DOM; retrying")
		dom = runChromium(t, pageURL, args...)
	}
	return dom
}

// runChromium runs headless Chromium on pageURL and returns its stdout.
func runChromium(t *testing.T, pageURL string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--disable-extensions", "--no-default-browser-check",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=8000",
	}
	args = append(args, extra...)
	args = append(args, pageURL)
	cmd := exec.CommandContext(ctx, tstest.ChromiumPath, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\nstderr:\n%s", err, tail(stderr.String(), 4000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestDashboardBatches: the Batches tab lists factory batches with their
// boxes' counts, in English and Chinese, and offers revocation only for a
// batch that is not revoked.
func TestDashboardBatches(t *testing.T) {
	tstest.Chromium(t)
	c := servertest.New(t)
	for _, id := range []string{"dash-live", "dash-gone"} {
		c.Admin(http.MethodPut, "/api/admin/batches/"+id, map[string]any{"model": "OpenClaw Box v1"})
		if r := c.Admin(http.MethodPost, "/api/admin/batches/"+id+"/devices", devicesBody(0, newBoxes(2))); r.Code != http.StatusOK {
			t.Fatalf("register: %d %s", r.Code, r.Body)
		}
	}
	c.Admin(http.MethodDelete, "/api/admin/batches/dash-gone", nil)
	page := c.URL + "/#token=" + url.QueryEscape(servertest.AdminToken) + "&tab=batches"
	row := func(dom, id string) string {
		t.Helper()
		r := regexp.MustCompile(`(?s)<tr[^>]*data-testid="batch-row"[^>]*data-batch-id="` + id + `"[^>]*>.*?</tr>`).FindString(dom)
		if r == "" {
			t.Fatalf("no row for batch %s; DOM:\n%s", id, dom)
		}
		return r
	}
	dom := dumpDOM(t, page+"&lang=en", "--lang=en-US", "--accept-lang=en-US")
	live, gone := row(dom, "dash-live"), row(dom, "dash-gone")
	for _, want := range []string{"OpenClaw Box v1", `data-state="active"`, ">Active<", `data-testid="batch-devices">2<`, `data-testid="batch-pending">2<`, `data-testid="revoke-batch"`} {
		if !strings.Contains(live, want) {
			t.Errorf("live batch row lacks %q:\n%s", want, live)
		}
	}
	for _, want := range []string{">Revoked<", `data-testid="batch-deleted">2<`} {
		if !strings.Contains(gone, want) {
			t.Errorf("revoked batch row lacks %q:\n%s", want, gone)
		}
	}
	if strings.Contains(gone, "revoke-batch") {
		t.Errorf("a revoked batch offers revocation:\n%s", gone)
	}
	// A box is marked as one in the host list.
	hosts := c.Admin(http.MethodGet, "/api/hosts", nil).JSONList(t)
	box := hosts[0]["id"].(string)
	dom = dumpDOM(t, c.URL+"/#token="+url.QueryEscape(servertest.AdminToken)+"&lang=en", "--lang=en-US", "--accept-lang=en-US")
	if r := hostRow(t, dom, box); !strings.Contains(r, `data-kind="box"`) || !strings.Contains(r, "Box: runs only its owner’s instances") {
		t.Errorf("box row not marked as a box:\n%s", r)
	}
	dom = dumpDOM(t, page+"&lang=zh-CN", "--lang=en-US", "--accept-lang=en-US")
	for _, want := range []string{">出厂批次<", ">已吊销<", ">从未连接<"} {
		if !strings.Contains(dom, want) {
			t.Errorf("Chinese label %q not found", want)
		}
	}
}
