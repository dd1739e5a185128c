// Package wgif runs WireGuard on a real network interface, for the hub and
// the agent alike, in one of two modes:
//
//   - kernel: the Linux kernel's WireGuard (`ip link add <name> type
//     wireguard`), when its module is there;
//   - tun: wireguard-go in this process on a TUN device, with its UAPI
//     socket (/var/run/wireguard/<name>.sock) served in-process.
//
// Either way the device is configured and queried with wgctrl, the
// interface's address and routes are set with ip(8), forwarding of packets
// received on the interface is switched off, and a per-interface nftables
// table (pkg/firewall, over netlink: no iptables) admits only established
// traffic, ICMP and the TCP ports given to SetInputPorts, and drops
// whatever would be forwarded into or out of the interface, even once a
// later change of ip_forward has switched the interface's forwarding sysctl
// back on. Without that firewall Open fails, unless AllowUnfiltered. Both
// need root.
package wgif

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/clawfleet/clawfleet/pkg/wgkey"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Modes.
const (
	Kernel = "kernel"
	Tun    = "tun"
)

// Defaults.
const (
	// KernelModulePath exists when the kernel's WireGuard is loaded (or
	// built in).
	KernelModulePath = "/sys/module/wireguard"
	// TunDevicePath is the TUN clone device.
	TunDevicePath = "/dev/net/tun"
)

// ErrKernelModule is wrapped by Open in kernel mode when the kernel has no
// WireGuard.
var ErrKernelModule = errors.New("the wireguard kernel module is not loaded (no " + KernelModulePath + "; try `modprobe wireguard`, or use the tun or netstack/userspace mode)")

// Options configure Open.
type Options struct {
	// Name of the interface (at most 15 bytes). Required.
	Name string
	// Mode is Kernel or Tun.
	Mode string
	// MTU of the interface. Required.
	MTU int
	// PrivateKey of the device. Required.
	PrivateKey wgkey.Key
	// ListenPort is the UDP port; 0 picks a free one (see Interface.Device).
	ListenPort int
	// ListenAddr, when set and not unspecified, is the one local address
	// the UDP socket binds (tun mode; the kernel's WireGuard binds every
	// address, so kernel mode refuses one). Otherwise every address.
	ListenAddr netip.Addr
	// Address is the interface's address; its prefix length makes the
	// on-link route (/32: none).
	Address netip.Prefix
	// Routes are routed into the interface besides Address's prefix. A
	// route that already exists (another interface holds it) is an error.
	Routes []netip.Prefix
	// AllowUnfiltered opens the interface even where its firewall cannot
	// be installed (every local service bound to all addresses is then
	// reachable from the peers); otherwise that is an error.
	AllowUnfiltered bool
	// Logger receives logs; nil is slog.Default().
	Logger *slog.Logger
}

// KernelAvailable reports whether the kernel has WireGuard, with an error
// wrapping ErrKernelModule when it has not.
func KernelAvailable() error {
	if _, err := os.Stat(KernelModulePath); err != nil {
		return ErrKernelModule
	}
	return nil
}

// TunAvailable reports whether a TUN device can be made here: root and an
// openable TUN clone device.
func TunAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("tun mode needs root")
	}
	f, err := os.OpenFile(TunDevicePath, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("tun mode needs %s: %w", TunDevicePath, err)
	}
	f.Close()
	return nil
}

// PeerConfig is a peer with exactly the given allowed IPs.
func PeerConfig(key wgkey.Key, endpoint netip.AddrPort, keepalive time.Duration, allowed ...netip.Prefix) wgtypes.PeerConfig {
	pc := wgtypes.PeerConfig{PublicKey: wgtypes.Key(key), ReplaceAllowedIPs: true}
	if endpoint.IsValid() {
		pc.Endpoint = net.UDPAddrFromAddrPort(endpoint)
	}
	if keepalive >= 0 {
		pc.PersistentKeepaliveInterval = &keepalive
	}
	for _, p := range allowed {
		pc.AllowedIPs = append(pc.AllowedIPs, net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	return pc
}

// RemovePeer is the config that removes one peer and leaves the others.
func RemovePeer(key wgkey.Key) wgtypes.PeerConfig {
	return wgtypes.PeerConfig{PublicKey: wgtypes.Key(key), Remove: true}
}

// DeviceLogger routes wireguard-go's logs to slog: its verbose lines at
// debug, its errors at warn.
func DeviceLogger(l *slog.Logger) *device.Logger {
	return &device.Logger{
		Verbosef: func(format string, args ...any) {
			if l.Enabled(context.Background(), slog.LevelDebug) {
				l.Debug(fmt.Sprintf(format, args...))
			}
		},
		Errorf: func(format string, args ...any) { l.Warn(fmt.Sprintf(format, args...)) },
	}
}
