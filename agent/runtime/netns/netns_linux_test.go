package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
)

// blackholes lists the pool's blackhole routes as `ip -o route` shows them.
func blackholes(t *testing.T, pool string) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "route", "show", "exact", pool, "type", "blackhole").Output()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	return got
}

// TestPoolBlackholeRoute: each agent holds the pool's blackhole route with
// a metric of its own, a restart replaces it rather than adding another, one
// left by an earlier agent (metric 0) is cleared, and Close removes the
// agent's own route only: a stopped agent leaves nothing in the routing
// table, and another agent on the same pool keeps its protection.
func TestPoolBlackholeRoute(t *testing.T) {
	runtimetest.RequireRoot(t, "routes")
	const pool = "10.233.0.0/16" // no other test's
	t.Cleanup(func() {
		for range 4 {
			exec.Command("ip", "route", "del", "blackhole", pool).Run()
		}
	})
	if out, err := exec.Command("ip", "route", "replace", "blackhole", pool).CombinedOutput(); err != nil {
		t.Fatalf("legacy route: %v %s", err, out)
	}
	dir := runtimetest.Dir(t)
	open := func(name string) *Manager {
		m, err := New(pool, filepath.Join(dir, name), false, runtimetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := open("a"), open("b")
	route := func(m *Manager) string { return strings.Join(m.blackhole(), " ") }
	want := []string{route(a), route(b)}
	slices.Sort(want)
	if got := blackholes(t, pool); !slices.Equal(got, want) || want[0] == want[1] {
		t.Fatalf("routes %q, want %q", got, want)
	}
	open("a") // a restart of a
	if got := blackholes(t, pool); !slices.Equal(got, want) {
		t.Fatalf("after a restart: routes %q, want %q", got, want)
	}
	a.Close()
	a.Close()
	if got := blackholes(t, pool); !slices.Equal(got, []string{route(b)}) {
		t.Fatalf("after a's Close: routes %q, want b's only", got)
	}
	b.Close()
	if got := blackholes(t, pool); len(got) != 0 {
		t.Fatalf("after both closed: routes %q", got)
	}
	// Nor a firewall table, even when asked to repair one after Close.
	for _, m := range []*Manager{a, b} {
		m.Reinstall()
		m.CheckForwarding()
		if m.FirewallInstalled() {
			t.Fatalf("table %s left after Close", m.TableName())
		}
	}
}

// TestNoFirewallFailsClosed: where the kernel firewall cannot be
// programmed the manager refuses, saying how to allow weaker isolation,
// and leaves nothing behind; allowed, it runs without and says so.
func TestNoFirewallFailsClosed(t *testing.T) {
	runtimetest.RequireRoot(t, "network namespaces")
	const pool = "10.234.0.0/16" // no other test's
	orig := firewallAvailable
	firewallAvailable = func() error { return errors.New("nf_tables: operation not supported") }
	t.Cleanup(func() { firewallAvailable = orig })
	dir := runtimetest.Dir(t)
	_, err := New(pool, dir, false, runtimetest.Logger(t))
	if !errors.Is(err, ErrNoFirewall) || !strings.Contains(err.Error(), "CLAWFLEET_ALLOW_WEAK_ISOLATION") {
		t.Fatalf("New without a firewall: %v, want ErrNoFirewall naming CLAWFLEET_ALLOW_WEAK_ISOLATION", err)
	}
	if got := blackholes(t, pool); len(got) != 0 {
		t.Fatalf("a refused manager left routes %q", got)
	}
	m, err := New(pool, dir, true, runtimetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Filters() || m.FirewallInstalled() {
		t.Fatal("weak isolation allowed, yet a firewall reported")
	}
}

// TestEnsureAndAddressCollision: a tenant's network is made whole (the
// namespace, both ends of its veth addressed and up, the default route),
// found whole again without being rebuilt, and refused, naming the
// interface, when another interface of the host holds its /30.
func TestEnsureAndAddressCollision(t *testing.T) {
	m, tn := planned(t, "10.234.0.0/16", "ten_netnstest01", 20000) // a pool no other test's
	t.Cleanup(func() { m.Remove("ten_netnstest01") })
	if err := m.Ensure(tn); err != nil {
		t.Fatal(err)
	}
	if !m.healthy(tn) {
		t.Fatal("the namespace made is not whole")
	}
	ino := func() string {
		out, _ := exec.Command("stat", "-L", "-c", "%i", tn.Path()).Output()
		return strings.TrimSpace(string(out))
	}
	before := ino()
	if err := m.Ensure(tn); err != nil || ino() != before {
		t.Fatalf("a whole namespace rebuilt: %v", err)
	}

	other, err := m.Plan("ten_netnstest02", 20120)
	if err != nil {
		t.Fatal(err)
	}
	dummy := "cfdtest" + m.Tag()
	// (A veth pair: this kernel has no dummy interfaces.)
	if out, err := exec.Command("ip", "link", "add", dummy, "type", "veth", "peer", "name", dummy+"p").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", dummy).Run() })
	if out, err := exec.Command("ip", "addr", "add", other.Host.String()+"/30", "dev", dummy).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { m.Remove("ten_netnstest02") })
	err = m.Ensure(other)
	if !errors.Is(err, runtime.ErrPortInUse) || !strings.Contains(err.Error(), "already used on this host by interface "+dummy) {
		t.Fatalf("a /30 held by %s: %v", dummy, err)
	}
	if _, err := exec.Command("ip", "netns", "pids", other.NS).CombinedOutput(); err == nil {
		t.Fatal("a namespace was made for the refused tenant")
	}
}

// TestInProcessAsIpMakesIt: the namespace, veth, addresses and route the
// agent makes over netlink are what ip(8) shows as planned; a piece taken
// away is noticed and made again; a gateway started in the namespace runs
// there as its uid with no groups, while every thread of the agent stays in
// the host's namespace; Remove leaves nothing ip lists.
func TestInProcessAsIpMakesIt(t *testing.T) {
	const id = "ten_netnstest03"
	m, tn := planned(t, "10.235.0.0/16", id, 20240) // a pool no other test's
	t.Cleanup(func() { m.Remove(id) })
	ip := func(args ...string) string {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
		return string(out)
	}
	whole := func() {
		t.Helper()
		if s := ip("-o", "-4", "addr", "show", "dev", tn.HostIf, "up"); !strings.Contains(s, " "+tn.Host.String()+"/30 ") {
			t.Fatalf("host end: %q", s)
		}
		if s := ip("-n", tn.NS, "-o", "-4", "addr", "show", "dev", tn.NSIf, "up"); !strings.Contains(s, " "+tn.Gateway.String()+"/30 ") {
			t.Fatalf("namespace end: %q", s)
		}
		if s := ip("-n", tn.NS, "-o", "link", "show", "dev", "lo", "up"); strings.TrimSpace(s) == "" {
			t.Fatal("lo is down")
		}
		if s := ip("-n", tn.NS, "route", "show", "default"); !strings.Contains(s, "via "+tn.Host.String()+" dev "+tn.NSIf) {
			t.Fatalf("default route: %q", s)
		}
		if !m.healthy(tn) {
			t.Fatal("whole, but not found so")
		}
	}
	if err := m.Ensure(tn); err != nil {
		t.Fatal(err)
	}
	whole()
	for _, breakIt := range [][]string{
		{"-n", tn.NS, "route", "del", "default"},
		{"-n", tn.NS, "link", "set", "lo", "down"},
		{"-n", tn.NS, "addr", "flush", "dev", tn.NSIf},
		{"link", "set", tn.HostIf, "down"},
	} {
		ip(breakIt...)
		if m.healthy(tn) {
			t.Fatalf("after ip %v: still found whole", breakIt)
		}
		m.forget(tn.NS)
		if err := m.Ensure(tn); err != nil {
			t.Fatalf("after ip %v: %v", breakIt, err)
		}
		whole()
	}

	hostNS := netnsOf(t, "/proc/self/ns/net")
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	if err := Spawn(tn.Path(), cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	if got, want := netnsOf(t, fmt.Sprintf("/proc/%d/ns/net", pid)), netnsOf(t, tn.Path()); got != want {
		t.Fatalf("started in namespace %d, want the tenant's %d", got, want)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nUid:\t65534\t65534\t65534\t65534\n", "\nGid:\t65534\t65534\t65534\t65534\n", "\nGroups:\n"} {
		// (The kernel ends the list of groups with a space.)
		if !strings.Contains(strings.ReplaceAll(string(status), "\t \n", "\n"), want) {
			t.Fatalf("status of the started process lacks %q:\n%s", want, status)
		}
	}
	threads, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, th := range threads {
		if ns, err := os.Stat(th); err == nil && ns.Sys().(*syscall.Stat_t).Ino != hostNS {
			t.Fatalf("thread %s left in namespace %d", th, ns.Sys().(*syscall.Stat_t).Ino)
		}
	}

	m.Remove(id)
	if s := ip("netns", "list"); strings.Contains(s, tn.NS) {
		t.Fatalf("removed, still listed: %q", s)
	}
}

func netnsOf(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// planned is a manager on pool (closed when t ends) and id's plan on port.
func planned(t *testing.T, pool, id string, port int) (*Manager, Tenant) {
	t.Helper()
	runtimetest.RequireRoot(t, "network namespaces")
	m, err := New(pool, runtimetest.Dir(t), false, runtimetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	tn, err := m.Plan(id, port)
	if err != nil {
		t.Fatal(err)
	}
	return m, tn
}

// TestSpawnedOutliveExitingThreads: a gateway's parent-death signal follows
// the thread that forked it, and Go ends a thread whenever a goroutine exits
// locked to it; the spawner's thread never does, so gateways survive any
// number of such exits (forked from pool threads, they all got SIGTERM).
func TestSpawnedOutliveExitingThreads(t *testing.T) {
	var cmds []*exec.Cmd
	for range 6 {
		cmd := exec.Command("sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := Spawn("", cmd); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		cmds = append(cmds, cmd)
	}
	for range 50 {
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				goruntime.LockOSThread() // exits locked: its thread ends
			}()
		}
		wg.Wait()
	}
	time.Sleep(200 * time.Millisecond)
	for _, cmd := range cmds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) == 0 || f[0] == "Z" {
			t.Fatalf("gateway %d ended when threads exited: %s", cmd.Process.Pid, b)
		}
	}
}
