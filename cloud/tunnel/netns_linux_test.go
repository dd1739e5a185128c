package tunnel_test

// Tests of the kernel/tun code path for real: the hub and each agent run in
// a helper process (this test binary, re-executed) inside its own network
// namespace, with a veth pair per agent as the UDP underlay. Everything is
// created in namespaces made here and removed with them.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	agenttunnel "github.com/clawfleet/clawfleet/agent/tunnel"
	"github.com/clawfleet/clawfleet/cloud/tunnel"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/clawfleet/clawfleet/pkg/wgif"
	"github.com/google/nftables"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

const helperEnv = "CLAWFLEET_TUNNEL_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelper()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperReq is one command to a helper process; helperResp its answer.
type helperReq struct {
	Op      string
	Mode    string // hub / agent mode
	Iface   string
	KeyFile string
	Port    int // hub: UDP listen port; agent: the tenant port; get: the host port
	ID, Key string
	Addr    string
	Cfg     proto.TunnelConfig
	Target  string // dial: host:port
	Timeout time.Duration
}

type helperResp struct {
	Err    string
	Pub    string
	Port   int
	Body   string
	OK     bool
	Status proto.TunnelStatus
}

// runHelper serves commands on stdin/stdout until stdin closes.
func runHelper() {
	dec, enc := json.NewDecoder(os.Stdin), json.NewEncoder(os.Stdout)
	var (
		hub  *tunnel.Hub
		tun  *agenttunnel.Tunnel
		name string
	)
	defer func() {
		if hub != nil {
			hub.Close()
		}
		if tun != nil {
			tun.Close()
		}
	}()
	for {
		var q helperReq
		if err := dec.Decode(&q); err != nil {
			return
		}
		var r helperResp
		err := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), max(q.Timeout, time.Second))
			defer cancel()
			switch q.Op {
			case "hub":
				h, err := tunnel.NewHub(tunnel.HubOptions{ListenAddr: ":" + strconv.Itoa(q.Port), KeyFile: q.KeyFile, Mode: q.Mode, Interface: q.Iface, Logger: testLogger()})
				if err != nil {
					return err
				}
				hub, r.Pub, r.Port = h, h.PublicKey(), h.Port()
			case "addpeer":
				return hub.AddPeer(q.ID, q.Key, netip.MustParseAddr(q.Addr))
			case "removepeer":
				return hub.RemovePeer(q.ID)
			case "handshake":
				_, r.OK = hub.Handshake(q.ID)
			case "get":
				c := http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return hub.DialContext(ctx, q.ID, q.Port)
				}}}
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://tenant/"+q.Target, nil)
				resp, err := c.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if strings.HasPrefix(q.Target, "?bytes=") { // a download: count it only
					n, err := io.Copy(io.Discard, resp.Body)
					r.Port = int(n)
					return err
				}
				b, err := io.ReadAll(resp.Body)
				r.Body = string(b)
				return err
			case "agent":
				name = q.ID
				up := serveHello(name, "127.0.0.1:0")
				t, err := agenttunnel.New(agenttunnel.Options{KeyFile: q.KeyFile, Mode: q.Mode, Interface: q.Iface, Logger: testLogger(),
					Upstream: func(port int) (string, bool) { return up, port == q.Port }})
				if err != nil {
					return err
				}
				tun, r.Pub = t, t.PublicKey()
			case "apply":
				return tun.Apply(q.Cfg)
			case "status":
				r.Status = tun.Status()
			case "rotate":
				var err error
				r.Pub, err = tun.RotateKey()
				return err
			case "expose": // a host service on all addresses, outside the tenant list
				serveHello(name+" (not a tenant)", q.Target)
			case "widen": // a compromised agent: route the prefixes (Target, comma-separated) to the hub
				c, err := wgctrl.New()
				if err != nil {
					return err
				}
				defer c.Close()
				d, err := c.Device(q.Iface)
				if err != nil {
					return err
				}
				var all []net.IPNet
				for _, p := range strings.Split(q.Target, ",") {
					_, n, err := net.ParseCIDR(p)
					if err != nil {
						return err
					}
					all = append(all, *n)
				}
				if err := c.ConfigureDevice(q.Iface, wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: d.Peers[0].PublicKey, UpdateOnly: true,
					ReplaceAllowedIPs: true, AllowedIPs: all}}}); err != nil {
					return err
				}
				for _, p := range strings.Split(q.Target, ",") {
					if out, err := exec.Command("ip", "route", "add", p, "dev", q.Iface).CombinedOutput(); err != nil {
						return fmt.Errorf("%v: %s", err, out)
					}
				}
			case "dial":
				var d net.Dialer
				c, err := d.DialContext(ctx, "tcp", q.Target)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(max(q.Timeout, time.Second)))
				fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
				b, err := io.ReadAll(c)
				r.Body = string(b)
				return err
			default:
				return fmt.Errorf("unknown op %q", q.Op)
			}
			return nil
		}()
		if err != nil {
			r.Err = err.Error()
		}
		if enc.Encode(&r) != nil {
			return
		}
	}
}

func serveHello(name, addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, err := strconv.Atoi(r.URL.Query().Get("bytes")); err == nil {
			buf := make([]byte, 64<<10)
			for ; n > 0; n -= len(buf) {
				w.Write(buf[:min(n, len(buf))])
			}
			return
		}
		fmt.Fprintf(w, "hello from %s", name)
	}))
	return ln.Addr().String()
}

// helper is a helper process in a namespace.
type helper struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tstest.Buffer
	mu     sync.Mutex
}

func startHelper(t testing.TB, ns, name string) *helper {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	h := &helper{t: t, name: name, cmd: cmd, in: in, out: bufio.NewReader(out), stderr: &tstest.Buffer{}}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() && h.stderr.String() != "" {
			t.Logf("%s stderr:\n%s", name, h.stderr.String())
		}
	})
	return h
}

// try sends q and returns the answer, its Err as an error.
func (h *helper) try(q helperReq) (helperResp, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := json.Marshal(q)
	if _, err := h.in.Write(append(b, '\n')); err != nil {
		return helperResp{}, fmt.Errorf("%s: write: %w", h.name, err)
	}
	type res struct {
		line []byte
		err  error
	}
	ch := make(chan res, 1)
	go func() { l, err := h.out.ReadBytes('\n'); ch <- res{l, err} }()
	select {
	case rr := <-ch:
		if rr.err != nil {
			return helperResp{}, fmt.Errorf("%s: %s: %w", h.name, q.Op, rr.err)
		}
		var r helperResp
		if err := json.Unmarshal(rr.line, &r); err != nil {
			return helperResp{}, fmt.Errorf("%s: %s: bad answer %q", h.name, q.Op, rr.line)
		}
		if r.Err != "" {
			return r, errors.New(r.Err)
		}
		return r, nil
	case <-time.After(q.Timeout + 30*time.Second):
		h.cmd.Process.Kill()
		return helperResp{}, fmt.Errorf("%s: %s: no answer", h.name, q.Op)
	}
}

func (h *helper) call(q helperReq) helperResp {
	h.t.Helper()
	r, err := h.try(q)
	if err != nil {
		h.t.Fatalf("%s %s: %v", h.name, q.Op, err)
	}
	return r
}

// needNetns skips without root, ip(8) or a TUN device, except under CI
// (CI=true), where the tests must run: there it fails. -short skips them
// (multi-host tests, not unit tests).
func needNetns(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("hosts in network namespaces: -short (make check) leaves them to make test")
	}
	var why string
	if _, err := exec.LookPath("ip"); err != nil {
		why = "ip(8) not found"
	} else if err := wgif.TunAvailable(); err != nil {
		why = err.Error()
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI runs the tun-mode tests, and they cannot run here: %s (run CI as root with /dev/net/tun)", why)
	}
	t.Skipf("tun-mode tests need root, ip(8) and /dev/net/tun: %s", why)
}

func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// topo is a hub namespace and one namespace per agent, linked by veths:
// agent i is 10.203.<i>.2, the hub 10.203.<i>.1.
type topo struct {
	t   testing.TB
	tag string
	hub string
	dir string
}

func newTopo(t testing.TB) *topo {
	needNetns(t)
	b := make([]byte, 2)
	rand.Read(b)
	tp := &topo{t: t, tag: hex.EncodeToString(b), dir: t.TempDir()}
	tp.hub = tp.netns("h")
	return tp
}

func (tp *topo) netns(suffix string) string {
	name := "cft" + tp.tag + suffix
	run(tp.t, "ip", "netns", "add", name)
	tp.t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run(tp.t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// agentNS makes agent i's namespace and its veth to the hub; it returns the
// namespace and the hub's underlay address as the agent sees it.
func (tp *topo) agentNS(i int) (string, string) {
	ns := tp.netns("a" + strconv.Itoa(i))
	hv, av := fmt.Sprintf("cfh%s%d", tp.tag, i), fmt.Sprintf("cfa%s%d", tp.tag, i)
	run(tp.t, "ip", "link", "add", hv, "netns", tp.hub, "type", "veth", "peer", "name", av, "netns", ns)
	run(tp.t, "ip", "-n", tp.hub, "addr", "add", fmt.Sprintf("10.203.%d.1/24", i), "dev", hv)
	run(tp.t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("10.203.%d.2/24", i), "dev", av)
	run(tp.t, "ip", "-n", tp.hub, "link", "set", hv, "up")
	run(tp.t, "ip", "-n", ns, "link", "set", av, "up")
	return ns, fmt.Sprintf("10.203.%d.1", i)
}

type nsHub struct {
	*helper
	pub  string
	port int
}

func (tp *topo) startHub(mode string) *nsHub {
	h := startHelper(tp.t, tp.hub, "hub("+mode+")")
	r := h.call(helperReq{Op: "hub", Mode: mode, Iface: "cfhub" + tp.tag, KeyFile: filepath.Join(tp.dir, "hub.key")})
	return &nsHub{helper: h, pub: r.Pub, port: r.Port}
}

type nsAgent struct {
	*helper
	id, ns, iface, key string
	pub                string
	cfg                proto.TunnelConfig
}

const tenantPort = 18080

// startAgent runs agent i in its namespace in mode, peers it with the hub
// and waits for the first handshake.
func (tp *topo) startAgent(hub *nsHub, i int, mode string) *nsAgent {
	ns, hubUnderlay := tp.agentNS(i)
	a := &nsAgent{id: "host-" + strconv.Itoa(i), ns: ns, iface: fmt.Sprintf("cfwg%s%d", tp.tag, i), key: filepath.Join(tp.dir, fmt.Sprintf("agent%d.key", i))}
	a.helper = startHelper(tp.t, ns, a.id+"("+mode+")")
	a.pub = a.call(helperReq{Op: "agent", ID: a.id, Mode: mode, Iface: a.iface, KeyFile: a.key, Port: tenantPort}).Pub
	a.cfg = proto.TunnelConfig{Address: fmt.Sprintf("100.96.0.%d", 10+i), HubAddress: "100.96.0.1", HubPublicKey: hub.pub,
		HubEndpoint: net.JoinHostPort(hubUnderlay, strconv.Itoa(hub.port)), KeepaliveSeconds: 1, Ports: []int{tenantPort}}
	hub.call(helperReq{Op: "addpeer", ID: a.id, Key: a.pub, Addr: a.cfg.Address})
	a.call(helperReq{Op: "apply", Cfg: a.cfg})
	tp.waitHandshake(hub, a.id)
	return a
}

func (tp *topo) waitHandshake(hub *nsHub, id string) {
	tp.t.Helper()
	for range 250 { // wireguard-go retries a handshake every 5 s
		if hub.call(helperReq{Op: "handshake", ID: id}).OK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tp.t.Fatalf("no handshake from %s", id)
}

func (hub *nsHub) get(id string, port int) (string, error) {
	r, err := hub.try(helperReq{Op: "get", ID: id, Port: port, Timeout: 3 * time.Second})
	return r.Body, err
}

func (tp *topo) mustGet(hub *nsHub, a *nsAgent) {
	tp.t.Helper()
	var body string
	var err error
	for range 20 {
		if body, err = hub.get(a.id, tenantPort); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if want := "hello from " + a.id; body != want {
		tp.t.Fatalf("hub → %s:%d = %q, %v; want %q", a.id, tenantPort, body, err, want)
	}
}

// Hub and two agents, all in tun mode.
func TestNetnsTun(t *testing.T) {
	tp := newTopo(t)
	hub := tp.startHub(tunnel.ModeTun)
	a := tp.startAgent(hub, 1, agenttunnel.ModeTun)
	b := tp.startAgent(hub, 2, agenttunnel.ModeAuto) // auto picks tun here (no kernel module)
	tp.mustGet(hub, a)
	tp.mustGet(hub, b)
	for _, x := range []*nsAgent{a, b} {
		st := x.call(helperReq{Op: "status"}).Status
		if st.Mode != "tun" || st.Address != x.cfg.Address || st.HandshakeAgeSeconds < 0 || st.Error != "" {
			t.Fatalf("%s status = %+v", x.id, st)
		}
	}

	t.Run("only tenant ports", func(t *testing.T) {
		a.call(helperReq{Op: "expose", Target: "0.0.0.0:18081"})
		if body, err := hub.get(a.id, 18081); err == nil {
			t.Fatalf("a host service on 0.0.0.0:18081, not a tenant port, answered the hub: %q", body)
		}
		if body, err := hub.get(a.id, 18082); err == nil {
			t.Fatalf("port 18082 answered: %q", body)
		}
	})

	t.Run("hosts cannot reach each other or the hub", func(t *testing.T) {
		// Even with forwarding on in the hub's namespace, switched back on
		// for the hub's interface too (as any 0→1 change of ip_forward
		// does), and b routing the whole prefix and a network behind the
		// hub (a LAN namespace with a service) to the hub.
		lan := tp.netns("l")
		hv, lv := "cfl"+tp.tag+"h", "cfl"+tp.tag+"l"
		run(t, "ip", "link", "add", hv, "netns", tp.hub, "type", "veth", "peer", "name", lv, "netns", lan)
		run(t, "ip", "-n", tp.hub, "addr", "add", "10.204.0.1/24", "dev", hv)
		run(t, "ip", "-n", lan, "addr", "add", "10.204.0.2/24", "dev", lv)
		run(t, "ip", "-n", tp.hub, "link", "set", hv, "up")
		run(t, "ip", "-n", lan, "link", "set", lv, "up")
		run(t, "ip", "-n", lan, "route", "add", "default", "via", "10.204.0.1")
		lanSvc := startHelper(t, lan, "LAN service")
		lanSvc.call(helperReq{Op: "expose", Target: "0.0.0.0:18091"})
		hubIf := "cfhub" + tp.tag
		run(t, "ip", "netns", "exec", tp.hub, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv4/conf/"+hubIf+"/forwarding")
		if out, _ := exec.Command("ip", "netns", "exec", tp.hub, "cat", "/proc/sys/net/ipv4/conf/"+hubIf+"/forwarding").Output(); strings.TrimSpace(string(out)) != "1" {
			t.Fatalf("forwarding on %s: %q, want 1", hubIf, out)
		}
		hubSvc := startHelper(t, tp.hub, "hub service")
		hubSvc.call(helperReq{Op: "expose", Target: "0.0.0.0:18090"})
		b.call(helperReq{Op: "widen", Iface: b.iface, Target: "100.96.0.0/16,10.204.0.0/24"})
		if r, err := b.try(helperReq{Op: "dial", Target: net.JoinHostPort(a.cfg.Address, strconv.Itoa(tenantPort)), Timeout: 2 * time.Second}); err == nil {
			t.Fatalf("b reached a's tenant through the hub: %q", r.Body)
		}
		if r, err := b.try(helperReq{Op: "dial", Target: "100.96.0.1:18090", Timeout: 2 * time.Second}); err == nil {
			t.Fatalf("b reached a service of the hub's host through the tunnel: %q", r.Body)
		}
		lanTarget := "10.204.0.2:18091"
		if r, err := b.try(helperReq{Op: "dial", Target: lanTarget, Timeout: 2 * time.Second}); err == nil {
			t.Fatalf("b was routed through the hub into the network behind it: %q", r.Body)
		}
		// Control: without the hub's FORWARD drops, b gets through (the
		// sysctl alone no longer stops it).
		restore := flushChain(t, "/run/netns/"+tp.hub, "clawfleet-"+hubIf, "forward")
		r, err := b.try(helperReq{Op: "dial", Target: lanTarget, Timeout: 2 * time.Second})
		restore()
		if err != nil || !strings.Contains(r.Body, "hello from") {
			t.Fatalf("control (hub's FORWARD drops removed): %q %v; want b through to the LAN service", r.Body, err)
		}
		if r, err := b.try(helperReq{Op: "dial", Target: lanTarget, Timeout: 2 * time.Second}); err == nil {
			t.Fatalf("b was routed through the hub into the network behind it: %q", r.Body)
		}
		tp.mustGet(hub, a)
	})

	t.Run("key rotation", func(t *testing.T) {
		old, err := os.ReadFile(a.key)
		if err != nil {
			t.Fatal(err)
		}
		newPub := a.call(helperReq{Op: "rotate"}).Pub
		if newPub == a.pub {
			t.Fatal("same key after rotation")
		}
		if now, _ := os.ReadFile(a.key); string(now) == string(old) {
			t.Fatal("key file unchanged")
		}
		hub.call(helperReq{Op: "addpeer", ID: a.id, Key: newPub, Addr: a.cfg.Address})
		tp.waitHandshake(hub, a.id)
		tp.mustGet(hub, a)
		// The old key gets no handshake any more.
		oldKey := filepath.Join(tp.dir, "old.key")
		os.WriteFile(oldKey, old, 0o600)
		stale := startHelper(t, a.ns, "stale agent")
		stale.call(helperReq{Op: "agent", ID: "stale", Mode: agenttunnel.ModeNetstack, KeyFile: oldKey, Port: tenantPort})
		stale.call(helperReq{Op: "apply", Cfg: a.cfg})
		time.Sleep(2500 * time.Millisecond)
		if st := stale.call(helperReq{Op: "status"}).Status; st.HandshakeAgeSeconds != -1 {
			t.Fatalf("the old key completed a handshake: %+v", st)
		}
		tp.mustGet(hub, a)
	})

	t.Run("remove one peer", func(t *testing.T) {
		hub.call(helperReq{Op: "removepeer", ID: b.id})
		if body, err := hub.get(b.id, tenantPort); err == nil {
			t.Fatalf("removed host answered: %q", body)
		}
		tp.mustGet(hub, a)
		if !hub.call(helperReq{Op: "handshake", ID: a.id}).OK {
			t.Fatal("a lost its handshake")
		}
	})
}

// Each real-interface end with a netstack one, and auto falling back to
// netstack when another tunnel holds the hub route.
func TestNetnsInterop(t *testing.T) {
	for _, c := range []struct{ hub, agent string }{
		{tunnel.ModeUserspace, agenttunnel.ModeTun},
		{tunnel.ModeTun, agenttunnel.ModeNetstack},
	} {
		t.Run("hub "+c.hub+", agent "+c.agent, func(t *testing.T) {
			tp := newTopo(t)
			hub := tp.startHub(c.hub)
			a := tp.startAgent(hub, 1, c.agent)
			tp.mustGet(hub, a)
			a.call(helperReq{Op: "expose", Target: "0.0.0.0:18081"})
			if body, err := hub.get(a.id, 18081); err == nil {
				t.Fatalf("port 18081 answered: %q", body)
			}
			if st := a.call(helperReq{Op: "status"}).Status; st.Mode != c.agent || st.HandshakeAgeSeconds < 0 {
				t.Fatalf("status = %+v", st)
			}
			newPub := a.call(helperReq{Op: "rotate"}).Pub
			hub.call(helperReq{Op: "addpeer", ID: a.id, Key: newPub, Addr: a.cfg.Address})
			tp.waitHandshake(hub, a.id)
			tp.mustGet(hub, a)
			if c.agent != agenttunnel.ModeTun {
				return
			}
			// A second agent in auto mode on the same host: the hub route
			// is taken, so it falls back to netstack and still works.
			second := startHelper(t, a.ns, "second agent")
			pub := second.call(helperReq{Op: "agent", ID: "second", Mode: agenttunnel.ModeAuto, Iface: a.iface + "b", KeyFile: filepath.Join(tp.dir, "second.key"), Port: tenantPort}).Pub
			cfg := a.cfg
			cfg.Address = "100.96.0.99"
			hub.call(helperReq{Op: "addpeer", ID: "second", Key: pub, Addr: cfg.Address})
			second.call(helperReq{Op: "apply", Cfg: cfg})
			tp.waitHandshake(hub, "second")
			if st := second.call(helperReq{Op: "status"}).Status; st.Mode != agenttunnel.ModeNetstack {
				t.Fatalf("second agent status = %+v", st)
			}
			if body, err := hub.get("second", tenantPort); body != "hello from second" {
				t.Fatalf("second agent: %q %v", body, err)
			}
		})
	}
}

// Download through the tunnel, hub → agent, per mode pair:
// go test ./cloud/tunnel -run '^$' -bench Netns -benchtime 5x
func BenchmarkNetnsDownload(b *testing.B) {
	const size = 64 << 20
	for _, c := range []struct{ hub, agent string }{
		{tunnel.ModeUserspace, agenttunnel.ModeNetstack},
		{tunnel.ModeUserspace, agenttunnel.ModeTun},
		{tunnel.ModeTun, agenttunnel.ModeNetstack},
		{tunnel.ModeTun, agenttunnel.ModeTun},
	} {
		b.Run("hub="+c.hub+",agent="+c.agent, func(b *testing.B) {
			tp := newTopo(b)
			hub := tp.startHub(c.hub)
			a := tp.startAgent(hub, 1, c.agent)
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				r, err := hub.try(helperReq{Op: "get", ID: a.id, Port: tenantPort, Target: "?bytes=" + strconv.Itoa(size), Timeout: time.Minute})
				if err != nil || r.Port != size {
					b.Fatalf("download: %d bytes, %v", r.Port, err)
				}
			}
		})
	}
}

// flushChain empties chain of table (inet) in the namespace at nsPath and
// returns what puts its rules back.
func flushChain(t *testing.T, nsPath, table, chain string) (restore func()) {
	t.Helper()
	tb := &nftables.Table{Name: table, Family: nftables.TableFamilyINet}
	ch := &nftables.Chain{Name: chain, Table: tb}
	var saved []*nftables.Rule
	if err := tstest.InNetns(nsPath, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		if saved, err = c.GetRules(tb, ch); err != nil || len(saved) == 0 {
			return fmt.Errorf("rules of inet %s %s: %d, %v", table, chain, len(saved), err)
		}
		c.FlushChain(ch)
		return c.Flush()
	}); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := tstest.InNetns(nsPath, func() error {
			c, err := nftables.New()
			if err != nil {
				return err
			}
			for _, r := range saved {
				c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: r.Exprs, UserData: r.UserData})
			}
			return c.Flush()
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNetnsWithoutIptables: the hub's and the agents' interfaces are
// filtered the same on a machine without the iptables (or nft) binaries.
func TestNetnsWithoutIptables(t *testing.T) {
	needNetns(t)
	tstest.RunWithout(t, []string{"TestNetnsTun", "TestNetnsInterop"},
		"iptables", "iptables-restore", "iptables-nft", "iptables-legacy", "ip6tables", "nft")
}
