package proto

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
)

// TunnelConfig is the cloud's retained WireGuard configuration for one host
// (down/tunnel): the host's tunnel address and the hub to peer with. The
// host's private key never leaves it; the cloud learns the public key from
// Register.WGPublicKey.
type TunnelConfig struct {
	Header
	// Address is the host's own tunnel address (a single IP, e.g.
	// "100.96.0.2"); the hub accepts only this source from the host.
	Address string `json:"address"`
	// HubAddress is the hub's tunnel address (e.g. "100.96.0.1"): the only
	// address the host routes into the tunnel.
	HubAddress   string `json:"hubAddress"`
	HubPublicKey string `json:"hubPublicKey"` // base64, 32 bytes
	HubEndpoint  string `json:"hubEndpoint"`  // host:port (UDP)
	// KeepaliveSeconds is the persistent keepalive the host sends, so the
	// hub can reach it behind NAT.
	KeepaliveSeconds int `json:"keepaliveSeconds"`
	// Ports are the host ports the hub may open through the tunnel (the
	// tenants' gateway ports); the host refuses every other port.
	Ports []int `json:"ports,omitempty"`
	// Session names the hub's current peer for the host: it changes
	// whenever the hub (re)installs that peer (a new key, a cloud restart),
	// which drops the hub's end of the WireGuard session. A host seeing a
	// new Session starts a fresh handshake at once instead of waiting for
	// its session to expire (up to two minutes of an unreachable host).
	// Empty from clouds that predate it.
	Session string `json:"session,omitempty"`
}

// TunnelStatus is what a host reports about its tunnel in each heartbeat.
type TunnelStatus struct {
	Mode string `json:"mode"` // the mode in use: kernel, tun or netstack
	// HandshakeAgeSeconds is the time since the last handshake with the
	// hub; -1 when there has been none.
	HandshakeAgeSeconds int64  `json:"handshakeAgeSeconds"`
	Address             string `json:"address,omitempty"`
	Error               string `json:"error,omitempty"`
}

// ValidateWGKey checks a base64 WireGuard key (32 bytes).
func ValidateWGKey(k string) error {
	b, err := base64.StdEncoding.DecodeString(k)
	if err != nil || len(b) != 32 {
		return fmt.Errorf("%w: WireGuard key must be 32 bytes in base64", ErrInvalid)
	}
	return nil
}

// DecodeTunnelConfig decodes and validates a tunnel config.
func DecodeTunnelConfig(b []byte) (*TunnelConfig, error) {
	var m TunnelConfig
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	a, err := netip.ParseAddr(m.Address)
	if err != nil {
		return nil, invalid("tunnel address %q", truncate(m.Address, 64))
	}
	h, err := netip.ParseAddr(m.HubAddress)
	if err != nil || h == a {
		return nil, invalid("hub address %q", truncate(m.HubAddress, 64))
	}
	if err := ValidateWGKey(m.HubPublicKey); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(m.HubEndpoint); err != nil {
		return nil, invalid("hub endpoint %q is not host:port", truncate(m.HubEndpoint, 80))
	}
	if m.KeepaliveSeconds < 0 || m.KeepaliveSeconds > 3600 {
		return nil, invalid("keepalive out of range")
	}
	if len(m.Session) > 64 {
		return nil, invalid("tunnel session longer than 64 bytes")
	}
	if len(m.Ports) > 1024 {
		return nil, invalid("too many ports")
	}
	for _, p := range m.Ports {
		if p < 1 || p > 65535 {
			return nil, invalid("port %d out of range", p)
		}
	}
	return &m, nil
}
