//go:build linux

package wgif

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/clawfleet/clawfleet/pkg/firewall"
	"github.com/clawfleet/clawfleet/pkg/systool"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/ipc"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// firewallAvailable is firewall.Available (a test makes it fail: as root,
// nftables is always there).
var firewallAvailable = firewall.Available

// Interface is one WireGuard interface. It is safe for concurrent use.
type Interface struct {
	name, mode string
	log        *slog.Logger
	client     *wgctrl.Client
	ip         string // path of ip(8)
	filtered   bool   // the firewall table is installed

	// tun mode only
	dev  *device.Device
	uapi net.Listener

	mu     sync.Mutex
	closed bool
}

// Open creates and configures the interface; on error nothing is left
// behind.
func Open(opts Options) (*Interface, error) {
	if opts.Name == "" || len(opts.Name) > 15 || strings.ContainsAny(opts.Name, "/ \t\n%") {
		return nil, fmt.Errorf("wgif: bad interface name %q", opts.Name)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PrivateKey.IsZero() || !opts.Address.IsValid() || opts.MTU <= 0 {
		return nil, errors.New("wgif: private key, address and MTU are required")
	}
	i := &Interface{name: opts.Name, mode: opts.Mode, log: opts.Logger}
	var err error
	if i.ip, err = lookTool("ip"); err != nil {
		return nil, fmt.Errorf("wgif: %w", err)
	}
	switch opts.Mode {
	case Kernel:
		if opts.ListenAddr.IsValid() && !opts.ListenAddr.IsUnspecified() {
			return nil, fmt.Errorf("wgif: kernel mode: the kernel's WireGuard listens on every address and cannot bind %v alone: name no address (only a port), or use the tun or userspace mode", opts.ListenAddr)
		}
		if err := KernelAvailable(); err != nil {
			return nil, fmt.Errorf("wgif: kernel mode: %w", err)
		}
		// A kernel interface outlives a crashed process: drop a stale one.
		if out, err := i.run("-d", "link", "show", "dev", opts.Name); err == nil && bytes.Contains(out, []byte("wireguard")) {
			_, _ = i.run("link", "del", "dev", opts.Name)
		}
		if _, err := i.run("link", "add", "dev", opts.Name, "type", "wireguard"); err != nil {
			return nil, fmt.Errorf("wgif: kernel mode: %w", err)
		}
	case Tun:
		if err := TunAvailable(); err != nil {
			return nil, fmt.Errorf("wgif: %w", err)
		}
		if err := i.openTun(opts.MTU, opts.ListenAddr); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("wgif: unknown mode %q", opts.Mode)
	}
	if err := i.setup(opts); err != nil {
		i.Close()
		return nil, err
	}
	return i, nil
}

func (i *Interface) openTun(mtu int, listen netip.Addr) error {
	tdev, err := tun.CreateTUN(i.name, mtu)
	if err != nil {
		return fmt.Errorf("wgif: tun mode: create TUN %s: %w", i.name, err)
	}
	i.dev = device.NewDevice(tdev, NewBind(listen), DeviceLogger(i.log))
	f, err := ipc.UAPIOpen(i.name)
	if err != nil {
		i.dev.Close()
		return fmt.Errorf("wgif: tun mode: UAPI socket for %s: %w", i.name, err)
	}
	l, err := ipc.UAPIListen(i.name, f)
	f.Close()
	if err != nil {
		i.dev.Close()
		return fmt.Errorf("wgif: tun mode: UAPI listen for %s: %w", i.name, err)
	}
	i.uapi = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go i.dev.IpcHandle(c)
		}
	}()
	return nil
}

func (i *Interface) setup(opts Options) error {
	var err error
	if i.client, err = wgctrl.New(); err != nil {
		return fmt.Errorf("wgif: wgctrl: %w", err)
	}
	port := opts.ListenPort
	key := wgtypes.Key(opts.PrivateKey)
	if err := i.client.ConfigureDevice(i.name, wgtypes.Config{PrivateKey: &key, ListenPort: &port, ReplacePeers: true}); err != nil {
		return fmt.Errorf("wgif: configure %s: %w", i.name, err)
	}
	// Nothing received on the interface is forwarded elsewhere, and no
	// IPv6 link-local address appears on it.
	for _, p := range []string{"/proc/sys/net/ipv4/conf/" + i.name + "/forwarding", "/proc/sys/net/ipv6/conf/" + i.name + "/forwarding"} {
		if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("wgif: switch forwarding off on %s: %w", i.name, err)
		}
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+i.name+"/disable_ipv6", []byte("1\n"), 0o644)
	// The sysctl alone does not last: any 0→1 change of ip_forward (Docker
	// starting, a sysctl reload, the agent's tenant networks) switches
	// forwarding back on for every interface.
	err = firewallAvailable()
	if err == nil {
		err = firewall.Apply(i.table(nil, nil))
	}
	if err != nil {
		if !opts.AllowUnfiltered {
			return fmt.Errorf("wgif: no firewall for %s (nftables: root and the nf_tables kernel module): without it every local service bound to all addresses is reachable from the tunnel's peers: %w", i.name, err)
		}
		i.log.Warn("WEAK ISOLATION: no firewall on the WireGuard interface: every local service bound to all addresses is reachable from the tunnel's peers, and they may be routed through this host should ip_forward be switched on again", "interface", i.name, "err", err)
	} else {
		i.filtered = true
		// The iptables chain of versions before the nftables table.
		_ = firewall.RemoveLegacyChain("filter", "CF-"+i.name, "INPUT")
	}
	if _, err := i.run("addr", "add", opts.Address.String(), "dev", i.name); err != nil {
		return fmt.Errorf("wgif: %w", err)
	}
	if _, err := i.run("link", "set", "dev", i.name, "mtu", strconv.Itoa(opts.MTU), "up"); err != nil {
		return fmt.Errorf("wgif: %w", err)
	}
	if i.dev != nil {
		if err := i.dev.Up(); err != nil {
			return fmt.Errorf("wgif: device up: %w", err)
		}
	}
	for _, r := range opts.Routes {
		if _, err := i.run("route", "add", r.Masked().String(), "dev", i.name); err != nil {
			return fmt.Errorf("wgif: route into %s: %w", i.name, err)
		}
	}
	return nil
}

// Name is the interface's name.
func (i *Interface) Name() string { return i.name }

// Mode is Kernel or Tun.
func (i *Interface) Mode() string { return i.mode }

// Configure applies cfg with wgctrl.
func (i *Interface) Configure(cfg wgtypes.Config) error {
	if err := i.client.ConfigureDevice(i.name, cfg); err != nil {
		return fmt.Errorf("wgif: configure %s: %w", i.name, err)
	}
	return nil
}

// Device queries the device with wgctrl.
func (i *Interface) Device() (*wgtypes.Device, error) {
	d, err := i.client.Device(i.name)
	if err != nil {
		return nil, fmt.Errorf("wgif: query %s: %w", i.name, err)
	}
	return d, nil
}

// tableName is the interface's nftables table.
func (i *Interface) tableName() string { return "clawfleet-" + i.name }

// table is the interface's firewall: input from it only for established
// and related traffic, ICMP and new TCP connections to ports (other TCP is
// reset, the rest dropped); nothing forwarded into or out of it.
func (i *Interface) table(ports []int, redirects map[int]int) firewall.Table {
	in := []firewall.Rule{
		{In: i.name, Established: true, Verdict: firewall.Accept},
		{In: i.name, Proto: firewall.ICMP, Verdict: firewall.Accept},
		{In: i.name, Proto: firewall.ICMPv6, Verdict: firewall.Accept},
	}
	var pre []firewall.Rule
	for _, p := range ports {
		if to, ok := redirects[p]; ok {
			// Arriving for p, it goes to port to of ours: the input
			// filter sees to, not p (which stays closed).
			pre = append(pre, firewall.Rule{In: i.name, Proto: firewall.TCP, DPort: uint16(p), Verdict: firewall.Redirect, ToPort: uint16(to)})
			p = to
		}
		in = append(in, firewall.Rule{In: i.name, Proto: firewall.TCP, DPort: uint16(p), Verdict: firewall.Accept})
	}
	in = append(in, firewall.Rule{In: i.name, Proto: firewall.TCP, Verdict: firewall.Reset}, firewall.Rule{In: i.name, Verdict: firewall.Drop})
	t := firewall.Table{Name: i.tableName(), Chains: []firewall.Chain{
		{Name: "input", Hook: firewall.Input, Rules: in},
		{Name: "forward", Hook: firewall.Forward, Rules: []firewall.Rule{{In: i.name, Verdict: firewall.Drop}, {Out: i.name, Verdict: firewall.Drop}}},
	}}
	if len(pre) > 0 { // a NAT chain only where needed: it needs the kernel's nat
		t.Chains = append(t.Chains, firewall.Chain{Name: "prerouting", Hook: firewall.Prerouting, Rules: pre})
	}
	return t
}

// SetInputPorts replaces the interface's input filter: established and
// related traffic, ICMP and new TCP connections to ports pass; other TCP is
// reset, the rest dropped. Without a firewall (AllowUnfiltered, which Open
// warned about) it does nothing.
func (i *Interface) SetInputPorts(ports []int) error { return i.SetPorts(ports, nil) }

// SetPorts is SetInputPorts where a connection to a port p of redirects
// arrives at port redirects[p] of the interface's address instead: for a
// port a local service holds on all addresses (Docker's published port of
// an adopted container, with its destination NAT that would take the
// connection to the container and into the forward drop), so a forwarder
// of ours on another port receives it.
func (i *Interface) SetPorts(ports []int, redirects map[int]int) error {
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("wgif: port %d out of range", p)
		}
	}
	for p, to := range redirects {
		if to < 1 || to > 65535 || !slices.Contains(ports, p) {
			return fmt.Errorf("wgif: redirect of port %d to %d: not a port given, or out of range", p, to)
		}
	}
	if !i.filtered {
		if len(redirects) > 0 {
			return errors.New("wgif: no firewall on the interface, so no redirect (AllowUnfiltered)")
		}
		return nil
	}
	return firewall.Apply(i.table(ports, redirects))
}

// Filtered reports whether the interface's firewall is installed.
func (i *Interface) Filtered() bool { return i.filtered }

// FirewallTable is the name of the interface's nftables table (inet).
func (i *Interface) FirewallTable() string { return i.tableName() }

// Close removes the interface, its routes and its firewall table.
func (i *Interface) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil
	}
	i.closed = true
	if i.client != nil {
		i.client.Close()
	}
	if i.uapi != nil {
		i.uapi.Close()
	}
	if i.dev != nil {
		i.dev.Close() // closes the TUN: the interface and its routes go
	} else {
		_, _ = i.run("link", "del", "dev", i.name)
	}
	if i.filtered {
		if err := firewall.Remove(i.tableName()); err != nil {
			i.log.Warn("removing the WireGuard interface's firewall failed", "table", i.tableName(), "err", err)
		}
	}
	return nil
}

func (i *Interface) run(args ...string) ([]byte, error) { return runTool(i.ip, args...) }

func lookTool(name string) (string, error) { return systool.Look(name) }

func runTool(bin string, args ...string) ([]byte, error) { return runInput(bin, "", args...) }

func runInput(bin, stdin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}
