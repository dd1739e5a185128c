package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/app"
	"github.com/clawfleet/clawfleet/cloud/config"
)

const chromiumPath = "/usr/bin/chromium"

// dashAdminToken is the admin token of the test cloud (32+ characters).
const dashAdminToken = "cfa_dashboard-test-admin-token-0123456789"

// TestDashboard loads the embedded dashboard in a real headless Chromium
// against an in-process cloud and checks what it rendered.
func TestDashboard(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; CI must install the Debian package chromium: %v", chromiumPath, err)
		}
		t.Skipf("%s is missing (apt-get install -y chromium); skipping the browser test", chromiumPath)
	}
	base := startDashCloud(t)

	t.Run("EmptyState", func(t *testing.T) {
		dom := dumpDOM(t, base+"/#token="+url.QueryEscape(dashAdminToken)+"&lang=en", "--lang=en-US", "--accept-lang=en-US")
		empty := regexp.MustCompile(`<div[^>]*id="hosts-empty"[^>]*>`).FindString(dom)
		if empty == "" || strings.Contains(empty, "hidden") || !strings.Contains(dom, "No hosts yet") {
			t.Errorf("empty state not shown for a cloud without hosts: %q", empty)
		}
		if strings.Contains(dom, `data-testid="host-row"`) {
			t.Errorf("host rows on an empty cloud")
		}
	})

	hostID := provisionDashHost(t, base, "dash-host-1")

	t.Run("HostsEnglish", func(t *testing.T) {
		dom := dumpDOM(t, base+"/#token="+url.QueryEscape(dashAdminToken), "--lang=en-US", "--accept-lang=en-US")
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
		if strings.Contains(dom, dashAdminToken) {
			t.Errorf("the admin token appears in the page")
		}
	})

	t.Run("Chinese", func(t *testing.T) {
		dom := dumpDOM(t, base+"/#token="+url.QueryEscape(dashAdminToken)+"&lang=zh-CN", "--lang=en-US", "--accept-lang=en-US")
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
		dom := dumpDOM(t, base+"/#token="+url.QueryEscape(dashAdminToken), "--lang=zh-CN", "--accept-lang=zh-CN")
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
	})

	// A screenshot for people working on the page, on request only:
	// CLAWFLEET_DASHBOARD_SCREENSHOT=/tmp/dash.png go test ./cloud/api/ -run Dashboard
	if shot := os.Getenv("CLAWFLEET_DASHBOARD_SCREENSHOT"); shot != "" {
		runChromium(t, base+"/#token="+url.QueryEscape(dashAdminToken), "--screenshot="+shot, "--window-size=1280,800")
		t.Logf("screenshot written to %s", shot)
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

// startDashCloud runs a whole cloud in-process and returns its base URL.
func startDashCloud(t *testing.T) string {
	t.Helper()
	cfg, err := config.Load([]string{
		"--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--admin-token", dashAdminToken,
	}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log, io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("cloud stopped with: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("cloud did not stop")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("cloud failed to start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("cloud did not become ready")
	}
	return "http://" + a.HTTPAddr().String()
}

// provisionDashHost creates a host through the admin API and returns its id.
func provisionDashHost(t *testing.T, base, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	req, err := http.NewRequest(http.MethodPost, base+"/api/admin/devices", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+dashAdminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("provision: %s: %s", res.Status, raw)
	}
	var out struct {
		DeviceID string `json:"deviceId"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.DeviceID == "" {
		t.Fatalf("provision: bad response %s (%v)", raw, err)
	}
	return out.DeviceID
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
	return runChromium(t, pageURL, append([]string{"--dump-dom"}, extra...)...)
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
	cmd := exec.CommandContext(ctx, chromiumPath, args...)
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
