// Package pairing gets an OpenClaw box onto its owner's network and shows
// how to claim it. A box with no working network opens a Wi-Fi hotspot
// (OpenClaw-XXXX) with a captive portal: DNS and the phones' connectivity
// probes point at the box, so the phone opens the portal by itself; there
// the owner picks a network from a scan, types its password, and is shown
// the claim QR code and what to do next. A wrong password brings the
// hotspot back with the reason shown, in the owner's language. The same
// HTTP server is the box's local page: its status and, while unclaimed, the
// claim code.
package pairing

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/agent/wifi"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// Network is the Wi-Fi control pairing needs: wifi.NetworkManager, or
// wifitest.Fake in tests.
type Network interface {
	// Online reports a working network other than the hotspot.
	Online(ctx context.Context) (bool, error)
	// SavedNetworks counts the Wi-Fi networks the box would rejoin by itself.
	SavedNetworks(ctx context.Context) (int, error)
	Scan(ctx context.Context) ([]wifi.AccessPoint, error)
	// Connect joins ap; a failure is a *wifi.ConnectError with a reason.
	Connect(ctx context.Context, ap wifi.AccessPoint, password string) error
	StartHotspot(ctx context.Context, h wifi.Hotspot) error
	StopHotspot(ctx context.Context) error
}

// DefaultLocalAddr is where the local page listens unless told otherwise:
// loopback only. A box's image opens it to the LAN (see firmware/).
const DefaultLocalAddr = "127.0.0.1:8742"

// Options configure a Pairing.
type Options struct {
	// Network controls Wi-Fi; nil runs the local page only (worker VMs).
	Network Network
	// DeviceID and ClaimCode come from the credentials file; CloudURL is
	// the cloud's public base URL the claim link (creds.ClaimURL) points at.
	DeviceID, ClaimCode, CloudURL string
	// Hotspot is the setup access point; its SSID defaults to
	// HotspotSSID(DeviceID), its address to wifi.DefaultHotspotAddress.
	Hotspot wifi.Hotspot
	// LocalAddrs are the local page's listen addresses (host:port);
	// nil means DefaultLocalAddr, empty entries are skipped.
	LocalAddrs []string
	// PortalAddr and DNSAddr are where the portal listens while the
	// hotspot is up; defaults: the hotspot address, ports 80 and 53.
	PortalAddr, DNSAddr string

	// BootGrace is how long to wait for a network at start before opening
	// the hotspot (default 60 s); OfflineGrace how long a box that was
	// online may be offline before it does (default 5 min, so a router
	// restart does not do it).
	BootGrace, OfflineGrace time.Duration
	// CheckInterval is how often the network is checked (default 5 s).
	CheckInterval time.Duration
	// RetrySaved: with saved networks and nobody on the portal for
	// IdleBefore, the hotspot goes off this often (default 5 min) for up
	// to RetryWait (default 45 s) so the box can rejoin them, e.g. after a
	// power cut that the router took longer to recover from than the box.
	RetrySaved, IdleBefore, RetryWait time.Duration
	// SwitchDelay lets the portal's answer reach the phone before the
	// hotspot goes off for a join or a scan (default 2 s).
	SwitchDelay time.Duration
	Logger      *slog.Logger
}

// HotspotSSID is the setup hotspot's name for a device: OpenClaw- and the
// last four characters of its ID, upper-cased (the label shows the ID).
func HotspotSSID(deviceID string) string {
	id := strings.TrimPrefix(deviceID, "dev_")
	if len(id) > 4 {
		id = id[len(id)-4:]
	}
	return "OpenClaw-" + strings.ToUpper(id)
}

// Modes.
const (
	ModeStarting = "starting" // looking for a network at boot
	ModeOnline   = "online"   // on a network; the local page only
	ModeHotspot  = "hotspot"  // the setup hotspot and its portal are up
	ModeOffline  = "offline"  // in a pairing session, the hotspot down (scan, join, retry, or it failed to start)
)

// State is what the pages show; /api/state serves it.
type State struct {
	Mode     string             `json:"mode"`
	Hotspot  string             `json:"hotspot"`
	Networks []wifi.AccessPoint `json:"networks"`
	Busy     string             `json:"busy,omitempty"`    // "scan" or "join" while the radio is switching
	Joining  string             `json:"joining,omitempty"` // SSID being joined
	Last     *Attempt           `json:"last,omitempty"`    // the last join from the portal
	Claim    Claim              `json:"claim"`
}

// Attempt is a join's outcome.
type Attempt struct {
	SSID   string      `json:"ssid"`
	OK     bool        `json:"ok"`
	Reason wifi.Reason `json:"reason,omitempty"`
}

// Claim is what the owner needs to claim the box.
type Claim struct {
	DeviceID string `json:"deviceId"`
	Code     string `json:"code,omitempty"`
	URL      string `json:"url,omitempty"`
	Claimed  bool   `json:"claimed"`
}

type joinRequest struct {
	ap       wifi.AccessPoint
	password string
}

// Pairing runs the local page and, with a Network, the hotspot when offline.
type Pairing struct {
	o      Options
	log    *slog.Logger
	qr     []byte // SVG of the claim URL; nil without one
	joinCh chan joinRequest
	scanCh chan struct{}

	mu       sync.Mutex
	state    State
	activity time.Time // last portal request
	portal   string    // the portal's bound address while a session runs
	dnsAddr  string
	local    []string // the local page's bound addresses
}

// New checks the options and prepares the pages; Run serves them.
func New(o Options) (*Pairing, error) {
	if o.Hotspot.SSID == "" {
		o.Hotspot.SSID = HotspotSSID(o.DeviceID)
	}
	if !o.Hotspot.Address.IsValid() {
		o.Hotspot.Address = wifi.DefaultHotspotAddress
	}
	if o.Hotspot.Password != "" && (len(o.Hotspot.Password) < 8 || len(o.Hotspot.Password) > 63) {
		return nil, errors.New("hotspot password: 8-63 characters, or none for an open hotspot")
	}
	if o.LocalAddrs == nil {
		o.LocalAddrs = []string{DefaultLocalAddr}
	}
	ap := o.Hotspot.Address.Addr().String()
	if o.PortalAddr == "" {
		o.PortalAddr = net.JoinHostPort(ap, "80")
	}
	if o.DNSAddr == "" {
		o.DNSAddr = net.JoinHostPort(ap, "53")
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{{&o.BootGrace, time.Minute}, {&o.OfflineGrace, 5 * time.Minute}, {&o.CheckInterval, 5 * time.Second},
		{&o.RetrySaved, 5 * time.Minute}, {&o.IdleBefore, 3 * time.Minute}, {&o.RetryWait, 45 * time.Second}, {&o.SwitchDelay, 2 * time.Second}}
	for _, d := range defaults {
		if *d.d <= 0 {
			*d.d = d.def
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pairing{o: o, log: log, joinCh: make(chan joinRequest, 1), scanCh: make(chan struct{}, 1)}
	p.state = State{Mode: ModeStarting, Hotspot: o.Hotspot.SSID, Networks: []wifi.AccessPoint{},
		Claim: Claim{DeviceID: o.DeviceID, Code: o.ClaimCode}}
	if o.CloudURL != "" && o.ClaimCode != "" {
		p.state.Claim.URL = creds.ClaimURL(o.CloudURL, o.DeviceID, o.ClaimCode)
	}
	if o.Network == nil {
		p.state.Mode = ModeOnline
	}
	if p.state.Claim.URL != "" {
		qr, err := qrSVG(p.state.Claim.URL)
		if err != nil {
			return nil, err
		}
		p.qr = qr
	}
	return p, nil
}

// SetClaimed records whether the cloud says the box has an owner: the
// pages stop showing the claim code once it has.
func (p *Pairing) SetClaimed(claimed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.Claim.Claimed = claimed
}

// SetClaimCode makes the pages show code, a claim code the cloud issued
// after the factory's (a reprinted label), with its QR code.
func (p *Pairing) SetClaimCode(code string) error {
	url := ""
	var qr []byte
	if p.o.CloudURL != "" {
		url = creds.ClaimURL(p.o.CloudURL, p.o.DeviceID, code)
		var err error
		if qr, err = qrSVG(url); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.Claim.Code, p.state.Claim.URL, p.qr = code, url, qr
	return nil
}

// State returns a copy of what the pages show.
func (p *Pairing) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state
	s.Networks = append([]wifi.AccessPoint{}, s.Networks...)
	if s.Last != nil {
		l := *s.Last
		s.Last = &l
	}
	return s
}

// PortalAddr is the portal's bound HTTP address while a hotspot session
// runs, else "" (tests bind port 0 and ask).
func (p *Pairing) PortalAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.portal
}

// LocalAddrs are the local page's bound addresses once Run has bound them.
func (p *Pairing) LocalAddrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.local...)
}

// DNSAddr is the captive DNS server's bound UDP address during a session.
func (p *Pairing) DNSAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dnsAddr
}

func (p *Pairing) update(f func(*State)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.state)
}

// Run serves the local page and, with a Network, keeps the box online,
// opening the hotspot when it has none. It returns when ctx ends. A local
// page address that cannot be bound is logged and left out.
func (p *Pairing) Run(ctx context.Context) error {
	var servers []*http.Server
	for _, addr := range p.o.LocalAddrs {
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			// Logged, not fatal: the hotspot matters more than the page.
			p.log.Error("local page cannot listen", "addr", addr, "err", err)
			continue
		}
		srv := p.httpServer(false)
		servers = append(servers, srv)
		go srv.Serve(ln)
		p.mu.Lock()
		p.local = append(p.local, ln.Addr().String())
		p.mu.Unlock()
		p.log.Info("local page listening", "addr", ln.Addr().String())
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	if p.o.Network == nil {
		<-ctx.Done()
		return nil
	}
	if !p.waitOnline(ctx, p.o.BootGrace) {
		p.session(ctx)
	}
	for ctx.Err() == nil {
		p.update(func(s *State) { s.Mode = ModeOnline })
		if p.watchOffline(ctx) {
			p.session(ctx)
		}
	}
	return nil
}

func (p *Pairing) online(ctx context.Context) bool {
	on, err := p.o.Network.Online(ctx)
	if err != nil {
		p.log.Warn("network check failed", "err", err)
	}
	return on
}

// waitOnline polls until the box is online or d has passed.
func (p *Pairing) waitOnline(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if p.online(ctx) {
			return true
		}
		if time.Now().After(deadline) || !sleep(ctx, min(p.o.CheckInterval, time.Until(deadline)+time.Millisecond)) {
			return false
		}
	}
}

// watchOffline returns true once the box has been offline for
// OfflineGrace, false when ctx ends.
func (p *Pairing) watchOffline(ctx context.Context) bool {
	var since time.Time
	for sleep(ctx, p.o.CheckInterval) {
		if p.online(ctx) {
			since = time.Time{}
			continue
		}
		if since.IsZero() {
			since = time.Now()
			p.log.Warn("network lost")
		}
		if time.Since(since) >= p.o.OfflineGrace {
			return true
		}
	}
	return false
}

// session runs the hotspot and its portal until the box is online again
// (a join from the portal, a cable, or a saved network coming back) or
// ctx ends.
func (p *Pairing) session(ctx context.Context) {
	p.log.Info("no network: opening the setup hotspot", "ssid", p.o.Hotspot.SSID)
	stop := p.listenPortal(ctx)
	defer stop()
	up := p.scanAndStart(ctx)
	lastTry, lastRetry := time.Now(), time.Now()
	tick := time.NewTicker(p.o.CheckInterval)
	defer tick.Stop()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := p.o.Network.StopHotspot(sctx); err != nil {
			p.log.Warn("hotspot not stopped", "err", err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-p.joinCh:
			if p.join(ctx, req) {
				return
			}
			up, lastTry = p.scanAndStart(ctx), time.Now()
		case <-p.scanCh:
			if !sleep(ctx, p.o.SwitchDelay) {
				return
			}
			up, lastTry = p.scanAndStart(ctx), time.Now()
		case <-tick.C:
			if p.online(ctx) { // a cable, or a network joined otherwise
				p.log.Info("network back: closing the setup hotspot")
				return
			}
			p.mu.Lock()
			idle := time.Since(p.activity) >= p.o.IdleBefore
			p.mu.Unlock()
			if idle && time.Since(lastRetry) >= p.o.RetrySaved {
				if n, err := p.o.Network.SavedNetworks(ctx); err == nil && n > 0 {
					lastRetry = time.Now()
					p.log.Info("trying the saved networks", "count", n)
					p.stopHotspot(ctx)
					if p.waitOnline(ctx, p.o.RetryWait) {
						return
					}
					up, lastTry = p.scanAndStart(ctx), time.Now()
					continue
				}
			}
			if !up && time.Since(lastTry) >= 30*time.Second {
				up, lastTry = p.scanAndStart(ctx), time.Now()
			}
		}
	}
}

// join switches from the hotspot to the requested network. It returns
// true when the box joined it.
func (p *Pairing) join(ctx context.Context, req joinRequest) bool {
	if !sleep(ctx, p.o.SwitchDelay) {
		return false
	}
	p.stopHotspot(ctx)
	p.log.Info("joining Wi-Fi", "ssid", req.ap.SSID)
	err := p.o.Network.Connect(ctx, req.ap, req.password)
	if err == nil {
		p.update(func(s *State) { s.Busy, s.Joining, s.Last = "", "", &Attempt{SSID: req.ap.SSID, OK: true} })
		p.waitOnline(ctx, 30*time.Second)
		return true
	}
	reason := wifi.ReasonFailed
	var ce *wifi.ConnectError
	if errors.As(err, &ce) {
		reason = ce.Reason
	}
	p.log.Warn("Wi-Fi join failed; reopening the hotspot", "ssid", req.ap.SSID, "reason", reason, "err", err)
	p.update(func(s *State) { s.Joining, s.Last = "", &Attempt{SSID: req.ap.SSID, Reason: reason} })
	return false
}

func (p *Pairing) stopHotspot(ctx context.Context) {
	p.update(func(s *State) { s.Mode = ModeOffline })
	if err := p.o.Network.StopHotspot(ctx); err != nil {
		p.log.Warn("hotspot not stopped", "err", err)
	}
}

// scanAndStart scans with the radio free, then opens the hotspot; it
// reports whether the hotspot is up.
func (p *Pairing) scanAndStart(ctx context.Context) bool {
	p.stopHotspot(ctx)
	p.update(func(s *State) { s.Busy = "scan" })
	aps, err := p.o.Network.Scan(ctx)
	if err != nil {
		p.log.Warn("Wi-Fi scan failed", "err", err)
	}
	err = p.o.Network.StartHotspot(ctx, p.o.Hotspot)
	p.update(func(s *State) {
		if aps != nil {
			s.Networks = aps
		}
		s.Busy = ""
		if err == nil {
			s.Mode = ModeHotspot
		}
	})
	if err != nil {
		p.log.Error("setup hotspot did not start", "ssid", p.o.Hotspot.SSID, "err", err)
		return false
	}
	return true
}

// listenPortal opens the portal's HTTP and DNS listeners for a session.
// A port that cannot be bound is logged, not fatal: without DNS the portal
// is still reachable at the hotspot's address.
func (p *Pairing) listenPortal(ctx context.Context) (stop func()) {
	var closers []func()
	lc := listenConfig()
	if ln, err := lc.Listen(ctx, "tcp", p.o.PortalAddr); err != nil {
		p.log.Error("setup portal cannot listen", "addr", p.o.PortalAddr, "err", err)
	} else {
		srv := p.httpServer(true)
		go srv.Serve(ln)
		closers = append(closers, func() { srv.Close() })
		p.mu.Lock()
		p.portal = ln.Addr().String()
		p.mu.Unlock()
	}
	if d, err := listenDNS(ctx, p.o.DNSAddr, p.o.Hotspot.Address.Addr(), p.log); err != nil {
		p.log.Error("captive DNS cannot listen (is NetworkManager's dnsmasq answering DNS? see firmware/)", "addr", p.o.DNSAddr, "err", err)
	} else {
		closers = append(closers, func() { d.Close() })
		p.mu.Lock()
		p.dnsAddr = d.Addr().String()
		p.mu.Unlock()
	}
	return func() {
		for _, c := range closers {
			c()
		}
		p.mu.Lock()
		p.portal, p.dnsAddr = "", ""
		p.mu.Unlock()
	}
}

// requestJoin queues a join from the portal; the error is a message key.
func (p *Pairing) requestJoin(ssid, password string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Mode != ModeHotspot || p.state.Busy != "" {
		return "err.busy", false
	}
	var ap *wifi.AccessPoint
	for i := range p.state.Networks {
		if p.state.Networks[i].SSID == ssid {
			ap = &p.state.Networks[i]
		}
	}
	switch {
	case ap == nil:
		return "err.pick", false
	case !ap.Security.Joinable():
		return "reason.unsupported", false
	case !wifi.ValidPassword(ap.Security, password):
		return "err.password", false
	}
	select {
	case p.joinCh <- joinRequest{ap: *ap, password: password}:
	default:
		return "err.busy", false
	}
	p.state.Busy, p.state.Joining, p.state.Last = "join", ssid, nil
	return "", true
}

// requestScan queues a re-scan from the portal.
func (p *Pairing) requestScan() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Mode != ModeHotspot || p.state.Busy != "" {
		return "err.busy", false
	}
	select {
	case p.scanCh <- struct{}{}:
	default:
		return "err.busy", false
	}
	p.state.Busy = "scan"
	return "", true
}

func (p *Pairing) touch() {
	p.mu.Lock()
	p.activity = time.Now()
	p.mu.Unlock()
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// portalHost is the hotspot address as the Host header names it.
func (p *Pairing) portalHost() netip.Addr { return p.o.Hotspot.Address.Addr() }
