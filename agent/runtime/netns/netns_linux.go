package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/systool"
)

// Dir is where `ip netns` keeps its named namespaces.
const Dir = "/run/netns"

// Tenant is one tenant's network: a namespace and a veth pair on a /30
// (host side .1 = the trusted proxy, namespace side .2 = the gateway).
type Tenant struct {
	NS            string     // namespace name (file in Dir)
	HostIf        string     // veth end on the host
	NSIf          string     // veth end in the namespace
	Host, Gateway netip.Addr // .1 and .2
	Index         int        // the /30's index in the pool
}

// Manager manages the tenants' namespaces. Names carry a tag derived from
// the data directory, so two agents (or test runs) on one host never touch
// each other's namespaces.
type Manager struct {
	pool      netip.Prefix
	tag       string // 4 hex digits
	ip        string // path of ip(8)
	nsenter   string
	setpriv   string
	iptables  string     // "" when not available
	fwMu      sync.Mutex // serialises the forwarding rules' set-up and checks
	fwChecked time.Time  // last CheckForwarding (under fwMu)
	closeOnce sync.Once
	log       *slog.Logger
}

// New checks that network namespaces can be made here (root, ip, nsenter,
// setpriv, a throw-away namespace) and sets up forwarding. pool is the IPv4
// prefix the tenants' /30s come from ("": DefaultPool).
func New(pool, dataDir string, log *slog.Logger) (*Manager, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the agent is not root")
	}
	if pool == "" {
		pool = DefaultPool
	}
	pf, err := netip.ParsePrefix(pool)
	if err != nil || !pf.Addr().Is4() || pf.Bits() > 30 {
		return nil, fmt.Errorf("network namespace pool %q: want an IPv4 prefix of /30 or larger", pool)
	}
	n := &Manager{pool: pf.Masked(), log: log}
	n.tag = runtime.AgentTag(dataDir)
	for _, t := range []struct {
		p    *string
		name string
	}{{&n.ip, "ip"}, {&n.nsenter, "nsenter"}, {&n.setpriv, "setpriv"}} {
		if *t.p, err = systool.Look(t.name); err != nil {
			return nil, err
		}
	}
	probe := "cfprobe-" + n.tag
	_ = n.run("netns", "del", probe)
	if err := n.run("netns", "add", probe); err != nil {
		return nil, fmt.Errorf("cannot create a network namespace: %w", err)
	}
	_ = n.run("netns", "del", probe)
	if p, err := systool.Look("iptables"); err == nil {
		n.iptables = p
	}
	n.setupForwarding()
	n.holdPool()
	return n, nil
}

// blackholeMetricBase plus the agent's tag is the metric of its blackhole
// route for the pool. IPv4 routes are told apart by prefix and metric, so
// each agent sharing a pool (the default one) holds a route of its own:
// a restart replaces its own, and one agent's Close leaves the others'.
const blackholeMetricBase = 1 << 16

func (n *Manager) blackhole() []string {
	tag, _ := strconv.ParseUint(n.tag, 16, 32)
	return []string{"blackhole", n.pool.String(), "metric", strconv.FormatUint(blackholeMetricBase+tag, 10)}
}

// holdPool keeps everything addressed to the pool on this machine: a
// tenant's namespace that is gone (or not made yet) would otherwise send
// the router's requests, identity headers and all, out of the default
// route. Each tenant's /30 on its veth is more specific than the pool.
func (n *Manager) holdPool() {
	// Agents before per-agent metrics added it with metric 0 and left it
	// behind; `ip route del` without a metric takes the lowest, that one.
	if out, err := n.output("-o", "route", "show", "exact", n.pool.String(), "type", "blackhole"); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.Contains(l, " metric ") {
				if err := n.run("route", "del", "blackhole", n.pool.String()); err == nil {
					n.log.Info("removed the tenant pool's blackhole route an earlier agent left behind", "pool", n.pool)
				}
				break
			}
		}
	}
	if err := n.run(append([]string{"route", "replace"}, n.blackhole()...)...); err != nil {
		n.log.Warn("cannot keep the tenant network pool on this machine (blackhole route)", "pool", n.pool, "err", err)
	}
}

// Close removes what the manager put on the host for all its tenants: the
// pool's blackhole route. Call it once their namespaces are gone (an agent
// that stops cleanly leaves nothing in the routing table).
func (n *Manager) Close() {
	n.closeOnce.Do(func() {
		if err := n.run(append([]string{"route", "del"}, n.blackhole()...)...); err != nil {
			n.log.Warn("removing the tenant network pool's blackhole route failed", "pool", n.pool, "err", err)
		}
	})
}

// Pool is the prefix the tenants' /30s come from.
func (n *Manager) Pool() netip.Prefix { return n.pool }

// Tag is the agent's part of its namespaces' names (cf-<tag>-...).
func (n *Manager) Tag() string { return n.tag }

// Filters reports whether iptables is there to filter and masquerade the
// tenants' traffic (see setupForwarding).
func (n *Manager) Filters() bool { return n.iptables != "" }

func (n *Manager) run(args ...string) error {
	_, err := n.output(args...)
	return err
}

func (n *Manager) output(args ...string) ([]byte, error) {
	return runTool(n.ip, args...)
}

// batch runs ip commands, one per line, in one ip process with the given
// global options (ip -batch allows none per line).
func (n *Manager) batch(cmds string, opts ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errb bytes.Buffer
	cmd := exec.CommandContext(ctx, n.ip, append(opts, "-batch", "-")...)
	cmd.Stdin, cmd.Stderr = strings.NewReader(cmds), &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip -batch: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	return nil
}

func runTool(bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// Interface prefixes; iptables matches them with "cfv+" and "cfp+".
const (
	HostIfPrefix = "cfv" // the host ends of the tenants' veths
	nsIfPrefix   = "cfp"
)

// Plan returns the network of a tenant: its /30 is the port's index
// (port / PortSpacing, unique for non-overlapping port ranges) in the pool,
// shifted by an offset from the agent's tag. The shift is the same for all
// of one agent's tenants, so they never share a /30; two agents on one host
// (tests, or a mistake) almost never pick the same /30 for their tenants.
func (n *Manager) Plan(id string, port int) (Tenant, error) {
	slots := 1 << (32 - n.pool.Bits()) / 4
	idx := port / proto.PortSpacing
	if idx >= slots {
		return Tenant{}, fmt.Errorf("port %d needs /30 number %d, beyond the network namespace pool %s", port, idx, n.pool)
	}
	if off, err := strconv.ParseUint(n.tag, 16, 32); err == nil {
		idx = (idx + int(off)) % slots
	}
	base := n.pool.Addr().As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += uint32(idx) * 4
	addr := func(off uint32) netip.Addr {
		x := v + off
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	suffix := n.tag + strconv.Itoa(idx) // at most 4+4 characters: names stay within IFNAMSIZ
	return Tenant{
		NS:     "cf-" + n.tag + "-" + strings.TrimPrefix(id, "ten_"),
		HostIf: HostIfPrefix + suffix, NSIf: nsIfPrefix + suffix,
		Host: addr(1), Gateway: addr(2), Index: idx,
	}, nil
}

// Path is the namespace's file, the one nsenter enters.
func (t Tenant) Path() string { return filepath.Join(Dir, t.NS) }

// Ensure makes t's namespace and veth pair exist as planned; an existing,
// correct set-up is reused (a running gateway keeps its network).
func (n *Manager) Ensure(t Tenant) error {
	n.CheckForwarding()
	if n.healthy(t) {
		return nil
	}
	// Another interface on the host holding the /30's addresses is a
	// collision (another agent, a VPN): refuse instead of breaking routing.
	if out, err := n.output("-o", "-4", "addr", "show"); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) >= 4 && f[1] != t.HostIf {
				if p, err := netip.ParsePrefix(f[3]); err == nil && (p.Contains(t.Host) || p.Contains(t.Gateway)) {
					return fmt.Errorf("%w: address %s of tenant network %s is already used on this host by interface %s", runtime.ErrPortInUse, p, t.NS, f[1])
				}
			}
		}
	}
	// Rebuild from scratch (the caller has stopped the gateway): a namespace
	// of an earlier port would keep its old veth and addresses otherwise.
	if _, err := os.Stat(t.Path()); err == nil {
		if err := n.run("netns", "del", t.NS); err != nil {
			return err
		}
	}
	_ = n.run("link", "del", t.HostIf)
	if err := n.run("netns", "add", t.NS); err != nil {
		return err
	}
	hostCIDR := netip.PrefixFrom(t.Host, 30).String()
	gwCIDR := netip.PrefixFrom(t.Gateway, 30).String()
	// Two ip processes (the host side, then inside the namespace; ip -batch
	// stops at the first failure) instead of seven: 20 tenants created at
	// once would otherwise wait for 140 forks.
	host := strings.Join([]string{
		"link add " + t.HostIf + " type veth peer name " + t.NSIf + " netns " + t.NS,
		"addr add " + hostCIDR + " dev " + t.HostIf,
		"link set " + t.HostIf + " up",
	}, "\n") + "\n"
	inside := strings.Join([]string{
		"link set lo up",
		"addr add " + gwCIDR + " dev " + t.NSIf,
		"link set " + t.NSIf + " up",
		"route replace default via " + t.Host.String(),
	}, "\n") + "\n"
	if err := n.batch(host); err != nil {
		return fmt.Errorf("tenant network %s: %w", t.NS, err)
	}
	if err := n.batch(inside, "-n", t.NS); err != nil {
		return fmt.Errorf("tenant network %s: %w", t.NS, err)
	}
	n.log.Info("tenant network namespace ready", "netns", t.NS, "hostIf", t.HostIf, "proxy", t.Host, "gateway", t.Gateway)
	return nil
}

// healthy reports whether t's namespace, veth pair, addresses and default
// route are all in place.
func (n *Manager) healthy(t Tenant) bool {
	if _, err := os.Stat(t.Path()); err != nil {
		return false
	}
	host, err := n.output("-o", "-4", "addr", "show", "dev", t.HostIf, "up")
	if err != nil || !strings.Contains(string(host), " "+netip.PrefixFrom(t.Host, 30).String()+" ") {
		return false
	}
	in, err := n.output("-n", t.NS, "-o", "-4", "addr", "show", "dev", t.NSIf, "up")
	if err != nil || !strings.Contains(string(in), " "+netip.PrefixFrom(t.Gateway, 30).String()+" ") {
		return false
	}
	lo, err := n.output("-n", t.NS, "-o", "link", "show", "dev", "lo", "up")
	if err != nil || len(bytes.TrimSpace(lo)) == 0 {
		return false
	}
	rt, err := n.output("-n", t.NS, "route", "show", "default")
	return err == nil && strings.Contains(string(rt), "via "+t.Host.String()+" ")
}

// Remove deletes a tenant's namespace (which takes its veth pair along).
// Removing one that does not exist is not an error.
func (n *Manager) Remove(id string) {
	name := "cf-" + n.tag + "-" + strings.TrimPrefix(id, "ten_")
	if _, err := os.Stat(filepath.Join(Dir, name)); err != nil {
		return
	}
	if err := n.run("netns", "del", name); err != nil {
		n.log.Warn("removing tenant network namespace failed", "netns", name, "err", err)
		return
	}
	n.log.Info("tenant network namespace removed", "netns", name)
}

// Cleanup deletes this agent's namespaces whose tenant is not in keep
// (leftovers of removed tenants or a crashed agent); a namespace takes its
// veth pair along.
func (n *Manager) Cleanup(keep func(id string) bool) {
	prefix := "cf-" + n.tag + "-"
	entries, _ := os.ReadDir(Dir)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		id := "ten_" + strings.TrimPrefix(name, prefix)
		if proto.ValidateTenantID(id) == nil && keep(id) {
			continue
		}
		n.Remove(id)
	}
}

// Command wraps a gateway command so it starts inside t's namespace as
// uid:gid (uid < 0: the agent's own identity), with SIGTERM as its parent
// death signal again after the identity change (which clears it).
func (n *Manager) Command(t Tenant, uid, gid int, argv []string) []string {
	cmd := []string{n.nsenter, "--net=" + t.Path(), "--"}
	if uid >= 0 {
		cmd = append(cmd, n.setpriv, "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(gid), "--clear-groups", "--pdeathsig", "TERM", "--")
	}
	return append(cmd, argv...)
}

// Chain holds the forwarding rules of the tenants' networks. FORWARD
// jumps to it first, and so does DOCKER-USER where Docker made that chain:
// Docker puts its own jumps (and its blanket ACCEPT of traffic from its
// bridges) at the top of FORWARD whenever it starts, but evaluates
// DOCKER-USER before them and never flushes it.
const Chain = "CF-TENANTS"

// tenantRules are Chain's rules, in order. No forwarded packet opens
// a connection into a tenant's namespace: a container's or another tenant's
// connection would be masqueraded to the veth's host address, the
// gateway's trusted proxy (the agent's forwarder and probes dial from the
// host itself, through OUTPUT). Tenants' own traffic is accepted (Docker
// sets FORWARD's policy to DROP) except into local bridges (Docker's,
// where masquerading makes it come from the bridge's address, the trusted
// proxy of the Docker runtime's gateways) and the WireGuard interfaces.
func tenantRules() [][]string {
	v := HostIfPrefix + "+"
	return [][]string{
		{"-o", v, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
		{"-o", v, "-j", "DROP"},
		{"-i", v, "-o", "docker+", "-j", "DROP"},
		{"-i", v, "-o", "br-+", "-j", "DROP"},
		{"-i", v, "-o", "wg-cf+", "-j", "DROP"},
		// Other common local bridges (libvirt, CNI, LXC): a tenant has no
		// business with the host's other guests.
		{"-i", v, "-o", "virbr+", "-j", "DROP"},
		{"-i", v, "-o", "cni+", "-j", "DROP"},
		{"-i", v, "-o", "lxcbr+", "-j", "DROP"},
		{"-i", v, "-j", "ACCEPT"},
	}
}

// legacyRules are the FORWARD rules of earlier agents, which Chain
// replaces.
func legacyRules() [][]string {
	v := HostIfPrefix + "+"
	return [][]string{
		{"-i", v, "-o", v, "-j", "DROP"},
		{"-i", v, "-j", "ACCEPT"},
		{"-o", v, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
	}
}

// setupForwarding gives the namespaces egress and keeps everything else
// out of them, best effort: ip_forward on; where iptables exists,
// Chain first in FORWARD and DOCKER-USER, and tenant egress
// masqueraded (never towards another tenant's veth).
func (n *Manager) setupForwarding() {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		n.log.Warn("cannot enable ip_forward: tenant gateways get no egress", "err", err)
	}
	if n.iptables == "" {
		n.log.Warn("iptables not found: tenant gateways are not masqueraded (no egress unless routed) and forwarding into their namespaces is not filtered (a container's or another tenant's connection to a gateway may arrive from its trusted proxy address)")
		return
	}
	n.fwMu.Lock()
	defer n.fwMu.Unlock()
	if err := n.installTenantChain(); err != nil {
		n.log.Warn("iptables chain for tenant networks not installed", "chain", Chain, "err", err)
	}
	for _, r := range legacyRules() {
		n.deleteAll("filter", "FORWARD", r)
	}
	jump := []string{"-j", Chain}
	for _, chain := range []string{"FORWARD", "DOCKER-USER"} {
		if chain == "DOCKER-USER" && !n.chainExists(chain) {
			continue
		}
		// Delete, then insert: the jump ends up at the top, whatever an
		// earlier agent or the operator left.
		n.deleteAll("filter", chain, jump)
		n.insertTop("filter", chain, jump)
	}
	pool := n.pool.String()
	masq := []string{"-s", pool, "!", "-o", HostIfPrefix + "+", "-j", "MASQUERADE"}
	n.deleteAll("nat", "POSTROUTING", masq)
	n.insertTop("nat", "POSTROUTING", masq)
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 && f[0] == "nameserver" {
				if a, err := netip.ParseAddr(f[1]); err == nil && a.IsLoopback() {
					n.log.Warn("the host's resolver is on loopback, which gateways in network namespaces cannot reach; name resolution inside them will fail unless /etc/resolv.conf names a reachable server", "nameserver", f[1])
				}
			}
		}
	}
}

// CheckForwarding re-installs what is missing of Chain and the jumps
// to it (Docker started after the agent, an operator flushed FORWARD);
// three listings when all is in place.
func (n *Manager) CheckForwarding() {
	if n.iptables == "" {
		return
	}
	n.fwMu.Lock()
	defer n.fwMu.Unlock()
	// Once a second is enough to repair what a Docker restart reorders;
	// every tenant's Ensure checking again made bulk creation wait on
	// iptables (three runs each, one at a time).
	if time.Since(n.fwChecked) < time.Second {
		return
	}
	defer func() { n.fwChecked = time.Now() }()
	if !n.ChainInstalled() {
		n.log.Warn("iptables chain for tenant networks missing or changed: re-installing it", "chain", Chain)
		if err := n.installTenantChain(); err != nil {
			n.log.Warn("iptables chain for tenant networks not installed", "chain", Chain, "err", err)
		}
	}
	jump := "-j " + Chain
	for _, chain := range []string{"FORWARD", "DOCKER-USER"} {
		out, err := runTool(n.iptables, "-w", "5", "-S", chain)
		if err != nil { // no such chain (no Docker)
			continue
		}
		if !slices.Contains(strings.Split(string(out), "\n"), "-A "+chain+" "+jump) {
			n.log.Warn("iptables jump to the tenant networks' chain missing: re-inserting it", "chain", chain)
			n.insertTop("filter", chain, []string{"-j", Chain})
		}
	}
}

// ChainInstalled reports whether Chain holds exactly its rules.
func (n *Manager) ChainInstalled() bool {
	out, err := runTool(n.iptables, "-w", "5", "-S", Chain)
	return err == nil && sameRules(out, Chain, tenantRules())
}

// installTenantChain creates or replaces Chain atomically.
func (n *Manager) installTenantChain() error {
	var b strings.Builder
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n", Chain)
	for _, r := range tenantRules() {
		fmt.Fprintf(&b, "-A %s %s\n", Chain, strings.Join(r, " "))
	}
	b.WriteString("COMMIT\n")
	restore := filepath.Join(filepath.Dir(n.iptables), "iptables-restore")
	cmd := exec.Command(restore, "-w", "5", "--noflush")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sameRules reports whether out (iptables -S chain) lists exactly rules.
func sameRules(out []byte, chain string, rules [][]string) bool {
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "-A ") {
			got = append(got, l)
		}
	}
	if len(got) != len(rules) {
		return false
	}
	for i, r := range rules {
		if got[i] != "-A "+chain+" "+strings.Join(r, " ") {
			return false
		}
	}
	return true
}

func (n *Manager) chainExists(chain string) bool {
	_, err := runTool(n.iptables, "-w", "5", "-S", chain)
	return err == nil
}

// deleteAll deletes every copy of a rule (up to 8).
func (n *Manager) deleteAll(table, chain string, spec []string) {
	del := append([]string{"-w", "5", "-t", table, "-D", chain}, spec...)
	for range 8 {
		if _, err := runTool(n.iptables, del...); err != nil {
			break
		}
	}
}

func (n *Manager) insertTop(table, chain string, spec []string) {
	ins := append([]string{"-w", "5", "-t", table, "-I", chain, "1"}, spec...)
	if _, err := runTool(n.iptables, ins...); err != nil {
		n.log.Warn("iptables rule for tenant networks not added", "table", table, "chain", chain, "rule", strings.Join(spec, " "), "err", err)
	}
}
