package tunnel_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	agenttunnel "github.com/clawfleet/clawfleet/agent/tunnel"
	"github.com/clawfleet/clawfleet/cloud/tunnel"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

const wait = 5 * time.Second

func testLogger() *slog.Logger {
	if os.Getenv("TUNNEL_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHub(t testing.TB) *tunnel.Hub { return newHubLog(t, testLogger()) }

func newHubLog(t testing.TB, log *slog.Logger) *tunnel.Hub {
	t.Helper()
	h, err := tunnel.NewHub(tunnel.HubOptions{
		ListenAddr: "127.0.0.1:0",
		KeyFile:    filepath.Join(t.TempDir(), "hub.key"),
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// localServer is a tenant gateway on the host's loopback answering name.
func localServer(t testing.TB, name string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

type host struct {
	id   string
	addr netip.Addr
	port int
	key  string // key file
	tun  *agenttunnel.Tunnel
	root testing.TB // owns the agents' cleanup (outlives subtests)
	cfg  proto.TunnelConfig
}

func newHost(t testing.TB, h *tunnel.Hub, id string, addr string) *host {
	t.Helper()
	ho := &host{id: id, addr: netip.MustParseAddr(addr), port: localServer(t, id), key: filepath.Join(t.TempDir(), "wg.key"), root: t}
	ho.cfg = proto.TunnelConfig{
		Address: addr, HubAddress: h.Addr().String(), HubPublicKey: h.PublicKey(),
		HubEndpoint: net.JoinHostPort("127.0.0.1", strconv.Itoa(h.Port())), KeepaliveSeconds: 5,
		Ports: []int{ho.port},
	}
	ho.start(t, h)
	return ho
}

func (ho *host) start(t testing.TB, h *tunnel.Hub) {
	t.Helper()
	tun, err := agenttunnel.New(agenttunnel.Options{KeyFile: ho.key, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ho.root.Cleanup(func() { tun.Close() })
	ho.tun = tun
	if err := h.AddPeer(ho.id, tun.PublicKey(), ho.addr); err != nil {
		t.Fatal(err)
	}
	if err := tun.Apply(ho.cfg); err != nil {
		t.Fatal(err)
	}
	waitHandshake(t, h, ho.id)
}

func waitHandshake(t testing.TB, h *tunnel.Hub, id string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if _, ok := h.Handshake(id); ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no handshake from %s within %v", id, wait)
}

// get fetches / from port on host over the tunnel.
func get(h *tunnel.Hub, id string, port int) (string, error) {
	return fetch(h.DialContext, id, port, wait)
}

// fetch fetches / from port on host through dial, within timeout.
func fetch(dial func(context.Context, string, int) (net.Conn, error), id string, port int, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dial(ctx, id, port)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	req, _ := http.NewRequest("GET", "http://tenant/", nil)
	if err := req.Write(c); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func mustGet(t *testing.T, h *tunnel.Hub, ho *host, port int) {
	t.Helper()
	body, err := get(h, ho.id, port)
	if err != nil {
		t.Fatalf("GET %s:%d: %v", ho.id, port, err)
	}
	if body != "hello from "+ho.id {
		t.Fatalf("GET %s:%d = %q", ho.id, port, body)
	}
}

// expectNoConnect dials within d and requires failure within about d.
func expectNoConnect(t *testing.T, what string, d time.Duration, dial func(ctx context.Context) (net.Conn, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	c, err := dial(ctx)
	if err == nil {
		c.Close()
		t.Fatalf("%s: connected", what)
	}
	if el := time.Since(start); el > d+time.Second {
		t.Fatalf("%s: took %v", what, el)
	}
}

func TestHubAndAgents(t *testing.T) {
	hubLog := &tstest.Buffer{}
	h := newHubLog(t, slog.New(slog.NewTextHandler(hubLog, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a := newHost(t, h, "host-a", "100.96.0.2")
	b := newHost(t, h, "host-b", "100.96.0.3")
	if a.port == b.port {
		t.Fatal("test servers share a port")
	}

	t.Run("reach each host", func(t *testing.T) {
		mustGet(t, h, a, a.port)
		mustGet(t, h, b, b.port)
		// Repeated and concurrent use.
		errs := make(chan error, 20)
		for i := range 20 {
			go func() {
				ho := []*host{a, b}[i%2]
				body, err := get(h, ho.id, ho.port)
				if err == nil && body != "hello from "+ho.id {
					err = fmt.Errorf("%s: body %q", ho.id, body)
				}
				errs <- err
			}()
		}
		for range 20 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("handshake and status", func(t *testing.T) {
		if hs, ok := h.Handshake(a.id); !ok || time.Since(hs) > time.Minute {
			t.Fatalf("hub handshake with a = %v, %v", hs, ok)
		}
		st := a.tun.Status()
		if st.Mode != "netstack" || st.HandshakeAgeSeconds < 0 || st.HandshakeAgeSeconds > 60 || st.Address != a.addr.String() || st.Error != "" {
			t.Fatalf("status = %+v", st)
		}
		peers, err := h.Peers()
		if err != nil || len(peers) != 2 {
			t.Fatalf("peers = %+v, %v", peers, err)
		}
		for _, p := range peers {
			if p.Endpoint == "" || p.RxBytes == 0 || p.LastHandshake.IsZero() {
				t.Fatalf("peer %+v", p)
			}
		}
		if _, ok := h.Handshake("nobody"); ok {
			t.Fatal("handshake for unknown host")
		}
	})

	t.Run("unlisted port refused", func(t *testing.T) {
		// b's port is not in a's list (and vice versa).
		for _, p := range []int{b.port, 22, 1} {
			expectNoConnect(t, fmt.Sprintf("a port %d", p), wait, func(ctx context.Context) (net.Conn, error) {
				return h.DialContext(ctx, a.id, p)
			})
		}
		// Refusal is a reset, not a timeout.
		start := time.Now()
		get(h, a.id, 22)
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("refusal took %v", el)
		}
		if _, err := h.DialContext(context.Background(), "nobody", 80); !errors.Is(err, tunnel.ErrUnknownHost) {
			t.Fatalf("unknown host: %v", err)
		}
	})

	t.Run("ports follow the config", func(t *testing.T) {
		cfg := a.cfg
		cfg.Ports = nil
		if err := a.tun.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		expectNoConnect(t, "a after port removal", wait, func(ctx context.Context) (net.Conn, error) {
			return h.DialContext(ctx, a.id, a.port)
		})
		if err := a.tun.Apply(a.cfg); err != nil {
			t.Fatal(err)
		}
		if err := a.tun.Apply(a.cfg); err != nil { // idempotent
			t.Fatal(err)
		}
		mustGet(t, h, a, a.port)
	})

	t.Run("hosts cannot reach each other", func(t *testing.T) {
		// A well-behaved agent routes only the hub address.
		expectNoConnect(t, "a -> b via agent", 1500*time.Millisecond, func(ctx context.Context) (net.Conn, error) {
			return a.tun.DialContext(ctx, netip.AddrPortFrom(b.addr, uint16(b.port)))
		})
		// The hub accepts nothing itself: a reset, quickly (this also
		// shows a's tunnel works).
		start := time.Now()
		expectNoConnect(t, "a -> hub", wait, func(ctx context.Context) (net.Conn, error) {
			return a.tun.DialContext(ctx, netip.AddrPortFrom(h.Addr(), 80))
		})
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("hub refusal took %v", el)
		}
		// A malicious host routing the whole prefix to the hub still
		// cannot reach b: the hub does not forward between peers.
		evil := rawPeer(t, h, "host-evil", netip.MustParseAddr("100.96.0.4"), "100.96.0.0/16")
		expectNoConnect(t, "evil -> b via hub", 1500*time.Millisecond, func(ctx context.Context) (net.Conn, error) {
			return evil.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(b.addr, uint16(b.port)))
		})
		expectNoConnect(t, "evil -> a via hub", 1500*time.Millisecond, func(ctx context.Context) (net.Conn, error) {
			return evil.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(a.addr, uint16(a.port)))
		})
		h.RemovePeer("host-evil")
		// b is unaffected.
		mustGet(t, h, b, b.port)
	})

	t.Run("spoofed source is dropped", func(t *testing.T) {
		// A peer registered at .5 sending from b's address: the hub's
		// device drops its packets (AllowedIPs .5/32) before its netstack.
		before := len(hubLog.String())
		spoof := rawPeerAt(t, h, "host-spoof", netip.MustParseAddr("100.96.0.5"), b.addr, "100.96.0.1/32")
		expectNoConnect(t, "spoofed -> hub", 1500*time.Millisecond, func(ctx context.Context) (net.Conn, error) {
			return spoof.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(h.Addr(), 80))
		})
		if !strings.Contains(hubLog.String()[before:], "packet with disallowed source address") {
			t.Fatal("the hub did not report dropping the spoofed packets")
		}
		h.RemovePeer("host-spoof")
		mustGet(t, h, b, b.port)
	})

	t.Run("revocation", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		open, err := h.DialContext(ctx, a.id, a.port)
		if err != nil {
			t.Fatal(err)
		}
		defer open.Close()
		if err := h.RemovePeer(a.id); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := h.DialContext(ctx, a.id, a.port); !errors.Is(err, tunnel.ErrUnknownHost) {
			t.Fatalf("dial revoked host: %v", err)
		}
		if el := time.Since(start); el > 100*time.Millisecond {
			t.Fatalf("revoked dial took %v", el)
		}
		open.SetReadDeadline(time.Now().Add(wait))
		if _, err := open.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("open connection to revoked host: read err = %v, want closed", err)
		}
		if err := h.RemovePeer(a.id); err != nil {
			t.Fatalf("second removal: %v", err)
		}
		mustGet(t, h, b, b.port)
		// The revoked agent's packets are no longer accepted: even the
		// hub's reset does not come back.
		expectNoConnect(t, "revoked a -> hub", 1500*time.Millisecond, func(ctx context.Context) (net.Conn, error) {
			return a.tun.DialContext(ctx, netip.AddrPortFrom(h.Addr(), 80))
		})
	})

	t.Run("key rotation", func(t *testing.T) {
		// a comes back with a new key (new key file).
		a.tun.Close()
		a.key = filepath.Join(t.TempDir(), "rotated.key")
		old := a.tun.PublicKey()
		a.start(t, h)
		if a.tun.PublicKey() == old {
			t.Fatal("new key file gave the same key")
		}
		mustGet(t, h, a, a.port)

		// b rotates in place: the new key replaces the old peer.
		oldB := b.tun
		b.key = filepath.Join(t.TempDir(), "rotated.key")
		b.start(t, h) // AddPeer replaces b's key, then the new agent handshakes
		mustGet(t, h, b, b.port)
		expectNoConnect(t, "old b key -> hub", 1500*time.Millisecond, func(ctx context.Context) (net.Conn, error) {
			return oldB.DialContext(ctx, netip.AddrPortFrom(h.Addr(), 80))
		})
		oldB.Close()
		mustGet(t, h, a, a.port)
		mustGet(t, h, b, b.port)
	})

	t.Run("peer conflicts", func(t *testing.T) {
		if err := h.AddPeer("host-c", a.tun.PublicKey(), netip.MustParseAddr("100.96.0.9")); err == nil {
			t.Fatal("a's key accepted for another host")
		}
		k, _ := wgkey.GeneratePrivate()
		p, _ := wgkey.Public(k)
		if err := h.AddPeer("host-c", p.String(), a.addr); err == nil {
			t.Fatal("a's address accepted for another host")
		}
		for _, bad := range []string{"100.96.0.1", "100.96.0.0", "10.0.0.2"} {
			if err := h.AddPeer("host-c", p.String(), netip.MustParseAddr(bad)); err == nil {
				t.Fatalf("address %s accepted", bad)
			}
		}
		if err := h.AddPeer("host-c", "not-a-key", netip.MustParseAddr("100.96.0.9")); err == nil {
			t.Fatal("bad key accepted")
		}
		if err := h.AddPeer("host-c", h.PublicKey(), netip.MustParseAddr("100.96.0.9")); err == nil {
			t.Fatal("hub key accepted")
		}
		// Idempotent re-add keeps things working.
		if err := h.AddPeer(a.id, a.tun.PublicKey(), a.addr); err != nil {
			t.Fatal(err)
		}
		mustGet(t, h, a, a.port)
	})
}

func TestHubKeyPersists(t *testing.T) {
	dir := t.TempDir()
	opts := tunnel.HubOptions{ListenAddr: "127.0.0.1:0", KeyFile: filepath.Join(dir, "hub.key"), Logger: testLogger()}
	h1, err := tunnel.NewHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	pub, port := h1.PublicKey(), h1.Port()
	h1.Close()
	if port == 0 {
		t.Fatal("no port")
	}
	h2, err := tunnel.NewHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if h2.PublicKey() != pub {
		t.Fatal("hub key changed across restarts")
	}
	if h2.Addr() != netip.MustParseAddr("100.96.0.1") || h2.Prefix() != tunnel.DefaultPrefix {
		t.Fatalf("defaults: %v %v", h2.Addr(), h2.Prefix())
	}
	if _, err := tunnel.NewHub(tunnel.HubOptions{ListenAddr: "127.0.0.1:0"}); err == nil {
		t.Fatal("hub without key file")
	}
	if _, err := tunnel.NewHub(tunnel.HubOptions{ListenAddr: "127.0.0.1:0", KeyFile: opts.KeyFile, HubAddr: netip.MustParseAddr("10.0.0.1")}); err == nil {
		t.Fatal("hub address outside the prefix accepted")
	}
}

// rawPeer is a hand-built wireguard-go peer with its own address that
// routes allowed (e.g. the whole prefix) to the hub: a host that ignores
// its config.
func rawPeer(t *testing.T, h *tunnel.Hub, id string, addr netip.Addr, allowed string) *netstack.Net {
	return rawPeerAt(t, h, id, addr, addr, allowed)
}

// rawPeerAt registers id at hubAddr on the hub but gives its netstack
// stackAddr (a spoofed source when they differ).
func rawPeerAt(t *testing.T, h *tunnel.Hub, id string, hubAddr, stackAddr netip.Addr, allowed string) *netstack.Net {
	t.Helper()
	priv, _ := wgkey.GeneratePrivate()
	pub, _ := wgkey.Public(priv)
	if err := h.AddPeer(id, pub.String(), hubAddr); err != nil {
		t.Fatal(err)
	}
	tdev, tnet, err := netstack.CreateNetTUN([]netip.Addr{stackAddr}, nil, 1420)
	if err != nil {
		t.Fatal(err)
	}
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	t.Cleanup(dev.Close)
	hubKey, _ := wgkey.Base64ToHex(h.PublicKey())
	cfg := fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nendpoint=127.0.0.1:%d\npersistent_keepalive_interval=1\nallowed_ip=%s\n",
		priv.Hex(), hubKey, h.Port(), allowed)
	if err := dev.IpcSet(cfg); err != nil {
		t.Fatal(err)
	}
	if err := dev.Up(); err != nil {
		t.Fatal(err)
	}
	waitHandshake(t, h, id)
	return tnet
}

// BenchmarkTunnelThroughput moves data hub -> agent forwarder -> local
// server (upload) and back (download) through real wireguard-go on
// loopback UDP, and the same transfers straight over loopback TCP beside
// them (path=straight), so one run shows what the tunnel costs.
func BenchmarkTunnelThroughput(b *testing.B) {
	h := newHub(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// "u\n": count what comes until EOF; "d N\n": send N bytes.
				var dir string
				var n int64
				fmt.Fscan(c, &dir)
				if dir == "u" {
					n, _ := io.Copy(io.Discard, c)
					fmt.Fprintf(c, "%d", n)
					return
				}
				fmt.Fscan(c, &n)
				io.CopyN(c, zeros{}, n)
			}()
		}
	}()
	ho := &host{id: "bench", addr: netip.MustParseAddr("100.96.0.2"), port: port, key: filepath.Join(b.TempDir(), "wg.key"), root: b}
	ho.cfg = proto.TunnelConfig{Address: "100.96.0.2", HubAddress: h.Addr().String(), HubPublicKey: h.PublicKey(),
		HubEndpoint: net.JoinHostPort("127.0.0.1", strconv.Itoa(h.Port())), KeepaliveSeconds: 25, Ports: []int{port}}
	ho.start(b, h)
	paths := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"tunnel", func() (net.Conn, error) { return h.DialContext(context.Background(), ho.id, port) }},
		{"straight", func() (net.Conn, error) { return net.Dial("tcp", ln.Addr().String()) }},
	}
	for _, dir := range []string{"upload", "download"} {
		for _, p := range paths {
			b.Run("dir="+dir+"/path="+p.name, func(b *testing.B) {
				const size = 64 << 20
				b.SetBytes(size)
				for range b.N {
					c, err := p.dial()
					if err != nil {
						b.Fatal(err)
					}
					if dir == "upload" {
						fmt.Fprintf(c, "u\n")
						if _, err := io.CopyN(c, zeros{}, size); err != nil {
							b.Fatal(err)
						}
						c.(interface{ CloseWrite() error }).CloseWrite()
						got, _ := io.ReadAll(c)
						if strings.TrimSpace(string(got)) != strconv.Itoa(size) {
							b.Fatalf("server got %q bytes", got)
						}
					} else {
						fmt.Fprintf(c, "d %d\n", size)
						n, err := io.Copy(io.Discard, c)
						if err != nil || n != size {
							b.Fatalf("downloaded %d, %v", n, err)
						}
					}
					c.Close()
				}
			})
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestHubListenAddr: a hub told one address binds that address alone (the
// same port stays free on another local address) and still carries
// tunnels through it; no address binds them all; what cannot be honoured is
// refused.
func TestHubListenAddr(t *testing.T) {
	free := func(network, addr string) error {
		c, err := net.ListenPacket(network, addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, tc := range []struct {
		listen     string
		otherFree  bool // 127.0.0.2 on the hub's port can be bound by someone else
		loopbackV6 bool // so can [::1]
	}{
		{"127.0.0.1:0", true, true},
		{":0", false, false},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			h, err := tunnel.NewHub(tunnel.HubOptions{ListenAddr: tc.listen, KeyFile: filepath.Join(t.TempDir(), "hub.key"), Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			port := strconv.Itoa(h.Port())
			if err := free("udp4", "127.0.0.2:"+port); (err == nil) != tc.otherFree {
				t.Errorf("binding 127.0.0.2:%s next to the hub on %s: %v, want free=%v", port, tc.listen, err, tc.otherFree)
			}
			if err := free("udp6", "[::1]:"+port); (err == nil) != tc.loopbackV6 && !errors.Is(err, syscall.EADDRNOTAVAIL) {
				t.Errorf("binding [::1]:%s next to the hub on %s: %v, want free=%v", port, tc.listen, err, tc.loopbackV6)
			}
			if tc.otherFree {
				ho := newHost(t, h, "h-bound", "100.96.0.2")
				if body, err := get(h, ho.id, ho.port); err != nil || body != "hello from h-bound" {
					t.Fatalf("through a hub bound to one address: %q %v", body, err)
				}
			}
		})
	}
	for _, tc := range []struct{ mode, listen, want string }{
		{tunnel.ModeUserspace, "localhost:0", "must be an IP address"},
		{tunnel.ModeUserspace, "127.0.0.1:x", "bad port"},
		{tunnel.ModeKernel, "127.0.0.1:0", "cannot bind 127.0.0.1 alone"},
	} {
		_, err := tunnel.NewHub(tunnel.HubOptions{Mode: tc.mode, ListenAddr: tc.listen, KeyFile: filepath.Join(t.TempDir(), "hub.key"), Logger: testLogger()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s hub on %q: %v, want an error saying %q", tc.mode, tc.listen, err, tc.want)
		}
	}
}

// TestHubRestartNewSession: a restarted hub (same key, same port) has the
// host's peer again but none of its session keys; the tunnel config it
// publishes names a new session, and the agent's next handshake makes the
// host reachable at once (it kept sending with the old keys, dropped by the
// hub, until they expired: up to two minutes).
func TestHubRestartNewSession(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "hub.key")
	start := func(listen string) *tunnel.Hub {
		h, err := tunnel.NewHub(tunnel.HubOptions{ListenAddr: listen, KeyFile: keyFile, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h1 := start("127.0.0.1:0")
	ho := newHost(t, h1, "h-restart", "100.96.0.2")
	ho.cfg.Session = h1.Session(ho.id)
	if err := ho.tun.Apply(ho.cfg); err != nil {
		t.Fatal(err)
	}
	mustGet(t, h1, ho, ho.port)
	h1.Close()
	h2 := start("127.0.0.1:" + strconv.Itoa(h1.Port()))
	defer h2.Close()
	if err := h2.AddPeer(ho.id, ho.tun.PublicKey(), ho.addr); err != nil {
		t.Fatal(err)
	}
	if h2.Session(ho.id) == ho.cfg.Session || h2.Session(ho.id) == "" {
		t.Fatalf("the restarted hub's session %q, before %q", h2.Session(ho.id), ho.cfg.Session)
	}
	ho.cfg.Session = h2.Session(ho.id)
	if err := ho.tun.Apply(ho.cfg); err != nil {
		t.Fatal(err)
	}
	if body, err := get(h2, ho.id, ho.port); err != nil || body != "hello from h-restart" {
		t.Fatalf("through the restarted hub: %q %v", body, err)
	}
}
