//go:build linux

package runtime

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// realOpenClaw returns the value of env naming the real OpenClaw gateway
// (a binary or an image); without it the test is skipped, or fails in CI.
func realOpenClaw(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must test the real OpenClaw gateway", env)
		}
		t.Skipf("%s not set: skipping the real OpenClaw gateway test", env)
	}
	return v
}

// probeTimed waits for /readyz the way the agent probes and returns how
// long it took from start.
func probeTimed(t *testing.T, addr string, start time.Time) time.Duration {
	t.Helper()
	waitReady(t, addr, 90*time.Second)
	return time.Since(start)
}

// TestProcessRealOpenClawTrustedProxy: the real gateway in its namespace,
// in trusted-proxy mode, gets ready by the agent's probe, takes the proxy
// path's identity, and refuses the same identity forged from another
// tenant's namespace.
func TestProcessRealOpenClawTrustedProxy(t *testing.T) {
	bin := realOpenClaw(t, "CLAWFLEET_OPENCLAW_BIN")
	needRoot(t)
	p, _ := newNetnsProcess(t, bin)
	ctx := ctxT(t)
	a := testSpec("ten_realproc01", freeBase(t))
	start := time.Now()
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := upstream(t, p, a.ID)
	t.Logf("real gateway ready in trusted-proxy mode at %s after %s", up, probeTimed(t, up, start).Round(100*time.Millisecond))

	// The attacker: a stand-in tenant of another process runtime (same
	// pool), in its own namespace.
	px, _ := newNetnsProcess(t, standinBin(t))
	x := testSpec("ten_realattk01", freeBase(t, a.Port))
	x.Owner = "mallory"
	if err := px.Ensure(ctx, x); err != nil {
		t.Fatal(err)
	}
	waitReady(t, upstream(t, px, x.ID), 10*time.Second)

	checkRealGateway(t, up, func(path string, headers ...string) (int, string, error) {
		return fromNetns(t, px, x.ID, "http://"+up+path, headers...)
	}, func() { allowForward(t, px, x.ID, p, a.ID) })
}

// checkRealGateway asserts what a real gateway in trusted-proxy mode for
// owner u1 answers on the proxy path (up, from this host) and to forged
// identities from another tenant (attack; let lets it past the network).
func checkRealGateway(t *testing.T, up string, attack func(path string, headers ...string) (int, string, error), let func()) {
	t.Helper()
	type answer struct {
		what    string
		code    int
		want    int
		comment string
	}
	var got []answer
	add := func(what string, code, want int, comment string) {
		got = append(got, answer{what, code, want, comment})
	}
	code, _, _ := get(up, "/readyz")
	add("proxy path, /readyz, no X-Forwarded-For", code, 403, "proxy_attribution_required")
	code, _, _ = get(up, "/readyz", "X-Forwarded-For: 127.0.0.1")
	add("proxy path, /readyz, X-Forwarded-For 127.0.0.1", code, 403, "loopback client")
	code, _, _ = get(up, "/readyz", "X-Forwarded-For: "+ProbeForwardedFor)
	add("proxy path, /readyz, the agent's probe", code, 200, "")
	code, body, _ := get(up, "/", proxied...)
	if !strings.Contains(body, "<title>OpenClaw Control</title>") {
		code = -3 // not the Control UI
	}
	add("proxy path, /, owner u1", code, 200, "the Control UI")
	code, _, _ = get(up, "/v1/models", proxied...)
	add("proxy path, GET /v1/models, owner u1", code, -2, "for comparison")
	code = wsUpgrade(t, up, "/", false, proxied...)
	add("proxy path, WebSocket upgrade, owner u1", code, 101, "")
	if attack != nil {
		forged := []string{proto.UserHeader + ": u1", "X-Forwarded-For: 203.0.113.7"}
		_, _, err := attack("/", forged...)
		add("other tenant's namespace, forged u1 (network)", map[bool]int{true: 0, false: -1}[err != nil], 0, "dropped between namespaces")
		let()
		// OpenClaw: proxy-shaped traffic from a source outside trustedProxies
		// is refused before any identity header is read.
		for _, path := range []string{"/", "/v1/models"} {
			code, body, _ = attack(path, forged...)
			if !strings.Contains(body, "proxy_attribution_required") {
				code = -3
			}
			add("other tenant's namespace, forged u1, GET "+path, code, 403, "proxy_attribution_required")
		}
	}
	for _, a := range got {
		t.Logf("%-55s → %d (%s)", a.what, a.code, a.comment)
		if a.want != -2 && a.code != a.want {
			t.Errorf("%s: %d, want %d", a.what, a.code, a.want)
		}
	}
}
