// Package wifi controls a box's Wi-Fi for pairing: it scans, joins a network
// with a password (and says why a join failed), runs the setup hotspot and
// tells whether the box is online. NetworkManager is the implementation
// (over its D-Bus API); wifitest has the fake the pairing tests use.
package wifi

import (
	"errors"
	"fmt"
	"net/netip"
)

// Security is how an access point is protected.
type Security string

// Security kinds. Only Open, WPA and WPA3 can be joined from the portal:
// WEP is broken and enterprise (802.1X) needs more than a password.
const (
	Open       Security = "open"
	WPA        Security = "wpa"  // WPA/WPA2 personal (PSK), also WPA2/WPA3 transition
	WPA3       Security = "wpa3" // WPA3 personal only (SAE)
	WEP        Security = "wep"
	Enterprise Security = "enterprise"
)

// Joinable reports whether a password is all the portal needs to join.
func (s Security) Joinable() bool { return s == Open || s == WPA || s == WPA3 }

// AccessPoint is one network from a scan (the strongest access point of its SSID).
type AccessPoint struct {
	SSID     string   `json:"ssid"`
	Signal   int      `json:"signal"` // 0-100
	Security Security `json:"security"`
}

// Reason says why joining a network failed, in terms a person can act on.
type Reason string

// Join failure reasons.
const (
	ReasonWrongPassword Reason = "wrong-password" // the network refused the password
	ReasonNotFound      Reason = "not-found"      // the network is out of range or gone
	ReasonTimeout       Reason = "timeout"        // no answer in time (weak signal, or a password some drivers report this way)
	ReasonNoAddress     Reason = "no-address"     // joined, but the router gave no IP address (DHCP)
	ReasonUnsupported   Reason = "unsupported"    // WEP or enterprise networks
	ReasonFailed        Reason = "failed"         // anything else; Detail says what
)

// ConnectError is a failed join.
type ConnectError struct {
	Reason Reason
	Detail string // for logs: NetworkManager's own code or message
	Err    error  // cause, if any
}

func (e *ConnectError) Error() string {
	msg := fmt.Sprintf("join Wi-Fi: %s", e.Reason)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Hotspot is the setup access point a box opens while it has no network.
type Hotspot struct {
	SSID string
	// Password protects the hotspot with WPA2 when set (8-63 characters);
	// empty opens it.
	Password string
	// Address is the box's address and subnet on the hotspot; phones get
	// an address from it by DHCP.
	Address netip.Prefix
}

// DefaultHotspotAddress is NetworkManager's own default for shared
// connections, made explicit because the portal binds to it.
var DefaultHotspotAddress = netip.MustParsePrefix("10.42.0.1/24")

// ErrNoDevice means the box has no Wi-Fi device NetworkManager manages.
var ErrNoDevice = errors.New("no Wi-Fi device managed by NetworkManager")

// ValidPassword checks a password for a network of security s: WPA/WPA2
// passphrases are 8-63 bytes (NetworkManager's rule, so
// UTF-8 passphrases pass) or 64 hex digits; WPA3 (SAE) takes any
// non-empty password up to 128 bytes; open networks take none.
func ValidPassword(s Security, pw string) bool {
	switch s {
	case Open:
		return true
	case WPA:
		if len(pw) == 64 {
			for _, c := range pw {
				if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
					return false
				}
			}
			return true
		}
		return len(pw) >= 8 && len(pw) <= 63
	case WPA3:
		return len(pw) >= 1 && len(pw) <= 128
	}
	return false
}
