//go:build linux

package process

import (
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
)

// TestProcessRealOpenClawTrustedProxy: the real gateway in its namespace,
// in trusted-proxy mode, gets ready by the agent's probe, takes the proxy
// path's identity, and refuses the same identity forged from another
// tenant's namespace.
func TestProcessRealOpenClawTrustedProxy(t *testing.T) {
	bin := runtimetest.RealOpenClaw(t, "CLAWFLEET_OPENCLAW_BIN")
	runtimetest.RequireRoot(t, "network namespaces")
	p, _ := newNetnsProcess(t, bin)
	ctx := runtimetest.Ctx(t)
	a := runtimetest.Spec("ten_realproc01", runtimetest.FreeBase(t))
	start := time.Now()
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := runtimetest.Upstream(t, p, a.ID)
	t.Logf("real gateway ready in trusted-proxy mode at %s after %s", up, runtimetest.ProbeTimed(t, up, start).Round(100*time.Millisecond))

	// The attacker: a stand-in tenant of another process runtime (same
	// pool), in its own namespace.
	px, _ := newNetnsProcess(t, runtimetest.Standin(t))
	x := runtimetest.Spec("ten_realattk01", runtimetest.FreeBase(t, a.Port))
	x.Owner = "mallory"
	if err := px.Ensure(ctx, x); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, runtimetest.Upstream(t, px, x.ID), 10*time.Second)

	runtimetest.CheckRealGateway(t, up, func(path string, headers ...string) (int, string, error) {
		return fromNetns(t, px, x.ID, "http://"+up+path, headers...)
	}, func() { allowForward(t, px, x.ID, p, a.ID) })
}
