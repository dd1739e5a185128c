package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/pkg/firewall"
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
	tag       string     // 4 hex digits
	ip        string     // path of ip(8), for the pool's blackhole route
	filtered  bool       // the firewall table is installed (not: weak isolation allowed)
	fwMu      sync.Mutex // serialises the forwarding rules' set-up and checks
	fwChecked time.Time  // last CheckForwarding (under fwMu)
	// verified is when each namespace was last checked whole (healthy):
	// within verifyEvery only its file is looked at, not four ip runs on
	// every pass for every tenant.
	vmu       sync.Mutex
	verified  map[string]verifiedNS
	closeOnce sync.Once
	log       *slog.Logger
}

// New checks that network namespaces can be made here (root, ip, a
// throw-away namespace) and sets up forwarding. pool is the IPv4
// prefix the tenants' /30s come from ("": DefaultPool). Without a kernel
// firewall it can program it fails with ErrNoFirewall, unless allowWeak:
// then it warns and runs without (tenants can reach each other's gateways
// through the host).
func New(pool, dataDir string, allowWeak bool, log *slog.Logger) (*Manager, error) {
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
	n := &Manager{pool: pf.Masked(), log: log, verified: map[string]verifiedNS{}}
	n.tag = runtime.AgentTag(dataDir)
	if n.ip, err = systool.Look("ip"); err != nil {
		return nil, err
	}
	probe := filepath.Join(Dir, "cfprobe-"+n.tag)
	_ = delNamed(probe)
	if err := addNamed(probe); err != nil {
		return nil, fmt.Errorf("cannot create a network namespace: %w", err)
	}
	_ = delNamed(probe)
	if err := n.setupForwarding(); err != nil {
		if !allowWeak {
			return nil, fmt.Errorf("%w; tenant isolation needs it (root, the nf_tables kernel module). To run with weaker isolation anyway (tenants can reach each other's gateways and the host's services through the host), set CLAWFLEET_ALLOW_WEAK_ISOLATION=1", err)
		}
		n.log.Warn("WEAK ISOLATION (CLAWFLEET_ALLOW_WEAK_ISOLATION): no firewall for the tenant networks: tenant gateways are not masqueraded (no egress unless routed) and forwarding into their namespaces is not filtered (a container's or another tenant's connection to a gateway may arrive from its trusted proxy address)", "err", err)
	}
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
// pool's blackhole route and its firewall table and rules. Call it once
// their namespaces are gone (an agent that stops cleanly leaves nothing in
// the routing table or the firewall).
func (n *Manager) Close() {
	n.closeOnce.Do(func() {
		n.removeFirewall()
		if err := n.run(append([]string{"route", "del"}, n.blackhole()...)...); err != nil {
			n.log.Warn("removing the tenant network pool's blackhole route failed", "pool", n.pool, "err", err)
		}
	})
}

// Pool is the prefix the tenants' /30s come from.
func (n *Manager) Pool() netip.Prefix { return n.pool }

// Tag is the agent's part of its namespaces' names (cf-<tag>-...).
func (n *Manager) Tag() string { return n.tag }

// Filters reports whether the firewall filters and masquerades the
// tenants' traffic (see setupForwarding): false only with weak isolation
// allowed.
func (n *Manager) Filters() bool { return n.filtered }

func (n *Manager) run(args ...string) error {
	_, err := n.output(args...)
	return err
}

func (n *Manager) output(args ...string) ([]byte, error) {
	return runTool(n.ip, args...)
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

// Interface prefixes; the firewall matches them as "cfv*".
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

// Path is the namespace's file, the one Spawn enters.
func (t Tenant) Path() string { return filepath.Join(Dir, t.NS) }

// Ensure makes t's namespace and veth pair exist as planned; an existing,
// correct set-up is reused (a running gateway keeps its network).
func (n *Manager) Ensure(t Tenant) error {
	n.CheckForwarding()
	if n.verifiedRecently(t) {
		return nil
	}
	if n.healthy(t) {
		n.markVerified(t)
		return nil
	}
	n.forget(t.NS)
	// Another interface on the host holding the /30's addresses is a
	// collision (another agent, a VPN): refuse instead of breaking routing.
	// (Asked of the kernel in-process: no ip run.)
	if name, p, ok := addrHolder(t); ok {
		return fmt.Errorf("%w: address %s of tenant network %s is already used on this host by interface %s", runtime.ErrPortInUse, p, t.NS, name)
	}
	// Rebuild from scratch (the caller has stopped the gateway): a namespace
	// of an earlier port would keep its old veth and addresses otherwise.
	if _, err := os.Stat(t.Path()); err == nil {
		if err := delNamed(t.Path()); err != nil {
			return err
		}
	}
	if l, err := netlink.LinkByName(t.HostIf); err == nil {
		_ = netlink.LinkDel(l)
	}
	if err := addNamed(t.Path()); err != nil {
		return fmt.Errorf("tenant network %s: %w", t.NS, err)
	}
	if err := configure(t); err != nil {
		return fmt.Errorf("tenant network %s: %w", t.NS, err)
	}
	n.markVerified(t)
	n.log.Info("tenant network namespace ready", "netns", t.NS, "hostIf", t.HostIf, "proxy", t.Host, "gateway", t.Gateway)
	return nil
}

// verifyEvery is how long a namespace found whole is trusted while its
// file is there.
const verifyEvery = 30 * time.Second

// verifiedNS is a namespace found whole, as planned then (a new port
// plans another veth and /30 under the same name), and when.
type verifiedNS struct {
	t  Tenant
	at time.Time
}

func (n *Manager) verifiedRecently(t Tenant) bool {
	n.vmu.Lock()
	v, ok := n.verified[t.NS]
	n.vmu.Unlock()
	if !ok || v.t != t || time.Since(v.at) >= verifyEvery {
		return false
	}
	_, err := os.Stat(t.Path())
	return err == nil
}

func (n *Manager) markVerified(t Tenant) {
	n.vmu.Lock()
	n.verified[t.NS] = verifiedNS{t: t, at: time.Now()}
	n.vmu.Unlock()
}

func (n *Manager) forget(ns string) {
	n.vmu.Lock()
	delete(n.verified, ns)
	n.vmu.Unlock()
}

// addrHolder names an interface other than t's host end that holds an
// IPv4 network containing t's addresses.
func addrHolder(t Tenant) (string, netip.Prefix, bool) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", netip.Prefix{}, false
	}
	for _, ifc := range ifs {
		if ifc.Name == t.HostIf {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok || !ip.Unmap().Is4() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			p := netip.PrefixFrom(ip.Unmap(), ones)
			if p.Contains(t.Host) || p.Contains(t.Gateway) {
				return ifc.Name, p, true
			}
		}
	}
	return "", netip.Prefix{}, false
}

// healthy reports whether t's namespace, veth pair, addresses and default
// route are all in place.
func (n *Manager) healthy(t Tenant) bool {
	if _, err := os.Stat(t.Path()); err != nil {
		return false
	}
	return wholeOverNetlink(t)
}

// Remove deletes a tenant's namespace (which takes its veth pair along).
// Removing one that does not exist is not an error.
func (n *Manager) Remove(id string) {
	name := "cf-" + n.tag + "-" + strings.TrimPrefix(id, "ten_")
	n.forget(name)
	if _, err := os.Stat(filepath.Join(Dir, name)); err != nil {
		return
	}
	if err := delNamed(filepath.Join(Dir, name)); err != nil {
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

// tenantRules are the forward rules of the tenants' networks, in order, in
// the agent's own nftables table (firewall): a drop there is final, whatever
// Docker's or anyone's tables accept and in whatever order they come. No
// forwarded packet opens a connection into a tenant's namespace: a
// container's or another tenant's connection would be masqueraded to the
// veth's host address, the gateway's trusted proxy (the agent's forwarder
// and probes dial from the host itself, through OUTPUT). Tenants' own
// traffic goes out, except into local bridges (Docker's, where masquerading
// makes it come from the bridge's address, the trusted proxy of the Docker
// runtime's gateways), the WireGuard interfaces and other local guests'
// bridges (libvirt, CNI, LXC). They match the veths of one agent (tag),
// whose table they are in: each agent's table keeps others out of its own
// tenants, and a table left by a crashed agent holds nothing but its own.
func tenantRules(tag string) []firewall.Rule {
	v := HostIfPrefix + tag + "*"
	rules := []firewall.Rule{
		{Out: v, Established: true, Verdict: firewall.Accept},
		{Out: v, Verdict: firewall.Drop},
	}
	for _, br := range []string{"docker*", "br-*", "wg-cf*", "virbr*", "cni*", "lxcbr*"} {
		rules = append(rules, firewall.Rule{In: v, Out: br, Verdict: firewall.Drop})
	}
	return rules
}

// egressRule lets an agent's tenants' traffic out past a FORWARD policy
// that drops (Docker's): put into Docker's DOCKER-USER and iptables'
// FORWARD where iptables runs on nftables. An accept there cannot let
// anything through that tenantRules drop.
func (n *Manager) egressRule() firewall.Rule {
	return firewall.Rule{In: HostIfPrefix + n.tag + "*", Verdict: firewall.Accept}
}

// legacyChain is the iptables chain of agents before the nftables table.
const legacyChain = "CF-TENANTS"

// egressChains are the iptables chains (table filter) egressRule goes in.
var egressChains = []string{"DOCKER-USER", "FORWARD"}

// tableName is the agent's nftables table.
func (n *Manager) tableName() string { return "clawfleet-tenants-" + n.tag }

// table is the agent's nftables table: tenantRules, and tenant egress
// masqueraded (never towards another tenant's veth).
func (n *Manager) table() firewall.Table {
	return firewall.Table{Name: n.tableName(), Chains: []firewall.Chain{
		{Name: "forward", Hook: firewall.Forward, Rules: tenantRules(n.tag)},
		{Name: "postrouting", Hook: firewall.Postrouting, Rules: []firewall.Rule{
			{Src: n.pool, NotOut: HostIfPrefix + "*", Verdict: firewall.Masquerade},
		}},
	}}
}

// firewallAvailable is firewall.Available (a test makes it fail: as root,
// nftables is always there).
var firewallAvailable = firewall.Available

// ErrNoFirewall: the tenants' forwarding rules cannot be programmed here
// (over netlink, nftables), and weaker isolation was not allowed.
var ErrNoFirewall = errors.New("the kernel firewall (nftables) cannot be programmed here")

// setupForwarding gives the namespaces egress and keeps everything else
// out of them: ip_forward on, the agent's nftables table, and egressRule
// where iptables' chains are on nftables.
func (n *Manager) setupForwarding() error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		n.log.Warn("cannot enable ip_forward: tenant gateways get no egress", "err", err)
	}
	n.fwMu.Lock()
	defer n.fwMu.Unlock()
	err := firewallAvailable()
	if err == nil {
		err = firewall.Apply(n.table())
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoFirewall, err)
	}
	n.filtered = true
	// What agents before the nftables table left in iptables (where it runs
	// on nftables): their chain's drops would outlive them.
	if err := firewall.RemoveLegacyChain("filter", legacyChain, "FORWARD", "DOCKER-USER"); err != nil {
		n.log.Warn("removing the iptables chain of earlier agents failed", "chain", legacyChain, "err", err)
	}
	n.ensureEgressLocked()
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
	return nil
}

func (n *Manager) ensureEgressLocked() {
	for _, chain := range egressChains {
		if !firewall.ChainExists("filter", chain) || firewall.ForeignInstalled("filter", chain, n.tableName(), n.egressRule()) {
			continue
		}
		if err := firewall.EnsureForeign("filter", chain, n.tableName(), n.egressRule()); err != nil {
			n.log.Warn("tenant egress not accepted in iptables' chain: a drop policy there (Docker's) cuts tenants off the network", "chain", chain, "err", err)
		}
	}
}

// CheckForwarding re-installs the agent's table when it is missing or
// changed (nft flush ruleset, a firewall reload) and egressRule where
// Docker made its chain after the agent started; at most once a second,
// as every tenant's Ensure calls it.
func (n *Manager) CheckForwarding() {
	// One check at a time, and no start waits for another's: tenants
	// started together would queue behind its nft runs. (When the table
	// was taken away and another start is putting it back, this one may
	// come up in the milliseconds before it is back.)
	if !n.fwMu.TryLock() {
		return
	}
	defer n.fwMu.Unlock()
	if !n.filtered || time.Since(n.fwChecked) < time.Second {
		return
	}
	defer func() { n.fwChecked = time.Now() }()
	if !firewall.Installed(n.table()) {
		n.log.Warn("nftables table of the tenant networks missing or changed: re-installing it", "table", n.tableName())
		if err := firewall.Apply(n.table()); err != nil {
			n.log.Error("nftables table of the tenant networks not installed: tenants are not isolated from each other", "table", n.tableName(), "err", err)
		}
	}
	n.ensureEgressLocked()
}

// Reinstall puts the agent's table and egress rules back now, whatever
// CheckForwarding would find (after a test opened a hole in them).
func (n *Manager) Reinstall() error {
	n.fwMu.Lock()
	defer n.fwMu.Unlock()
	if !n.filtered {
		return nil
	}
	n.ensureEgressLocked()
	return firewall.Apply(n.table())
}

// FirewallInstalled reports whether the agent's table is in place.
func (n *Manager) FirewallInstalled() bool { return firewall.Installed(n.table()) }

// TableName is the agent's nftables table (inet family).
func (n *Manager) TableName() string { return n.tableName() }

// removeFirewall takes the agent's table and egress rules away, for good:
// CheckForwarding and Reinstall do nothing after it.
func (n *Manager) removeFirewall() {
	n.fwMu.Lock()
	defer n.fwMu.Unlock()
	if !n.filtered {
		return
	}
	n.filtered = false
	if err := firewall.Remove(n.tableName()); err != nil {
		n.log.Warn("removing the tenant networks' nftables table failed", "table", n.tableName(), "err", err)
	}
	for _, chain := range egressChains {
		if err := firewall.RemoveForeign("filter", chain, n.tableName()); err != nil {
			n.log.Warn("removing the tenant egress rule failed", "chain", chain, "err", err)
		}
	}
}
