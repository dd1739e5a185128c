package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/clawfleet/clawfleet/cloud/login/logintest"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestConsoleEndToEnd: the real cloud and agent processes, the stand-in
// gateway on the process runtime, mockoidc as the OIDC provider, and the
// console in Chromium: sign in, create, see it reach running by the pushed
// status, read its logs, open it through the router and the tunnel in a
// new tab, delete it.
func TestConsoleEndToEnd(t *testing.T) {
	tstest.Chromium(t)
	idp := logintest.NewOIDC(t)
	oc := idp.Config("oidc")
	port := freePort(t)
	c := &cloud{t: t, dataDir: t.TempDir(), httpPort: port, mqttPort: freePort(t), wgPort: freePort(t), adminToken: "cfa_integration_admin_token_0123456789",
		extraEnv: []string{
			"CLAWFLEET_PUBLIC_URL=http://127.0.0.1:" + strconv.Itoa(port),
			"CLAWFLEET_OIDC_ISSUER=" + oc.Issuer, "CLAWFLEET_OIDC_CLIENT_ID=" + oc.ClientID, "CLAWFLEET_OIDC_CLIENT_SECRET=" + oc.ClientSecret,
			"CLAWFLEET_PLANS_FILE=" + writePlans(t, "unused", 250),
			"CLAWFLEET_TENANT_PORT_BASE=" + fmt.Sprint(tstest.TenantPortBase(t)),
		}}
	c.start()
	token, _ := c.enrollToken(1, "1h")
	a := c.enrollAgent(token, "console-host")
	a.start("--runtime", "process", "--openclaw-bin", bin("standin"))
	tstest.Await(t, "the host online", 30*time.Second, func() bool { return c.hosts()[a.deviceID].Status == "online" })

	p := servertest.NewPage(t, "en-US")
	p.Navigate(c.url("/console"))
	idp.QueueUser(&mockoidc.MockUser{Subject: "e2e-alice", Email: "alice@example.com", EmailVerified: true})
	p.Click(`[data-testid="provider-oidc"]`)
	p.Wait(`[data-testid="instances-empty"]`)
	p.Wait(`[data-testid="live"][data-live="true"]`)
	p.Click(`[data-testid="create-open"]`)
	p.Type(`[data-testid="create-name"]`, "End to end")
	p.Click(`[data-testid="create-submit"]`)
	p.Wait(`[data-testid="instance"]`)
	id := p.Attr(`[data-testid="instance"]`, "data-id")
	start := time.Now()
	p.WaitFor(`[data-testid="instance"][data-status="running"]`, 90*time.Second)
	t.Logf("tenant %s running %s after the console showed it", id, time.Since(start).Round(time.Millisecond))

	// The stand-in's log, read as time and message.
	p.Click(`[data-testid="instance"] [data-testid="logs"]`)
	p.WaitFor(`tr[data-testid="log-line"]`, 30*time.Second)
	p.Poll("the stand-in's start in the log", `document.querySelector('[data-testid="log-table"]').innerText.includes('listening on')`)
	p.Click(`[data-testid="logs-back"]`)

	// Open: the new tab is the gateway itself, through the router.
	newTab := chromedp.WaitNewTarget(p.Ctx, func(info *target.Info) bool { return strings.Contains(info.URL, ".localhost") })
	p.Click(`[data-testid="instance"][data-status="running"] [data-testid="open"]`)
	select {
	case tid := <-newTab:
		tctx, cancel := chromedp.NewContext(p.Ctx, chromedp.WithTargetID(tid))
		defer cancel()
		tab := &servertest.Page{T: t, Ctx: tctx}
		tab.Poll("the gateway's page in the new tab", `document.body && document.body.innerText.includes('clawfleet stand-in gateway')`)
	case <-time.After(30 * time.Second):
		t.Fatal("Open made no new tab to the gateway")
	}

	slug := strings.SplitN(strings.TrimPrefix(p.Text(`[data-testid="instance"] [data-testid="url"]`), "http://"), ".", 2)[0]
	p.Click(`[data-testid="instance"] [data-testid="delete"]`)
	p.Type(`[data-testid="delete-confirm-input"]`, slug)
	p.Click(`[data-testid="delete-confirm"]`)
	p.Wait(`[data-testid="instances-empty"]`)
	tstest.Await(t, "the gateway process gone", 30*time.Second, func() bool { return processGone(id) })
}
