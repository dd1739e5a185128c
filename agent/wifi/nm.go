package wifi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// NetworkManager's D-Bus API (https://networkmanager.dev/docs/api/latest/),
// the parts pairing uses. D-Bus rather than nmcli: a join's failure comes
// back as a numeric device-state reason (no localized text to parse), the
// hotspot profile can be kept in memory only (AddConnectionUnsaved), and the
// agent stays one static binary with no process to spawn per call.
const (
	nmDest          = "org.freedesktop.NetworkManager"
	nmPath          = dbus.ObjectPath("/org/freedesktop/NetworkManager")
	nmIface         = "org.freedesktop.NetworkManager"
	settingsPath    = dbus.ObjectPath("/org/freedesktop/NetworkManager/Settings")
	settingsIface   = "org.freedesktop.NetworkManager.Settings"
	connectionIface = "org.freedesktop.NetworkManager.Settings.Connection"
	deviceIface     = "org.freedesktop.NetworkManager.Device"
	wirelessIface   = "org.freedesktop.NetworkManager.Device.Wireless"
	apIface         = "org.freedesktop.NetworkManager.AccessPoint"
	activeIface     = "org.freedesktop.NetworkManager.Connection.Active"
	propsGet        = "org.freedesktop.DBus.Properties.Get"

	deviceTypeWifi = 2    // NM_DEVICE_TYPE_WIFI
	wifiCapAP      = 0x40 // NM_WIFI_DEVICE_CAP_AP

	apFlagPrivacy = 0x1   // NM_802_11_AP_FLAGS_PRIVACY
	keyMgmtPSK    = 0x100 // NM_802_11_AP_SEC_KEY_MGMT_PSK
	keyMgmt8021X  = 0x200
	keyMgmtSAE    = 0x400

	// NMState values: at least "site" means a default route, i.e. a
	// network that works beyond the box itself.
	stateConnectedSite = 60

	// NMDeviceState values.
	devPrepare     = 40
	devNeedAuth    = 60
	devActivated   = 100
	devDeactivate  = 110
	devFailed      = 120
	devUnavailable = 20
	devDisconnect  = 30
)

// NMOptions configure NewNetworkManager.
type NMOptions struct {
	// BusAddress is the D-Bus address of NetworkManager's bus; empty means
	// the system bus (DBUS_SYSTEM_BUS_ADDRESS or the standard socket).
	BusAddress string
	// Interface is the Wi-Fi interface to use (e.g. wlan0); empty means the
	// first Wi-Fi device NetworkManager manages.
	Interface string
	// HotspotID names the in-memory hotspot profile; default clawfleet-hotspot.
	HotspotID string
	// ConnectTimeout bounds one join (association, authentication, DHCP);
	// default 90 s, above NetworkManager's own 45 s DHCP timeout.
	ConnectTimeout time.Duration
	// ScanTimeout bounds one scan; default 20 s.
	ScanTimeout time.Duration
	Logger      *slog.Logger
}

// NetworkManager controls Wi-Fi through NetworkManager. Its methods are
// safe for concurrent use; they run one at a time.
type NetworkManager struct {
	conn *dbus.Conn
	opts NMOptions
	log  *slog.Logger
	mu   sync.Mutex
}

// NewNetworkManager connects to NetworkManager and checks that it answers.
func NewNetworkManager(ctx context.Context, o NMOptions) (*NetworkManager, error) {
	if o.HotspotID == "" {
		o.HotspotID = "clawfleet-hotspot"
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 90 * time.Second
	}
	if o.ScanTimeout <= 0 {
		o.ScanTimeout = 20 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var conn *dbus.Conn
	var err error
	if o.BusAddress != "" {
		conn, err = dbus.Connect(o.BusAddress, dbus.WithContext(ctx))
	} else {
		conn, err = dbus.ConnectSystemBus(dbus.WithContext(ctx))
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the D-Bus system bus (is dbus running?): %w", err)
	}
	n := &NetworkManager{conn: conn, opts: o, log: log}
	var version string
	if err := n.get(ctx, nmPath, nmIface, "Version", &version); err != nil {
		conn.Close()
		return nil, fmt.Errorf("NetworkManager does not answer on D-Bus (is it installed and running?): %w", err)
	}
	log.Debug("NetworkManager found", "version", version)
	return n, nil
}

// Close closes the D-Bus connection.
func (n *NetworkManager) Close() error { return n.conn.Close() }

// Online reports whether the box has a working network other than its
// own hotspot: NetworkManager's state is at least "connected (site)", and
// the primary connection is not the hotspot.
func (n *NetworkManager) Online(ctx context.Context) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var state uint32
	if err := n.get(ctx, nmPath, nmIface, "State", &state); err != nil {
		return false, fmt.Errorf("read NetworkManager's state: %w", err)
	}
	if state < stateConnectedSite {
		return false, nil
	}
	var primary dbus.ObjectPath
	if err := n.get(ctx, nmPath, nmIface, "PrimaryConnection", &primary); err != nil {
		return false, fmt.Errorf("read NetworkManager's primary connection: %w", err)
	}
	if primary == "/" || primary == "" {
		return true, nil
	}
	var id string
	if err := n.get(ctx, primary, activeIface, "Id", &id); err != nil {
		return true, nil // gone since: the state said online
	}
	return id != n.opts.HotspotID, nil
}

// SavedNetworks counts the Wi-Fi client profiles NetworkManager would try
// on its own (not the hotspot).
func (n *NetworkManager) SavedNetworks(ctx context.Context) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	profiles, err := n.profiles(ctx)
	if err != nil {
		return 0, err
	}
	count := 0
	for _, p := range profiles {
		if p.wifi && p.mode != "ap" && p.id != n.opts.HotspotID {
			count++
		}
	}
	return count, nil
}

// Scan asks the Wi-Fi device for a fresh scan and returns the networks in
// range, strongest first, one entry per SSID (hidden ones left out).
// Most Wi-Fi chips cannot scan while they are an access point: stop the
// hotspot first.
func (n *NetworkManager) Scan(ctx context.Context) ([]AccessPoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dev, err := n.wifiDevice(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.ScanTimeout)
	defer cancel()
	var before int64
	_ = n.get(ctx, dev, wirelessIface, "LastScan", &before)
	if err := n.conn.Object(nmDest, dev).CallWithContext(ctx, wirelessIface+".RequestScan", 0, map[string]dbus.Variant{}).Err; err != nil {
		// Refused while a scan runs or right after one: the list NetworkManager
		// has is fresh enough then.
		n.log.Debug("scan request refused; using the current list", "err", err)
	} else {
		for {
			var last int64
			if err := n.get(ctx, dev, wirelessIface, "LastScan", &last); err == nil && last != before {
				break
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("Wi-Fi scan did not finish in %s: %w", n.opts.ScanTimeout, ctx.Err())
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	var paths []dbus.ObjectPath
	if err := n.conn.Object(nmDest, dev).CallWithContext(ctx, wirelessIface+".GetAllAccessPoints", 0).Store(&paths); err != nil {
		return nil, fmt.Errorf("list Wi-Fi access points: %w", err)
	}
	var aps []rawAP
	for _, p := range paths {
		var ap rawAP
		// An access point can vanish between the list and the read: skip it.
		if n.get(ctx, p, apIface, "Ssid", &ap.ssid) != nil || n.get(ctx, p, apIface, "Strength", &ap.strength) != nil {
			continue
		}
		_ = n.get(ctx, p, apIface, "Flags", &ap.flags)
		_ = n.get(ctx, p, apIface, "WpaFlags", &ap.wpa)
		_ = n.get(ctx, p, apIface, "RsnFlags", &ap.rsn)
		aps = append(aps, ap)
	}
	return mergeAPs(aps), nil
}

// rawAP is an access point's properties as NetworkManager gives them.
type rawAP struct {
	ssid            []byte
	strength        uint8
	flags, wpa, rsn uint32
}

// mergeAPs keeps the strongest access point of each named SSID, strongest first.
func mergeAPs(aps []rawAP) []AccessPoint {
	best := map[string]AccessPoint{}
	for _, a := range aps {
		ssid := string(bytes.TrimRight(a.ssid, "\x00"))
		if ssid == "" {
			continue
		}
		ap := AccessPoint{SSID: ssid, Signal: int(min(a.strength, 100)), Security: classify(a.flags, a.wpa, a.rsn)}
		if old, ok := best[ssid]; !ok || ap.Signal > old.Signal {
			best[ssid] = ap
		}
	}
	out := make([]AccessPoint, 0, len(best))
	for _, ap := range best {
		out = append(out, ap)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Signal != out[j].Signal {
			return out[i].Signal > out[j].Signal
		}
		return out[i].SSID < out[j].SSID
	})
	return out
}

// classify maps an access point's flags to what joining it needs. A
// password is enough whenever the network offers PSK, also next to SAE or 802.1X.
func classify(flags, wpa, rsn uint32) Security {
	km := wpa | rsn
	switch {
	case km&keyMgmtPSK != 0:
		return WPA
	case km&keyMgmtSAE != 0:
		return WPA3
	case km&keyMgmt8021X != 0:
		return Enterprise
	case flags&apFlagPrivacy != 0 && km == 0:
		return WEP
	}
	return Open
}

// joinSettings is the profile saved for a joined network: NetworkManager
// reconnects to it on its own after a reboot or an outage.
func joinSettings(ap AccessPoint, password string) map[string]map[string]dbus.Variant {
	s := map[string]map[string]dbus.Variant{
		"connection": {
			"id":          dbus.MakeVariant(ap.SSID),
			"type":        dbus.MakeVariant("802-11-wireless"),
			"autoconnect": dbus.MakeVariant(true),
		},
		"802-11-wireless": {
			"ssid": dbus.MakeVariant([]byte(ap.SSID)),
			"mode": dbus.MakeVariant("infrastructure"),
		},
		"ipv4": {"method": dbus.MakeVariant("auto")},
		"ipv6": {"method": dbus.MakeVariant("auto")},
	}
	switch ap.Security {
	case WPA:
		s["802-11-wireless-security"] = map[string]dbus.Variant{"key-mgmt": dbus.MakeVariant("wpa-psk"), "psk": dbus.MakeVariant(password)}
	case WPA3:
		s["802-11-wireless-security"] = map[string]dbus.Variant{"key-mgmt": dbus.MakeVariant("sae"), "psk": dbus.MakeVariant(password)}
	}
	return s
}

// hotspotSettings is the in-memory access-point profile: 2.4 GHz (every
// phone has it), NetworkManager's "shared" IPv4 (its dnsmasq gives phones
// addresses; the portal answers DNS itself, see firmware/), no IPv6.
func hotspotSettings(id, iface string, h Hotspot) map[string]map[string]dbus.Variant {
	s := map[string]map[string]dbus.Variant{
		"connection": {
			"id":             dbus.MakeVariant(id),
			"type":           dbus.MakeVariant("802-11-wireless"),
			"autoconnect":    dbus.MakeVariant(false),
			"interface-name": dbus.MakeVariant(iface),
		},
		"802-11-wireless": {
			"ssid": dbus.MakeVariant([]byte(h.SSID)),
			"mode": dbus.MakeVariant("ap"),
			"band": dbus.MakeVariant("bg"),
		},
		"ipv4": {
			"method": dbus.MakeVariant("shared"),
			"address-data": dbus.MakeVariant([]map[string]dbus.Variant{{
				"address": dbus.MakeVariant(h.Address.Addr().String()),
				"prefix":  dbus.MakeVariant(uint32(h.Address.Bits())),
			}}),
		},
		"ipv6": {"method": dbus.MakeVariant("ignore")},
	}
	if h.Password != "" {
		s["802-11-wireless-security"] = map[string]dbus.Variant{
			"key-mgmt": dbus.MakeVariant("wpa-psk"),
			"psk":      dbus.MakeVariant(h.Password),
			"proto":    dbus.MakeVariant([]string{"rsn"}),
			"pairwise": dbus.MakeVariant([]string{"ccmp"}),
			"group":    dbus.MakeVariant([]string{"ccmp"}),
		}
	}
	return s
}

// Connect joins the network ap with password and waits until the box has
// an address on it. Earlier profiles of the same SSID are replaced (the
// person is typing its password anew); a failed join leaves no profile
// behind, so NetworkManager never retries a wrong password on its own.
// A failure is a *ConnectError.
func (n *NetworkManager) Connect(ctx context.Context, ap AccessPoint, password string) error {
	if !ap.Security.Joinable() {
		return &ConnectError{Reason: ReasonUnsupported, Detail: string(ap.Security)}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	dev, err := n.wifiDevice(ctx)
	if err != nil {
		return err
	}
	profiles, err := n.profiles(ctx)
	if err != nil {
		return err
	}
	for _, p := range profiles {
		if p.wifi && p.mode != "ap" && p.ssid == ap.SSID {
			if err := n.conn.Object(nmDest, p.path).CallWithContext(ctx, connectionIface+".Delete", 0).Err; err != nil {
				n.log.Warn("old Wi-Fi profile not removed", "ssid", ap.SSID, "err", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.ConnectTimeout)
	defer cancel()
	states, stop, err := n.watchDevice(ctx, dev)
	if err != nil {
		return err
	}
	defer stop()
	var profile, active dbus.ObjectPath
	if err := n.conn.Object(nmDest, nmPath).CallWithContext(ctx, nmIface+".AddAndActivateConnection", 0,
		joinSettings(ap, password), dev, dbus.ObjectPath("/")).Store(&profile, &active); err != nil {
		return &ConnectError{Reason: ReasonFailed, Detail: "NetworkManager refused the profile", Err: err}
	}
	reason, err := n.awaitActivation(ctx, dev, active, states)
	if err == nil {
		n.log.Info("joined Wi-Fi", "ssid", ap.SSID)
		return nil
	}
	// Leave nothing behind: no retry loop with a wrong password.
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer dcancel()
	_ = n.conn.Object(nmDest, nmPath).CallWithContext(dctx, nmIface+".DeactivateConnection", 0, active).Err
	_ = n.conn.Object(nmDest, profile).CallWithContext(dctx, connectionIface+".Delete", 0).Err
	ce := &ConnectError{Reason: reasonFor(reason), Err: err}
	if reason != 0 {
		ce.Detail = fmt.Sprintf("NetworkManager device state reason %d", reason)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		ce.Reason = ReasonTimeout
	}
	return ce
}

// reasonFor maps NMDeviceStateReason to a Reason.
func reasonFor(r uint32) Reason {
	switch r {
	case 7, 8, 9: // NO_SECRETS, SUPPLICANT_DISCONNECT (4-way handshake), SUPPLICANT_CONFIG_FAILED
		return ReasonWrongPassword
	case 11: // SUPPLICANT_TIMEOUT
		return ReasonTimeout
	case 53, 70: // SSID_NOT_FOUND, PEER_NOT_FOUND
		return ReasonNotFound
	case 5, 6, 15, 16, 17: // IP_CONFIG_UNAVAILABLE/EXPIRED, DHCP_START_FAILED/ERROR/FAILED
		return ReasonNoAddress
	}
	return ReasonFailed
}

// StartHotspot opens the setup access point and waits until it is up.
func (n *NetworkManager) StartHotspot(ctx context.Context, h Hotspot) error {
	if h.SSID == "" || len(h.SSID) > 32 {
		return fmt.Errorf("hotspot SSID %q: 1-32 bytes", h.SSID)
	}
	if h.Password != "" && (len(h.Password) < 8 || len(h.Password) > 63) {
		return errors.New("hotspot password: 8-63 characters, or none for an open hotspot")
	}
	if !h.Address.IsValid() {
		h.Address = DefaultHotspotAddress
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	dev, err := n.wifiDevice(ctx)
	if err != nil {
		return err
	}
	var caps uint32
	if err := n.get(ctx, dev, wirelessIface, "WirelessCapabilities", &caps); err != nil {
		return fmt.Errorf("read the Wi-Fi device's capabilities: %w", err)
	}
	if caps&wifiCapAP == 0 {
		return errors.New("the Wi-Fi device cannot be an access point (its driver lacks AP mode)")
	}
	var iface string
	if err := n.get(ctx, dev, deviceIface, "Interface", &iface); err != nil {
		return fmt.Errorf("read the Wi-Fi interface name: %w", err)
	}
	if err := n.removeHotspotProfiles(ctx); err != nil {
		return err
	}
	var profile dbus.ObjectPath
	// Unsaved: the hotspot exists in NetworkManager's memory only and is
	// gone after a reboot; the agent makes it again when it needs it.
	if err := n.conn.Object(nmDest, settingsPath).CallWithContext(ctx, settingsIface+".AddConnectionUnsaved", 0,
		hotspotSettings(n.opts.HotspotID, iface, h)).Store(&profile); err != nil {
		return fmt.Errorf("NetworkManager refused the hotspot profile: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	states, stop, err := n.watchDevice(ctx, dev)
	if err != nil {
		return err
	}
	defer stop()
	var active dbus.ObjectPath
	if err := n.conn.Object(nmDest, nmPath).CallWithContext(ctx, nmIface+".ActivateConnection", 0, profile, dev, dbus.ObjectPath("/")).Store(&active); err != nil {
		return fmt.Errorf("start the hotspot: %w", err)
	}
	if reason, err := n.awaitActivation(ctx, dev, active, states); err != nil {
		return fmt.Errorf("start the hotspot (device state reason %d): %w", reason, err)
	}
	n.log.Info("hotspot up", "ssid", h.SSID, "interface", iface, "address", h.Address)
	return nil
}

// StopHotspot takes the access point down (if it is up) and forgets its profile.
func (n *NetworkManager) StopHotspot(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var actives []dbus.ObjectPath
	if err := n.get(ctx, nmPath, nmIface, "ActiveConnections", &actives); err != nil {
		return fmt.Errorf("list active connections: %w", err)
	}
	for _, a := range actives {
		var id string
		if n.get(ctx, a, activeIface, "Id", &id) != nil || id != n.opts.HotspotID {
			continue
		}
		if err := n.conn.Object(nmDest, nmPath).CallWithContext(ctx, nmIface+".DeactivateConnection", 0, a).Err; err != nil {
			return fmt.Errorf("stop the hotspot: %w", err)
		}
		// Wait until it is gone, so the radio is free for a scan or a join.
		for {
			var state uint32
			if n.get(ctx, a, activeIface, "State", &state) != nil || state == 4 { // gone, or DEACTIVATED
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("stop the hotspot: %w", ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return n.removeHotspotProfiles(ctx)
}

func (n *NetworkManager) removeHotspotProfiles(ctx context.Context) error {
	profiles, err := n.profiles(ctx)
	if err != nil {
		return err
	}
	for _, p := range profiles {
		if p.id == n.opts.HotspotID {
			if err := n.conn.Object(nmDest, p.path).CallWithContext(ctx, connectionIface+".Delete", 0).Err; err != nil {
				return fmt.Errorf("remove the old hotspot profile: %w", err)
			}
		}
	}
	return nil
}

// profile is the part of a saved connection pairing looks at.
type profile struct {
	path           dbus.ObjectPath
	id, mode, ssid string
	wifi           bool
}

func (n *NetworkManager) profiles(ctx context.Context) ([]profile, error) {
	var paths []dbus.ObjectPath
	if err := n.conn.Object(nmDest, settingsPath).CallWithContext(ctx, settingsIface+".ListConnections", 0).Store(&paths); err != nil {
		return nil, fmt.Errorf("list NetworkManager's profiles: %w", err)
	}
	var out []profile
	for _, p := range paths {
		var s map[string]map[string]dbus.Variant
		if err := n.conn.Object(nmDest, p).CallWithContext(ctx, connectionIface+".GetSettings", 0).Store(&s); err != nil {
			continue // removed meanwhile
		}
		pr := profile{path: p, id: setting[string](s, "connection", "id"), mode: setting[string](s, "802-11-wireless", "mode"),
			ssid: string(setting[[]byte](s, "802-11-wireless", "ssid"))}
		pr.wifi = setting[string](s, "connection", "type") == "802-11-wireless"
		out = append(out, pr)
	}
	return out, nil
}

// setting reads one value of a profile's settings, or T's zero value when
// the profile has no such setting (godbus panics storing an absent Variant).
func setting[T any](s map[string]map[string]dbus.Variant, group, key string) T {
	var out T
	if v, ok := s[group][key]; ok {
		_ = v.Store(&out)
	}
	return out
}

// wifiDevice finds the Wi-Fi device to use.
func (n *NetworkManager) wifiDevice(ctx context.Context) (dbus.ObjectPath, error) {
	var devs []dbus.ObjectPath
	if err := n.conn.Object(nmDest, nmPath).CallWithContext(ctx, nmIface+".GetDevices", 0).Store(&devs); err != nil {
		return "", fmt.Errorf("list NetworkManager's devices: %w", err)
	}
	var names []string
	for _, d := range devs {
		var typ uint32
		var iface string
		if n.get(ctx, d, deviceIface, "DeviceType", &typ) != nil || typ != deviceTypeWifi {
			continue
		}
		_ = n.get(ctx, d, deviceIface, "Interface", &iface)
		if n.opts.Interface == "" || n.opts.Interface == iface {
			return d, nil
		}
		names = append(names, iface)
	}
	if n.opts.Interface != "" && len(names) > 0 {
		return "", fmt.Errorf("%w named %s (there is %s)", ErrNoDevice, n.opts.Interface, strings.Join(names, ", "))
	}
	return "", ErrNoDevice
}

// deviceState is one StateChanged signal of a device.
type deviceState struct{ state, reason uint32 }

// watchDevice delivers the device's state changes until stop is called.
// It subscribes before the caller acts, so no change is missed.
func (n *NetworkManager) watchDevice(ctx context.Context, dev dbus.ObjectPath) (<-chan deviceState, func(), error) {
	match := []dbus.MatchOption{dbus.WithMatchObjectPath(dev), dbus.WithMatchInterface(deviceIface), dbus.WithMatchMember("StateChanged")}
	if err := n.conn.AddMatchSignalContext(ctx, match...); err != nil {
		return nil, nil, fmt.Errorf("watch the Wi-Fi device: %w", err)
	}
	sigs := make(chan *dbus.Signal, 32)
	n.conn.Signal(sigs)
	out := make(chan deviceState, 32)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if s == nil || s.Path != dev || s.Name != deviceIface+".StateChanged" || len(s.Body) != 3 {
					continue
				}
				st, _ := s.Body[0].(uint32)
				reason, _ := s.Body[2].(uint32)
				select {
				case out <- deviceState{st, reason}:
				case <-done:
					return
				}
			}
		}
	}()
	stop := func() {
		close(done)
		n.conn.RemoveSignal(sigs)
		_ = n.conn.RemoveMatchSignalContext(context.WithoutCancel(ctx), match...)
	}
	return out, stop, nil
}

// awaitActivation waits until the device has activated the active
// connection, or failed it; on failure it returns the device's reason.
func (n *NetworkManager) awaitActivation(ctx context.Context, dev, active dbus.ObjectPath, states <-chan deviceState) (uint32, error) {
	started := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case s := <-states:
			n.log.Debug("Wi-Fi device state", "state", s.state, "reason", s.reason)
			switch {
			case s.state >= devPrepare && s.state < devActivated:
				started = true
			case s.state == devActivated:
				var cur dbus.ObjectPath
				if n.get(ctx, dev, deviceIface, "ActiveConnection", &cur) == nil && cur == active {
					return 0, nil
				}
			case s.state == devFailed || (started && (s.state == devDisconnect || s.state == devUnavailable)):
				return s.reason, errors.New("activation failed")
			}
		case <-tick.C:
			// A backstop in case a signal was lost: the active connection's
			// own state (2 activated, 4 deactivated; gone when removed).
			var st uint32
			if err := n.get(ctx, active, activeIface, "State", &st); err != nil || st == 4 {
				var sr struct {
					State, Reason uint32
				}
				_ = n.get(ctx, dev, deviceIface, "StateReason", &sr)
				return sr.Reason, errors.New("activation failed")
			}
			if st == 2 {
				return 0, nil
			}
		}
	}
}

// get reads one D-Bus property into out.
func (n *NetworkManager) get(ctx context.Context, path dbus.ObjectPath, iface, name string, out any) error {
	var v dbus.Variant
	if err := n.conn.Object(nmDest, path).CallWithContext(ctx, propsGet, 0, iface, name).Store(&v); err != nil {
		return err
	}
	return v.Store(out)
}
