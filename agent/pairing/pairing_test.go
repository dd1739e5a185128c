package pairing

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/wifi"
	"github.com/clawfleet/clawfleet/agent/wifi/wifitest"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

const (
	testDevice = "dev_3q3zweu2fyb4oxhf"
	testCode   = "K7QM-2XWP-9RTD"
	testCloud  = "https://cloud.example.com"
)

var homeNets = []wifitest.Network{
	{AccessPoint: wifi.AccessPoint{SSID: "HomeNet", Signal: 80, Security: wifi.WPA}, Password: "correct horse"},
	{AccessPoint: wifi.AccessPoint{SSID: "Café 免费", Signal: 40, Security: wifi.Open}},
	{AccessPoint: wifi.AccessPoint{SSID: "Office", Signal: 30, Security: wifi.Enterprise}},
}

// fast are the options of a controller test: everything in milliseconds.
func fast(n Network) Options {
	return Options{Network: n, DeviceID: testDevice, ClaimCode: testCode, CloudURL: testCloud,
		LocalAddrs: []string{"127.0.0.1:0"}, PortalAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0",
		BootGrace: 150 * time.Millisecond, OfflineGrace: 200 * time.Millisecond, CheckInterval: 20 * time.Millisecond,
		RetrySaved: time.Hour, IdleBefore: time.Hour, RetryWait: 300 * time.Millisecond, SwitchDelay: 20 * time.Millisecond}
}

func start(t *testing.T, o Options) *Pairing {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

func mode(p *Pairing, want string) func() bool {
	return func() bool { return p.State().Mode == want }
}

func TestNamesAndClaimLink(t *testing.T) {
	if got := HotspotSSID("dev_3q3zweu2fyb4oxhf"); got != "OpenClaw-OXHF" {
		t.Errorf("HotspotSSID = %q", got)
	}
	for _, o := range []Options{{DeviceID: testDevice, ClaimCode: testCode}, {DeviceID: testDevice, CloudURL: testCloud}} {
		if p, err := New(o); err != nil || p.State().Claim.URL != "" || p.qr != nil {
			t.Errorf("%+v: a claim link without a cloud URL or a code (%v)", o, err)
		}
	}
}

// TestJoinFromPortal: offline at boot, the hotspot opens after a scan; a
// wrong password brings it back with the reason; the right one joins.
func TestJoinFromPortal(t *testing.T) {
	f := wifitest.New(homeNets...)
	f.JoinDelay = 30 * time.Millisecond
	p := start(t, fast(f))
	tstest.Await(t, "the hotspot", 5*time.Second, mode(p, ModeHotspot))
	if h := f.Hotspot(); h == nil || h.SSID != "OpenClaw-OXHF" || h.Address != wifi.DefaultHotspotAddress {
		t.Fatalf("hotspot %+v", h)
	}
	calls := f.Calls()
	if i, j := slices.Index(calls, "Scan"), slices.Index(calls, "StartHotspot OpenClaw-OXHF"); i < 0 || j < i {
		t.Fatalf("the scan must come before the hotspot (the radio cannot scan as an AP): %v", calls)
	}
	if st := p.State(); len(st.Networks) != 3 || st.Claim.URL != creds.ClaimURL(testCloud, testDevice, testCode) || p.PortalAddr() == "" || p.DNSAddr() == "" {
		t.Fatalf("state %+v, portal %q, dns %q", st, p.PortalAddr(), p.DNSAddr())
	}

	for _, tc := range []struct{ ssid, pw, key string }{
		{"Nowhere", "whatever1", "err.pick"},
		{"HomeNet", "short", "err.password"},
		{"Office", "whatever1", "reason.unsupported"},
	} {
		if key, ok := p.requestJoin(tc.ssid, tc.pw); ok || key != tc.key {
			t.Errorf("join %q/%q: %q %v, want %q", tc.ssid, tc.pw, key, ok, tc.key)
		}
	}

	if key, ok := p.requestJoin("HomeNet", "wrong password"); !ok {
		t.Fatalf("join refused: %s", key)
	}
	if key, ok := p.requestJoin("HomeNet", "wrong password"); ok || key != "err.busy" {
		t.Errorf("second join while busy: %q %v", key, ok)
	}
	tstest.Await(t, "the failed join's reason", 5*time.Second, func() bool {
		st := p.State()
		return st.Mode == ModeHotspot && st.Busy == "" && st.Last != nil && st.Last.Reason == wifi.ReasonWrongPassword
	})
	if f.Hotspot() == nil || f.Joined() != "" {
		t.Fatalf("after a wrong password the hotspot must be back: hotspot %v, joined %q", f.Hotspot(), f.Joined())
	}

	if key, ok := p.requestJoin("HomeNet", "correct horse"); !ok {
		t.Fatalf("join refused: %s", key)
	}
	tstest.Await(t, "online", 5*time.Second, mode(p, ModeOnline))
	if st := p.State(); f.Joined() != "HomeNet" || f.Hotspot() != nil || st.Last == nil || !st.Last.OK {
		t.Fatalf("joined %q, hotspot %v, last %+v", f.Joined(), f.Hotspot(), st.Last)
	}
	if p.PortalAddr() != "" || p.DNSAddr() != "" {
		t.Errorf("portal listeners left open online: %q %q", p.PortalAddr(), p.DNSAddr())
	}
}

// TestLocalPageBusyPort: a local page address already taken does not keep
// the box from opening its hotspot.
func TestLocalPageBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := wifitest.New(homeNets...)
	o := fast(f)
	o.LocalAddrs = []string{ln.Addr().String(), "127.0.0.1:0"}
	p := start(t, o)
	tstest.Await(t, "the hotspot", 5*time.Second, mode(p, ModeHotspot))
	if got := p.LocalAddrs(); len(got) != 1 || got[0] == ln.Addr().String() {
		t.Errorf("local page on %v", got)
	}
}

func TestOnlineAtBootAndOffline(t *testing.T) {
	f := wifitest.New(homeNets...)
	f.SetOnline(true)
	p := start(t, fast(f))
	time.Sleep(300 * time.Millisecond) // past BootGrace
	if st := p.State(); st.Mode != ModeOnline || f.Hotspot() != nil {
		t.Fatalf("online box: mode %s, hotspot %v", st.Mode, f.Hotspot())
	}
	// The cable goes: after OfflineGrace the hotspot opens; it comes back: the hotspot closes.
	f.SetOnline(false)
	tstest.Await(t, "the hotspot", 5*time.Second, mode(p, ModeHotspot))
	f.SetOnline(true)
	tstest.Await(t, "online again", 5*time.Second, func() bool { return p.State().Mode == ModeOnline && f.Hotspot() == nil })
}

// TestSavedNetworkRetry: the router was down at boot; with nobody on the
// portal the box drops the hotspot now and then to let its saved network
// back in.
func TestSavedNetworkRetry(t *testing.T) {
	f := wifitest.New(homeNets[1:]...) // HomeNet's router is still booting
	f.Save("HomeNet", "correct horse")
	o := fast(f)
	o.RetrySaved, o.IdleBefore = 200*time.Millisecond, 100*time.Millisecond
	p := start(t, o)
	tstest.Await(t, "the hotspot", 5*time.Second, mode(p, ModeHotspot))
	f.SetNetworks(homeNets...)
	tstest.Await(t, "back on the saved network", 5*time.Second, func() bool { return p.State().Mode == ModeOnline && f.Joined() == "HomeNet" })
}

func TestRescan(t *testing.T) {
	f := wifitest.New(homeNets[:1]...)
	p := start(t, fast(f))
	tstest.Await(t, "the hotspot", 5*time.Second, mode(p, ModeHotspot))
	f.SetNetworks(homeNets...)
	if key, ok := p.requestScan(); !ok {
		t.Fatal(key)
	}
	tstest.Await(t, "the new list", 5*time.Second, func() bool {
		st := p.State()
		return st.Mode == ModeHotspot && st.Busy == "" && len(st.Networks) == 3
	})
	if f.Hotspot() == nil {
		t.Fatal("hotspot not back after the scan")
	}
}

// TestProbes: on the hotspot every OS's connectivity probe, and any other
// foreign name, is sent to the portal, never given the answer that means
// "online"; the portal itself answers on its address. The local page
// answers only names a person uses for the box.
func TestProbes(t *testing.T) {
	p, err := New(Options{Network: wifitest.New(), DeviceID: testDevice, ClaimCode: testCode, CloudURL: testCloud})
	if err != nil {
		t.Fatal(err)
	}
	portal, local := p.handler(true), p.handler(false)
	success := regexp.MustCompile(`(?i)success|Microsoft Connect Test|Microsoft NCSI|NetworkManager is online`)
	for _, pr := range append(probeHosts, struct{ host, path, os string }{"example.org", "/some/page?x=1", "any page"}) {
		t.Run(pr.os+" "+pr.host, func(t *testing.T) {
			for _, method := range []string{"GET", "HEAD"} {
				w := httptest.NewRecorder()
				portal.ServeHTTP(w, httptest.NewRequest(method, "http://"+pr.host+pr.path, nil))
				if w.Code != http.StatusFound || w.Header().Get("Location") != "http://10.42.0.1/" {
					t.Fatalf("%s %s%s: %d Location %q, want 302 to the portal", method, pr.host, pr.path, w.Code, w.Header().Get("Location"))
				}
				if success.Match(w.Body.Bytes()) || w.Header().Get("Cache-Control") != "no-store" {
					t.Fatalf("probe answer looks like success or is cacheable: %q %v", w.Body, w.Header())
				}
			}
		})
	}
	for _, tc := range []struct {
		h            http.Handler
		method, url  string
		body, accept string
		code         int
		contains     string
	}{
		{portal, "GET", "http://10.42.0.1/", "", "en", 200, "Set up your OpenClaw box"},
		{portal, "GET", "http://10.42.0.1/", "", "zh-CN,zh;q=0.9,en;q=0.5", 200, "设置你的 OpenClaw 盒子"},
		{portal, "GET", "http://10.42.0.1/", "", "zh-TW", 200, `lang="zh-CN"`},
		{portal, "GET", "http://10.42.0.1/", "", "fr-FR,fr;q=0.9,zh;q=0.8,en;q=0.7", 200, `lang="zh-CN"`},
		{portal, "GET", "http://10.42.0.1/", "", "de", 200, `lang="en"`},
		{portal, "GET", "http://10.42.0.1/", "", "zh-CN,zh;q=0.9;q=0.9", 200, `lang="zh-CN"`},
		{portal, "GET", "http://10.42.0.1/?lang=zh-CN", "", "en", 200, "设置你的 OpenClaw 盒子"},
		{portal, "GET", "http://10.42.0.1/api/state", "", "", 200, `"hotspot":"OpenClaw-OXHF"`},
		{portal, "GET", "http://10.42.0.1/claim.svg", "", "", 200, "<svg"},
		{portal, "GET", "http://10.42.0.1/static/app.js", "", "", 200, "use strict"},
		{portal, "POST", "http://10.42.0.1/api/join", `{"ssid":"x","password":"y"}`, "zh-CN", 409, "盒子正忙"},
		{local, "GET", "http://127.0.0.1:8742/", "", "en", 200, "OpenClaw box"},
		{local, "GET", "http://openclaw-oxhf.local/", "", "en", 200, testCode},
		{local, "GET", "http://localhost:8742/api/state", "", "", 200, `"code":"` + testCode + `"`},
		{local, "GET", "http://captive.apple.com/hotspot-detect.html", "", "", 421, ""},
		{local, "GET", "http://evil.example/api/state", "", "", 421, ""},
		{local, "POST", "http://127.0.0.1:8742/api/join", `{"ssid":"x","password":"y"}`, "en", 403, "only be set up on the box's own hotspot"},
		{local, "POST", "http://127.0.0.1:8742/api/scan", `{}`, "en", 403, ""},
	} {
		r := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
		r.Header.Set("Accept-Language", tc.accept)
		if tc.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		tc.h.ServeHTTP(w, r)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("%s %s (%s): %d %.300q, want %d containing %q", tc.method, tc.url, tc.accept, w.Code, w.Body, tc.code, tc.contains)
		}
	}
	// A form post from another site (no JSON content type) is refused.
	r := httptest.NewRequest("POST", "http://10.42.0.1/api/join", strings.NewReader("ssid=x&password=y"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	portal.ServeHTTP(w, r)
	if w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("form post: %d", w.Code)
	}
}

func TestClaimedHidesNothingButSaysSo(t *testing.T) {
	p, err := New(Options{DeviceID: testDevice, ClaimCode: testCode, CloudURL: testCloud})
	if err != nil {
		t.Fatal(err)
	}
	p.SetClaimed(true)
	w := httptest.NewRecorder()
	p.handler(false).ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1/api/state", nil))
	var st State
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || !st.Claim.Claimed || st.Mode != ModeOnline {
		t.Fatalf("state %s (%v)", w.Body, err)
	}
}

// TestSetClaimCode: a reprinted label's code replaces the factory's on
// the pages, with its QR code.
func TestSetClaimCode(t *testing.T) {
	p, err := New(Options{DeviceID: testDevice, ClaimCode: testCode, CloudURL: testCloud})
	if err != nil {
		t.Fatal(err)
	}
	old := p.qrSVG()
	code := creds.NewClaimCode()
	if err := p.SetClaimCode(code); err != nil {
		t.Fatal(err)
	}
	st := p.State()
	if st.Claim.Code != code || st.Claim.URL != creds.ClaimURL(testCloud, testDevice, code) || bytes.Equal(p.qrSVG(), old) {
		t.Fatalf("after a new code: %+v", st.Claim)
	}
	w := httptest.NewRecorder()
	p.handler(false).ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1/", nil))
	if !strings.Contains(w.Body.String(), code) || strings.Contains(w.Body.String(), testCode) {
		t.Fatalf("the page does not show the new code only:\n%s", w.Body)
	}
}

func TestMessages(t *testing.T) {
	verbs := regexp.MustCompile(`%[a-z]`)
	for key, m := range messages {
		if m.En == "" || m.Zh == "" {
			t.Errorf("%s: missing a language", key)
		}
		if e, z := verbs.FindAllString(m.En, -1), verbs.FindAllString(m.Zh, -1); !slices.Equal(e, z) {
			t.Errorf("%s: verbs %v (en) and %v (zh)", key, e, z)
		}
	}
	for _, r := range []wifi.Reason{wifi.ReasonWrongPassword, wifi.ReasonNotFound, wifi.ReasonTimeout, wifi.ReasonNoAddress, wifi.ReasonUnsupported, wifi.ReasonFailed} {
		if _, ok := messages["reason."+string(r)]; !ok {
			t.Errorf("no message for reason %s", r)
		}
	}
	// Every key the page's script asks for exists.
	js, err := web.ReadFile("web/static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\bt\("([a-z.\-]+)"[,)]`).FindAllSubmatch(js, -1) {
		if _, ok := messages[string(m[1])]; !ok {
			t.Errorf("app.js asks for %q, which has no message", m[1])
		}
	}
}

func TestQRSVG(t *testing.T) {
	svg, err := qrSVG(creds.ClaimURL(testCloud, testDevice, testCode))
	if err != nil {
		t.Fatal(err)
	}
	// Version 4 (33 modules) or so for this URL, plus the quiet zone.
	m := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindSubmatch(svg)
	if m == nil || !bytes.Equal(m[1], m[2]) || len(m[1]) != 2 || !bytes.Contains(svg, []byte(`<path fill="#000" d="M4 4h7`)) {
		t.Fatalf("svg: %.200s", svg)
	}
}
