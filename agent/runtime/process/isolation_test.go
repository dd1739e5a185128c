//go:build linux

package process

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/netns"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/firewall"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// newNetnsProcess starts a process runtime that must use network namespaces.
func newNetnsProcess(t *testing.T, bin string) (*Runtime, string) {
	t.Helper()
	dataDir := filepath.Join(runtimetest.Dir(t), "tenants")
	removeNetns(t, dataDir)
	p, err := New(Options{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, Network: runtime.IsolationNetns, NetnsPool: runtimetest.NetnsPool, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if p.Isolation() != runtime.IsolationNetns {
		t.Fatal(p.Isolation())
	}
	return p, dataDir
}

// fromNetns runs the stand-in's fetch client inside tenant id's namespace
// as the unprivileged gateway uid, as a process of that tenant would.
func fromNetns(t *testing.T, p *Runtime, id string, url string, headers ...string) (code int, body string, err error) {
	t.Helper()
	tn, err := p.nets.Plan(id, p.tenant(id, false).spec.Port)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"nsenter", "--net=" + tn.Path(), "--", "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--", runtimetest.Standin(t), "fetch", url}, headers...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return 0, string(out), fmt.Errorf("%v: %s", err, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	code, _ = strconv.Atoi(first)
	return code, rest, nil
}

// allowForward lets tenant from's namespace reach tenant to's for the rest
// of the test (or the next firewall check), past the agent's
// tenant-to-tenant drop, so the gateway's own refusal can be seen.
func allowForward(t *testing.T, pFrom *Runtime, from string, pTo *Runtime, to string) {
	t.Helper()
	a, _ := pFrom.nets.Plan(from, pFrom.tenant(from, false).spec.Port)
	b, _ := pTo.nets.Plan(to, pTo.tenant(to, false).spec.Port)
	// Each agent's table keeps others out of its own tenants: open both.
	for _, nets := range []*netns.Manager{pFrom.nets, pTo.nets} {
		openHole(t, nets, firewall.Rule{In: a.HostIf, Out: b.HostIf, Verdict: firewall.Accept},
			firewall.Rule{In: b.HostIf, Out: a.HostIf, Verdict: firewall.Accept}) // the answers
		if pTo.nets == pFrom.nets {
			break
		}
	}
}

// openHole puts rules first in the agent's forward chain until the test
// ends.
func openHole(t *testing.T, nets *netns.Manager, rules ...firewall.Rule) {
	t.Helper()
	for _, r := range rules {
		if err := firewall.Insert(nets.TableName(), "forward", r); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { nets.Reinstall() })
}

func netnsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestProcessNetnsIsolation: two tenants in their own namespaces; the
// proxy path (the host side of a tenant's veth) is trusted, a process in
// another tenant's namespace forging the user header is not.
func TestProcessNetnsIsolation(t *testing.T) {
	runtimetest.RequireRoot(t, "network namespaces")
	p, dataDir := newNetnsProcess(t, runtimetest.Standin(t))
	ctx := runtimetest.Ctx(t)
	a := runtimetest.Spec("ten_isoalpha01", runtimetest.FreeBase(t))
	b := runtimetest.Spec("ten_isobravo02", runtimetest.FreeBase(t, a.Port))
	b.Owner = "u2"
	for _, s := range []proto.TenantSpec{a, b} {
		if err := p.Ensure(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	upA, upB := runtimetest.Upstream(t, p, a.ID), runtimetest.Upstream(t, p, b.ID)
	runtimetest.WaitReady(t, upA, 10*time.Second)
	runtimetest.WaitReady(t, upB, 10*time.Second)

	// Separate namespaces, each tenant's own unprivileged uid.
	self := netnsInode(t, "/proc/self/ns/net")
	pidA, pidB := readPid(t, dataDir, a.ID), readPid(t, dataDir, b.ID)
	nsA, nsB := netnsInode(t, fmt.Sprintf("/proc/%d/ns/net", pidA)), netnsInode(t, fmt.Sprintf("/proc/%d/ns/net", pidB))
	if nsA == self || nsB == self || nsA == nsB {
		t.Fatalf("namespaces: host %d, A %d, B %d", self, nsA, nsB)
	}
	uidA, _, _ := p.tenantIDs(a.ID)
	uidB, _, _ := p.tenantIDs(b.ID)
	if procUID(pidA) != strconv.Itoa(uidA) || procUID(pidB) != strconv.Itoa(uidB) || uidA == uidB {
		t.Fatalf("gateways run as %s and %s", procUID(pidA), procUID(pidB))
	}
	if host, _, _ := net.SplitHostPort(upB); strings.HasPrefix(host, "127.") {
		t.Fatalf("upstream %s on loopback", upB)
	}
	if _, _, err := runtimetest.Get(net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port)), "/healthz"); err == nil {
		t.Fatal("gateway answers on the host's loopback")
	}

	// The proxy path: the owner's headers are passed and echoed.
	code, body, err := runtimetest.Get(upB, "/__standin/whoami", append([]string{proto.UserHeader + ": u2"}, runtimetest.Proxied[1:]...)...)
	var who map[string]string
	json.Unmarshal([]byte(body), &who)
	if err != nil || code != 200 || who["user"] != "u2" || who["xff"] != "203.0.113.7" || who["xfProto"] != "https" || who["xfHost"] != "t.example.com" {
		t.Fatalf("whoami via the proxy path: %d %s %v", code, body, err)
	}
	tnB, _ := p.nets.Plan(b.ID, b.Port)
	if !strings.HasPrefix(who["remoteAddr"], tnB.Host.String()+":") {
		t.Fatalf("proxy path arrives from %s, want %s", who["remoteAddr"], tnB.Host)
	}
	if c := runtimetest.WSUpgrade(t, upB, "/__standin/ws", true, proto.UserHeader+": u2", "X-Forwarded-For: 203.0.113.7"); c != 101 {
		t.Fatalf("owner's WebSocket: %d", c)
	}
	if c := runtimetest.WSUpgrade(t, upB, "/__standin/ws", false, proto.UserHeader+": u1", "X-Forwarded-For: 203.0.113.7"); c != 403 {
		t.Fatalf("other user's WebSocket: %d", c)
	}
	// Readiness needs a non-loopback client named.
	for _, tc := range []struct {
		xff  string
		want int
	}{{"", 403}, {"127.0.0.1", 403}, {runtime.ProbeForwardedFor, 200}} {
		h := []string{}
		if tc.xff != "" {
			h = append(h, "X-Forwarded-For: "+tc.xff)
		}
		if code, _, _ := runtimetest.Get(upB, "/readyz", h...); code != tc.want {
			t.Errorf("/readyz with X-Forwarded-For %q: %d, want %d", tc.xff, code, tc.want)
		}
	}

	// A process in A's namespace, as the gateways' uid, forging B's owner:
	// dropped between the namespaces, and refused by B when let through.
	forged := []string{proto.UserHeader + ": u2", "X-Forwarded-For: 203.0.113.7"}
	if code, out, err := fromNetns(t, p, a.ID, "http://"+upB+"/__standin/whoami", forged...); err == nil {
		t.Fatalf("A's namespace reached B through the host: %d %s", code, out)
	}
	allowForward(t, p, a.ID, p, b.ID)
	if code, out, err := fromNetns(t, p, a.ID, "http://"+upB+"/__standin/whoami", forged...); err != nil || code != 401 || !strings.Contains(out, "untrusted_source") {
		t.Fatalf("forged user from A's namespace: %d %q %v", code, out, err)
	}
	// Nor can it act as its own owner towards its own gateway.
	if code, out, err := fromNetns(t, p, a.ID, "http://"+upA+"/__standin/whoami", proto.UserHeader+": u1", "X-Forwarded-For: 203.0.113.7"); err != nil || code != 401 {
		t.Fatalf("forged user to its own gateway: %d %q %v", code, out, err)
	}

	// Converge: a restart of the gateway reuses its healthy namespace.
	ino := netnsInode(t, filepath.Join(netns.Dir, tnB.NS))
	b.RestartGen++
	if err := p.Ensure(ctx, b); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, upB, 10*time.Second)
	if netnsInode(t, filepath.Join(netns.Dir, tnB.NS)) != ino {
		t.Fatal("restart made a new namespace")
	}

	// Agent restart: the namespaces of known tenants are kept, a leftover
	// of an unknown tenant is removed, a broken one is repaired.
	tnA, _ := p.nets.Plan(a.ID, a.Port)
	p.Close()
	stray := "cf-" + p.nets.Tag() + "-stray00000"
	for _, ns := range []string{stray, tnA.NS} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	p2, err := New(Options{OpenClawBin: runtimetest.Standin(t), DataDir: dataDir, StopTimeout: 3 * time.Second, Network: runtime.IsolationNetns, NetnsPool: runtimetest.NetnsPool, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if _, err := os.Stat(filepath.Join(netns.Dir, stray)); err == nil {
		t.Fatal("stray namespace kept")
	}
	if _, err := os.Stat(tnA.Path()); err != nil {
		t.Fatal("namespace of a known tenant removed at start")
	}
	if err := p2.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, upA, 10*time.Second)
	// Remove and Purge take the namespace along.
	if err := p2.Ensure(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := p2.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := p2.Purge(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{tnA.NS, tnB.NS} {
		if _, err := os.Stat(filepath.Join(netns.Dir, ns)); err == nil {
			t.Fatalf("namespace %s left after Remove/Purge", ns)
		}
	}
	tstest.AwaitErr(t, "the veth to go with its namespace", 5*time.Second, func() error {
		if out, _ := exec.Command("ip", "-o", "link", "show", tnA.HostIf).CombinedOutput(); strings.Contains(string(out), tnA.HostIf+"@") {
			return fmt.Errorf("veth left: %s", out)
		}
		return nil
	})
}

// TestProcessLoopbackFallback: without namespaces the gateway trusts
// 127.0.0.1 (allowLoopback) and the instance says so.
func TestProcessLoopbackFallback(t *testing.T) {
	dataDir := filepath.Join(runtimetest.Dir(t), "tenants")
	p, err := New(Options{OpenClawBin: runtimetest.Standin(t), DataDir: dataDir, StopTimeout: 3 * time.Second, Network: runtime.IsolationLoopback, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := runtimetest.Ctx(t)
	a := runtimetest.Spec("ten_loopback01", runtimetest.FreeBase(t))
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := runtimetest.Upstream(t, p, a.ID)
	if up != net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port)) {
		t.Fatal(up)
	}
	runtimetest.WaitReady(t, up, 10*time.Second)
	list, _ := p.List(ctx)
	if in, _ := runtimetest.Find(list, a.ID); in.Isolation != runtime.IsolationLoopback {
		t.Fatalf("%+v", in)
	}
	if code, _, _ := runtimetest.Get(up, "/readyz"); code != 403 {
		t.Fatalf("/readyz without X-Forwarded-For: %d", code)
	}
	if code, body, _ := runtimetest.Get(up, "/__standin/whoami", runtimetest.Proxied...); code != 200 || !strings.Contains(body, `"user":"u1"`) {
		t.Fatalf("whoami: %d %s", code, body)
	}
}

// TestNetnsWithoutIptables: the isolation tests pass the same on a machine
// without the iptables (or nft) binaries, a minimal Debian or a box image:
// the agent programs the kernel's nftables over netlink.
func TestNetnsWithoutIptables(t *testing.T) {
	runtimetest.RequireRoot(t, "network namespaces")
	tstest.RunWithout(t, []string{"TestProcessNetnsIsolation", "TestProcessNetnsForwarding"},
		"iptables", "iptables-restore", "iptables-nft", "iptables-legacy", "ip6tables", "nft")
}
