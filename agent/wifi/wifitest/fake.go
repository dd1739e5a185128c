// Package wifitest is a fake Wi-Fi for tests of pairing: networks in range
// with their passwords, a hotspot that is up or down, and a radio that,
// like most real ones, cannot scan or join while it is an access point.
package wifitest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/agent/wifi"
)

// Network is one network in the fake's range.
type Network struct {
	wifi.AccessPoint
	Password string
}

// Fake implements what pairing needs from wifi.NetworkManager.
type Fake struct {
	// JoinDelay is how long a join takes (association, DHCP).
	JoinDelay time.Duration

	mu       sync.Mutex
	networks []Network
	online   bool
	joined   string // SSID, or "" when not on a Wi-Fi network
	hotspot  *wifi.Hotspot
	saved    map[string]string // SSID → password that worked
	calls    []string
}

// New returns a fake with the networks in range and no network joined.
func New(networks ...Network) *Fake {
	return &Fake{networks: networks, saved: map[string]string{}}
}

// SetOnline plugs a cable in (true) or pulls it (false); also, false drops
// a joined Wi-Fi network, as a router going away would.
func (f *Fake) SetOnline(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.online = on
	if !on {
		f.joined = ""
	}
}

// SetNetworks replaces the networks in range.
func (f *Fake) SetNetworks(networks ...Network) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks = networks
}

// Hotspot returns the hotspot that is up, or nil.
func (f *Fake) Hotspot() *wifi.Hotspot {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hotspot == nil {
		return nil
	}
	h := *f.hotspot
	return &h
}

// Joined returns the SSID of the Wi-Fi network the box is on, or "".
func (f *Fake) Joined() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joined
}

// Calls returns the methods called so far, in order (e.g. "Scan",
// "Connect home", "StartHotspot OpenClaw-ABCD").
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *Fake) record(s string) { f.calls = append(f.calls, s) }

// Online reports a cable or a joined network.
func (f *Fake) Online(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.online || f.joined != "", nil
}

// SavedNetworks counts networks joined before.
func (f *Fake) SavedNetworks(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.saved), nil
}

// Scan lists the networks in range; it fails while the hotspot is up.
func (f *Fake) Scan(context.Context) ([]wifi.AccessPoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Scan")
	if f.hotspot != nil {
		return nil, fmt.Errorf("fake radio: cannot scan while it is an access point")
	}
	out := make([]wifi.AccessPoint, 0, len(f.networks))
	for _, n := range f.networks {
		out = append(out, n.AccessPoint)
	}
	return out, nil
}

// Connect joins a network in range if the password matches.
func (f *Fake) Connect(ctx context.Context, ap wifi.AccessPoint, password string) error {
	f.mu.Lock()
	f.record("Connect " + ap.SSID)
	if f.hotspot != nil {
		f.mu.Unlock()
		return &wifi.ConnectError{Reason: wifi.ReasonFailed, Detail: "fake radio: still an access point"}
	}
	delay := f.JoinDelay
	f.mu.Unlock()
	select {
	case <-ctx.Done():
		return &wifi.ConnectError{Reason: wifi.ReasonTimeout, Err: ctx.Err()}
	case <-time.After(delay):
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.networks {
		if n.SSID != ap.SSID {
			continue
		}
		if !n.Security.Joinable() {
			return &wifi.ConnectError{Reason: wifi.ReasonUnsupported}
		}
		if n.Security != wifi.Open && n.Password != password {
			return &wifi.ConnectError{Reason: wifi.ReasonWrongPassword, Detail: "fake: password mismatch"}
		}
		f.joined = n.SSID
		f.saved[n.SSID] = password
		return nil
	}
	return &wifi.ConnectError{Reason: wifi.ReasonNotFound}
}

// StartHotspot brings the access point up (leaving a joined network).
func (f *Fake) StartHotspot(_ context.Context, h wifi.Hotspot) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StartHotspot " + h.SSID)
	f.joined = ""
	f.hotspot = &h
	return nil
}

// StopHotspot takes the access point down. Like NetworkManager's
// autoconnect, the radio then rejoins a saved network in range whose
// password still works.
func (f *Fake) StopHotspot(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StopHotspot")
	if f.hotspot == nil {
		return nil
	}
	f.hotspot = nil
	for _, n := range f.networks {
		if pw, ok := f.saved[n.SSID]; ok && (n.Security == wifi.Open || pw == n.Password) {
			f.joined = n.SSID
			break
		}
	}
	return nil
}

// Save records a network as joined before (NetworkManager has its profile).
func (f *Fake) Save(ssid, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saved[ssid] = password
}
