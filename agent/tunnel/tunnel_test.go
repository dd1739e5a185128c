package tunnel_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/capability"
	"github.com/clawfleet/clawfleet/agent/tunnel"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/wgif"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func hubKey(t *testing.T) string {
	k, _ := wgkey.GeneratePrivate()
	p, _ := wgkey.Public(k)
	return p.String()
}

func TestKeyPersistsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent", "wg.key")
	t1, err := tunnel.New(tunnel.Options{KeyFile: path, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	pub := t1.PublicKey()
	if err := proto.ValidateWGKey(pub); err != nil {
		t.Fatal(err)
	}
	t1.Close()
	t2, err := tunnel.New(tunnel.Options{KeyFile: path, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Close()
	if t2.PublicKey() != pub {
		t.Fatal("restarted agent has a new key")
	}
	t3, _ := tunnel.New(tunnel.Options{KeyFile: filepath.Join(t.TempDir(), "other.key"), Logger: quiet()})
	defer t3.Close()
	if t3.PublicKey() == pub {
		t.Fatal("two key files share a key")
	}
	if _, err := tunnel.New(tunnel.Options{}); err == nil {
		t.Fatal("no key file accepted")
	}
}

func TestApplyAndStatus(t *testing.T) {
	tu, err := tunnel.New(tunnel.Options{KeyFile: filepath.Join(t.TempDir(), "wg.key"), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer tu.Close()
	if st := tu.Status(); st != (proto.TunnelStatus{Mode: "netstack", HandshakeAgeSeconds: -1}) {
		t.Fatalf("unconfigured status = %+v", st)
	}
	good := proto.TunnelConfig{Address: "100.96.0.2", HubAddress: "100.96.0.1", HubPublicKey: hubKey(t),
		HubEndpoint: "127.0.0.1:9", KeepaliveSeconds: 25, Ports: []int{18080, 18081, 18080}}
	bad := []func(c *proto.TunnelConfig){
		func(c *proto.TunnelConfig) { c.Address = "nope" },
		func(c *proto.TunnelConfig) { c.HubAddress = c.Address },
		func(c *proto.TunnelConfig) { c.HubPublicKey = "short" },
		func(c *proto.TunnelConfig) { c.HubEndpoint = "127.0.0.1" },
		func(c *proto.TunnelConfig) { c.HubEndpoint = "127.0.0.1:0" },
		func(c *proto.TunnelConfig) { c.KeepaliveSeconds = -1 },
		func(c *proto.TunnelConfig) { c.Ports = []int{0} },
		func(c *proto.TunnelConfig) { c.Ports = []int{70000} },
	}
	for i, mut := range bad {
		c := good
		mut(&c)
		if err := tu.Apply(c); err == nil {
			t.Fatalf("bad config %d accepted", i)
		}
		if st := tu.Status(); st.Error == "" || st.Address != "" {
			t.Fatalf("bad config %d: status = %+v", i, st)
		}
	}
	if err := tu.Apply(good); err != nil {
		t.Fatal(err)
	}
	st := tu.Status()
	if st.Mode != "netstack" || st.Address != "100.96.0.2" || st.Error != "" || st.HandshakeAgeSeconds != -1 {
		t.Fatalf("status = %+v", st)
	}
	// Idempotent, and changes apply in place or by rebuilding.
	for _, mut := range []func(c *proto.TunnelConfig){
		func(c *proto.TunnelConfig) {},
		func(c *proto.TunnelConfig) { c.KeepaliveSeconds = 10 },
		func(c *proto.TunnelConfig) { c.HubPublicKey = hubKey(t) },
		func(c *proto.TunnelConfig) { c.HubEndpoint = "localhost:9" },
		func(c *proto.TunnelConfig) { c.Ports = []int{18082} },
		func(c *proto.TunnelConfig) { c.Address = "100.96.0.7" },
	} {
		mut(&good)
		if err := tu.Apply(good); err != nil {
			t.Fatal(err)
		}
		if st := tu.Status(); st.Address != good.Address || st.Error != "" {
			t.Fatalf("status = %+v after %+v", st, good)
		}
	}
	// A failed Apply leaves the previous config running.
	c := good
	c.HubPublicKey = "bad"
	if err := tu.Apply(c); err == nil {
		t.Fatal("bad key accepted")
	}
	if st := tu.Status(); st.Address != "100.96.0.7" || st.Error == "" {
		t.Fatalf("status after failed apply = %+v", st)
	}
	// Down: no address until the next Apply.
	tu.Down()
	if st := tu.Status(); st.Address != "" || st.Error != "" {
		t.Fatalf("status after down = %+v", st)
	}
	if err := tu.Apply(good); err != nil || tu.Status().Address != good.Address {
		t.Fatalf("apply after down: %v %+v", err, tu.Status())
	}
	tu.Close()
	if err := tu.Apply(good); err == nil {
		t.Fatal("apply after close")
	}
	tu.Close()
}

// A connection from the hub to a tunnel port goes to Options.Upstream's
// answer for that port; a port Upstream refuses is closed at once, one not
// in the config is reset.
func TestForwarderUpstream(t *testing.T) {
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from upstream\n"))
			c.Close()
		}
	}()
	var asked []int
	var mu sync.Mutex
	tu, err := tunnel.New(tunnel.Options{KeyFile: filepath.Join(t.TempDir(), "wg.key"), Logger: quiet(),
		Upstream: func(port int) (string, bool) {
			mu.Lock()
			asked = append(asked, port)
			mu.Unlock()
			if port == 18080 {
				return backend.Addr().String(), true
			}
			return "", false
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer tu.Close()

	hubAddr, agentAddr := netip.MustParseAddr("100.96.0.1"), netip.MustParseAddr("100.96.0.2")
	hnet, cfg := testHub(t, tu, hubAddr, agentAddr)
	cfg.Ports = []int{18080, 18081}
	if err := tu.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	read := func(port uint16) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := hnet.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(agentAddr, port))
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		return string(b), err
	}
	var got string
	for i := 0; i < 50; i++ { // until the handshake is done
		if got, err = read(18080); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "hello from upstream\n" {
		t.Fatalf("port 18080: %q %v", got, err)
	}
	if got, err := read(18081); got != "" {
		t.Fatalf("port 18081 (no upstream) answered %q %v", got, err)
	}
	if _, err := read(18082); err == nil {
		t.Fatal("port 18082 (not in the config) accepted")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(asked, []int{18080, 18081}) {
		t.Fatalf("Upstream asked for %v", asked)
	}
}

// Mode selection: auto takes the best mode this host has (tun here when
// root with /dev/net/tun and no kernel module); kernel without the module
// fails at New naming it; an unknown mode fails.
func TestModes(t *testing.T) {
	key := filepath.Join(t.TempDir(), "wg.key")
	tu, err := tunnel.New(tunnel.Options{KeyFile: key, Mode: tunnel.ModeAuto, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer tu.Close()
	want := capability.Detector{}.WireGuardModes()[0]
	if tu.Mode() != want || tu.Status().Mode != want {
		t.Fatalf("auto picked %s (status %+v), want %s", tu.Mode(), tu.Status(), want)
	}
	if wgif.TunAvailable() == nil && wgif.KernelAvailable() != nil && want != tunnel.ModeTun {
		t.Fatalf("auto on a root host with a TUN device and no kernel module picked %s", want)
	}
	_, err = tunnel.New(tunnel.Options{KeyFile: key, Mode: tunnel.ModeKernel, Logger: quiet()})
	if wgif.KernelAvailable() != nil {
		if err == nil || !strings.Contains(err.Error(), "wireguard kernel module") {
			t.Fatalf("kernel mode without the module: %v", err)
		}
	}
	if _, err := tunnel.New(tunnel.Options{KeyFile: key, Mode: "wat", Logger: quiet()}); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if tu, err := tunnel.New(tunnel.Options{KeyFile: key, Logger: quiet()}); err != nil || tu.Mode() != tunnel.ModeNetstack {
		t.Fatalf("default mode: %v %v", tu, err)
	}
}

// RotateKey in netstack mode: the key file and public key change, the old
// handshake state is dropped, and once the hub knows the new key the
// tunnel works again; before that the hub refuses it.
func TestRotateKeyNetstack(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "wg.key")
	tu, err := tunnel.New(tunnel.Options{KeyFile: keyFile, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer tu.Close()
	if _, err := tu.RotateKey(); err != nil { // before any Apply: only the file
		t.Fatal(err)
	}
	hubAddr, agentAddr := netip.MustParseAddr("100.96.0.1"), netip.MustParseAddr("100.96.0.2")
	hubPriv, _ := wgkey.GeneratePrivate()
	hubPub, _ := wgkey.Public(hubPriv)
	tdev, _, err := netstack.CreateNetTUN([]netip.Addr{hubAddr}, nil, 1420)
	if err != nil {
		t.Fatal(err)
	}
	hub := device.NewDevice(tdev, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	defer hub.Close()
	setPeer := func(pubB64 string, replace bool) {
		k, _ := wgkey.Parse(pubB64)
		s := fmt.Sprintf("public_key=%s\nallowed_ip=%s/32\n", k.Hex(), agentAddr)
		if replace {
			s = "replace_peers=true\n" + s
		}
		if err := hub.IpcSet(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := hub.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=0\n", hubPriv.Hex())); err != nil {
		t.Fatal(err)
	}
	setPeer(tu.PublicKey(), true)
	hub.Up()
	hubPort := listenPort(hub)
	if err := tu.Apply(proto.TunnelConfig{Address: agentAddr.String(), HubAddress: hubAddr.String(), HubPublicKey: hubPub.String(),
		HubEndpoint: "127.0.0.1:" + hubPort, KeepaliveSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	waitHS := func(after time.Time, wait time.Duration) bool {
		for range int(wait / (50 * time.Millisecond)) {
			if hs := tu.LastHandshake(); hs.After(after) {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	if !waitHS(time.Time{}, 5*time.Second) {
		t.Fatal("no handshake")
	}
	old := tu.PublicKey()
	before, _ := wgkey.LoadOrCreate(keyFile)
	newPub, err := tu.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := wgkey.LoadOrCreate(keyFile)
	if p, _ := wgkey.Public(after); newPub == old || tu.PublicKey() != newPub || p.String() != newPub || before == after {
		t.Fatal("key file or public key not rotated")
	}
	rotated := time.Now()
	if waitHS(rotated, 2*time.Second) {
		t.Fatal("the hub completed a handshake with a key it does not know")
	}
	setPeer(newPub, true)
	// wireguard-go retries a handshake every 5 s (REKEY_TIMEOUT).
	if !waitHS(rotated, 12*time.Second) {
		t.Fatal("no handshake with the new key")
	}
	if st := tu.Status(); st.Mode != tunnel.ModeNetstack || st.HandshakeAgeSeconds < 0 || st.Error != "" {
		t.Fatalf("status = %+v", st)
	}
}

// listenPort is a wireguard-go device's UDP port.
// testHub is a minimal hub for tu: wireguard-go on its own netstack at
// hubAddr, with tu at agentAddr as its peer; cfg is tu's config to it
// (without ports). It stops when the test ends.
func testHub(t *testing.T, tu *tunnel.Tunnel, hubAddr, agentAddr netip.Addr) (*netstack.Net, proto.TunnelConfig) {
	t.Helper()
	hubPriv, _ := wgkey.GeneratePrivate()
	hubPub, _ := wgkey.Public(hubPriv)
	agentPub, _ := wgkey.Parse(tu.PublicKey())
	tdev, hnet, err := netstack.CreateNetTUN([]netip.Addr{hubAddr}, nil, 1420)
	if err != nil {
		t.Fatal(err)
	}
	hub := device.NewDevice(tdev, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	t.Cleanup(hub.Close)
	if err := hub.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nallowed_ip=%s/32\n", hubPriv.Hex(), agentPub.Hex(), agentAddr)); err != nil {
		t.Fatal(err)
	}
	if err := hub.Up(); err != nil {
		t.Fatal(err)
	}
	return hnet, proto.TunnelConfig{Address: agentAddr.String(), HubAddress: hubAddr.String(), HubPublicKey: hubPub.String(),
		HubEndpoint: "127.0.0.1:" + listenPort(hub), KeepaliveSeconds: 1}
}

func listenPort(d *device.Device) string {
	ipc, _ := d.IpcGet()
	for _, l := range strings.Split(ipc, "\n") {
		if v, ok := strings.CutPrefix(l, "listen_port="); ok {
			return v
		}
	}
	return ""
}
