package pairing

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/clawfleet/clawfleet/agent/wifi/wifitest"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// phoneUA is an iPhone's Safari: the page must work in a captive-portal
// sheet, which is that browser.
const phoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"

// TestPortalInChromium runs the portal in real headless Chromium on a
// phone-sized screen, with every host name resolved to the portal (as the
// captive DNS does on the hotspot): the phone's probe lands on the portal;
// the owner picks a network; a too-short password is refused on the page;
// a wrong one comes back from the box as an error in the page's language
// with the hotspot up again; the right one shows the claim QR code, the
// code and what to do next. In English (from Accept-Language, then
// switched to Chinese by the link) and in Chinese.
func TestPortalInChromium(t *testing.T) {
	tstest.Chromium(t)
	for _, tc := range []struct {
		name, acceptLang string
		switchToZh       bool
		want             map[string]string // element id → text it must contain
	}{
		{"en", "en-US,en", false, map[string]string{
			"short": "8 to 63 characters", "wrong": "the password was not accepted",
			"next": "rejoin HomeNet on this phone", "title": "Set up your OpenClaw box"}},
		{"zh-CN", "zh-CN,zh", false, map[string]string{
			"short": "8 到 63 个字符", "wrong": "密码不正确",
			"next": "重新连接 HomeNet", "title": "设置你的 OpenClaw 盒子"}},
		{"en-switched-to-zh", "en-GB", true, map[string]string{
			"short": "8 到 63 个字符", "wrong": "密码不正确",
			"next": "重新连接 HomeNet", "title": "设置你的 OpenClaw 盒子"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := wifitest.New(homeNets...)
			f.JoinDelay = 200 * time.Millisecond
			o := fast(f)
			o.SwitchDelay = 300 * time.Millisecond
			p := start(t, o)
			tstest.Await(t, "the hotspot", 5*time.Second, mode(p, ModeHotspot))
			ctx := phone(t, p.PortalAddr(), tc.acceptLang)
			run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				c, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				if err := chromedp.Do(c, actions...); err != nil {
					t.Fatalf("%s: %v\npage: %s", what, err, pageText(ctx))
				}
			}
			text := func(sel string) string {
				t.Helper()
				s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("text of %s: %v", sel, err)
				}
				return s
			}

			// The phone's own probe, as iOS sends it on joining the hotspot.
			if err := chromedp.Do(ctx, chromedp.Navigate("http://captive.apple.com/hotspot-detect.html")); err != nil {
				t.Fatalf("navigate: %v", err)
			}
			if tc.switchToZh {
				run("switch to Chinese", chromedp.WaitVisible(chromedp.CSS("#lang")), chromedp.Click(chromedp.CSS("#lang")),
					chromedp.WaitVisible(chromedp.CSS(`html[lang="zh-CN"]`)))
			}
			run("the network list", chromedp.WaitVisible(chromedp.CSS(`button.network[data-ssid="HomeNet"]`)))
			if got := text("h1"); !strings.Contains(got, tc.want["title"]) {
				t.Errorf("title %q, want %q", got, tc.want["title"])
			}
			if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, "http://10.42.0.1:") {
				t.Errorf("the probe was not sent to the portal at the hotspot's address: at %s", loc)
			}

			// Too short: refused on the page, nothing sent to the box.
			run("a short password", chromedp.Click(chromedp.CSS(`button.network[data-ssid="HomeNet"]`)),
				chromedp.WaitVisible(chromedp.CSS("#password")), chromedp.SendKeys(chromedp.CSS("#password"), "short"),
				chromedp.Click(chromedp.CSS("#join-btn")), chromedp.WaitVisible(chromedp.CSS("#join-error")))
			if got := text("#join-error"); !strings.Contains(got, tc.want["short"]) {
				t.Errorf("short password error %q, want %q", got, tc.want["short"])
			}

			// Wrong: the box tries, fails, reopens the hotspot and says why.
			run("a wrong password", chromedp.Clear(chromedp.CSS("#password")), chromedp.SendKeys(chromedp.CSS("#password"), "wrong password"),
				chromedp.Click(chromedp.CSS("#join-btn")), chromedp.WaitVisible(chromedp.CSS("#joining")))
			shot(t, ctx, tc.name+"-joining")
			run("the wrong password's error", chromedp.WaitVisible(chromedp.CSS("#error")), chromedp.WaitVisible(chromedp.CSS("#setup")))
			if got := text("#error"); !strings.Contains(got, tc.want["wrong"]) || !strings.Contains(got, "HomeNet") {
				t.Errorf("wrong password error %q, want %q", got, tc.want["wrong"])
			}
			if f.Hotspot() == nil {
				t.Error("the hotspot is not back up after the wrong password")
			}
			shot(t, ctx, tc.name+"-wrong-password")

			// Right: what to do next, with the claim QR code and code.
			run("the right password", chromedp.Click(chromedp.CSS(`button.network[data-ssid="HomeNet"]`)),
				chromedp.WaitVisible(chromedp.CSS("#password")), chromedp.SendKeys(chromedp.CSS("#password"), "correct horse"),
				chromedp.Click(chromedp.CSS("#join-btn")), chromedp.WaitVisible(chromedp.CSS("#claim")), chromedp.WaitVisible(chromedp.CSS("#qr")))
			if got := text("#next-ok"); !strings.Contains(got, tc.want["next"]) {
				t.Errorf("next steps %q, want %q", got, tc.want["next"])
			}
			if got := text("#claim-code"); got != testCode {
				t.Errorf("claim code %q", got)
			}
			if got := text("#claim-url"); got != creds.ClaimURL(testCloud, testDevice, testCode) {
				t.Errorf("claim link %q", got)
			}
			qrW, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.getElementById("qr").naturalWidth`))
			if err != nil || qrW == 0 {
				t.Errorf("the QR code image did not load (width %d, %v)", qrW, err)
			}
			tstest.Await(t, "the box on HomeNet", 5*time.Second, func() bool { return f.Joined() == "HomeNet" })
			png := shot(t, ctx, tc.name+"-claim")
			checkQR(t, png, creds.ClaimURL(testCloud, testDevice, testCode))
			// The box has left its hotspot: the page keeps the steps and says so.
			run("the box gone", chromedp.WaitVisible(chromedp.CSS("#lost")), chromedp.WaitVisible(chromedp.CSS("#qr")))
		})
	}
}

// TestLocalPageInChromium: the box's local page shows the claim QR and
// code while unclaimed.
func TestLocalPageInChromium(t *testing.T) {
	tstest.Chromium(t)
	f := wifitest.New(homeNets...)
	f.SetOnline(true)
	p := start(t, fast(f))
	tstest.Await(t, "the local page", 5*time.Second, func() bool { return len(p.LocalAddrs()) == 1 })
	ctx := phone(t, "", "zh-CN")
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+p.LocalAddrs()[0]+"/")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(c, chromedp.WaitVisible(chromedp.CSS("#qr")), chromedp.WaitVisible(chromedp.CSS("#claim-code"))); err != nil {
		t.Fatalf("%v\npage: %s", err, pageText(ctx))
	}
	if got, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#status"))); got != "盒子已联网。" {
		t.Errorf("status %q", got)
	}
	checkQR(t, shot(t, ctx, "local-page"), creds.ClaimURL(testCloud, testDevice, testCode))
	p.SetClaimed(true)
	if err := chromedp.Do(c, chromedp.WaitVisible(chromedp.CSS("#claimed")), chromedp.WaitNotVisible(chromedp.CSS("#claim"))); err != nil {
		t.Fatalf("claimed: %v", err)
	}
}

// phone starts headless Chromium with a 390×844 phone screen. With
// portal set, every host name resolves to it.
func phone(t *testing.T, portal, acceptLang string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(tstest.ChromiumPath), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.Env("HOME="+t.TempDir()))
	if portal != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", "MAP * "+portal))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: phoneUA, AcceptLanguage: acceptLang}); err != nil {
				return err
			}
			// The phone's language as its browser sends it.
			if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": acceptLang}})
			return err
		})); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func pageText(ctx context.Context) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return err.Error()
	}
	return s
}

// shot takes a screenshot of the page; CLAWFLEET_SCREENSHOTS=dir keeps them.
func shot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if dir := os.Getenv("CLAWFLEET_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "pairing-"+name+".png"), png, 0o644)
	}
	return png
}

// checkQR reads the QR code off the screenshot with zbarimg (Debian's
// zbar-tools), when installed: what the phone's camera would read.
func checkQR(t *testing.T, png []byte, want string) {
	t.Helper()
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("zbarimg is missing; CI must install zbar-tools")
		}
		t.Logf("zbarimg missing (apt-get install zbar-tools): QR code not decoded")
		return
	}
	path := filepath.Join(t.TempDir(), "shot.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != want {
		t.Errorf("QR code on the page reads %q (%v), want %q", got, err, want)
	} else {
		t.Logf("QR code read back: %s", got)
	}
}
