package tunnel_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/fleet/fleettest"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tunnel"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
)

// cloud is a store, a fleet running on a fleettest.Bus and a tunnel service with
// a userspace hub, all kept in dir (so a second one is a cloud restart).
type cloud struct {
	st   *store.Store
	f    *fleet.Fleet
	bus  *fleettest.Bus
	hub  *tunnel.Hub
	svc  *tunnel.Service
	stop func()
}

func startCloud(t *testing.T, dir string) *cloud {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := &cloud{st: st, bus: fleettest.NewBus()}
	if c.f, err = fleet.New(st, c.bus, fleet.Options{Logger: testLogger()}); err != nil {
		t.Fatal(err)
	}
	if err := c.f.Load(ctx); err != nil {
		t.Fatal(err)
	}
	c.hub, err = tunnel.NewHub(tunnel.HubOptions{ListenAddr: "127.0.0.1:0", KeyFile: filepath.Join(dir, "hub.key"), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c.svc, err = tunnel.NewService(ctx, c.hub, st, c.f, c.bus, tunnel.ServiceOptions{EndpointHost: "cloud.example.com", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.f.Run(ctx); close(done) }()
	var once sync.Once
	c.stop = func() { once.Do(func() { cancel(); <-done; c.svc.Close(); st.Close() }) }
	t.Cleanup(c.stop)
	return c
}

func (c *cloud) register(t *testing.T, id, wgKey string) {
	t.Helper()
	tstest.Await(t, "the fleet's subscription", wait, c.bus.Subscribed)
	c.bus.Send(proto.UpTopic(id, proto.KindRegister), proto.MustEncode(&proto.Register{Hostname: "vm", OS: "linux", Arch: "amd64", WGPublicKey: wgKey}))
}

func (c *cloud) tunnelConfig(t *testing.T, id string) *proto.TunnelConfig {
	t.Helper()
	var cfg *proto.TunnelConfig
	tstest.AwaitErr(t, "tunnel config of "+id, wait, func() (err error) {
		cfg, err = proto.DecodeTunnelConfig(c.bus.Get(proto.DownTopic(id, proto.KindTunnel)))
		return err
	})
	return cfg
}

func publicKey(t *testing.T) string {
	t.Helper()
	_, pub, err := wgkey.GeneratePair()
	if err != nil {
		t.Fatal(err)
	}
	return pub.String()
}

func TestServiceConfiguresRegisteredHosts(t *testing.T) {
	dir := t.TempDir()
	c := startCloud(t, dir)
	ctx := context.Background()
	a, _, err := c.f.Provision(ctx, "a", nil, "admin")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := c.f.Provision(ctx, "b", nil, "admin")
	noKey, _, _ := c.f.Provision(ctx, "no-key", nil, "admin")

	c.register(t, a, publicKey(t))
	cfg := c.tunnelConfig(t, a)
	if cfg.Address != "100.96.0.2" || cfg.HubAddress != "100.96.0.1" || cfg.HubPublicKey == "" || cfg.KeepaliveSeconds != tunnel.Keepalive ||
		cfg.HubEndpoint != "cloud.example.com:"+strconv.Itoa(c.hub.Port()) || c.svc.HubAddr().String() != cfg.HubAddress {
		t.Fatalf("tunnel config = %+v", cfg)
	}
	c.register(t, b, publicKey(t))
	if cfg := c.tunnelConfig(t, b); cfg.Address != "100.96.0.3" {
		t.Fatalf("second host's tunnel config = %+v", cfg)
	}
	// A host whose agent sends no key gets no tunnel.
	c.register(t, noKey, "")
	time.Sleep(100 * time.Millisecond)
	if p := c.bus.Get(proto.DownTopic(noKey, proto.KindTunnel)); p != nil {
		t.Fatalf("a host without a key got a tunnel config: %s", p)
	}

	// A deleted host's address is released and never handed out again.
	if err := c.f.DeleteHost(ctx, a, "admin"); err != nil {
		t.Fatal(err)
	}
	addrs, err := c.st.TunnelAddresses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].HostID != b {
		t.Fatalf("addresses after the deletion = %+v", addrs)
	}
	d, _, _ := c.f.Provision(ctx, "d", nil, "admin")
	c.register(t, d, publicKey(t))
	if cfg := c.tunnelConfig(t, d); cfg.Address != "100.96.0.4" {
		t.Fatalf("a host after a deletion got %s", cfg.Address)
	}
	if _, ok := c.hub.HostAddr(a); ok {
		t.Fatal("the deleted host is still a hub peer")
	}

	// After a restart the hub routes to the known hosts before they
	// register again.
	c.stop()
	c = startCloud(t, dir)
	for id, want := range map[string]string{b: "100.96.0.3", d: "100.96.0.4"} {
		if addr, ok := c.hub.HostAddr(id); !ok || addr.String() != want {
			t.Errorf("peer %s after a restart: %v %v, want %s", id, addr, ok, want)
		}
	}
	if _, ok := c.hub.HostAddr(a); ok {
		t.Error("the deleted host came back as a peer")
	}
}

func TestKeysRotate(t *testing.T) {
	c := startCloud(t, t.TempDir())
	ctx := context.Background()
	keys := tunnel.NewKeys(c.f, c.st, testLogger())
	id, _, _ := c.f.Provision(ctx, "a", nil, "admin")
	if _, err := keys.Rotate(ctx, "dev_nosuchhost0", "admin"); !errors.Is(err, fleet.ErrHostNotFound) {
		t.Fatalf("unknown host: %v", err)
	}
	if _, err := keys.Rotate(ctx, id, "admin"); !errors.Is(err, fleet.ErrHostOffline) {
		t.Fatalf("offline host: %v", err)
	}
	c.register(t, id, publicKey(t))
	tstest.Await(t, "online", wait, func() bool { return c.f.HostOnline(id) })

	// The agent answers the rotation it is sent with newKey.
	rotate := func(newKey string) (string, error) {
		t.Helper()
		type result struct {
			pub string
			err error
		}
		done := make(chan result, 1)
		go func() { pub, err := keys.Rotate(ctx, id, "admin"); done <- result{pub, err} }()
		var cmd *proto.Command
		tstest.AwaitErr(t, "the rotate-key command", wait, func() (err error) {
			cmd, err = proto.DecodeCommand(c.bus.Get(proto.DownTopic(id, proto.KindCmd)))
			return err
		})
		c.bus.Forget(proto.DownTopic(id, proto.KindCmd))
		if cmd.Op != proto.OpRotateKey {
			t.Fatalf("command = %+v", cmd)
		}
		c.bus.Send(proto.UpTopic(id, proto.KindReply), proto.MustEncode(&proto.Reply{ID: cmd.ID, OK: true, PublicKey: newKey}))
		r := <-done
		return r.pub, r.err
	}
	if _, err := rotate(""); !errors.Is(err, fleet.ErrHostError) || err.Error() != "host "+id+": no new key in its answer" {
		t.Fatalf("an answer without a key: %v", err)
	}
	next := publicKey(t)
	if pub, err := rotate(next); err != nil || pub != next {
		t.Fatalf("rotation = %q, %v", pub, err)
	}
	es, err := c.st.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if es[0].Action != "host.rotate-key" || es[0].Target != id || es[0].Actor != "admin" || es[0].Detail != "new WireGuard public key "+next {
		t.Fatalf("newest audit event = %+v", es[0])
	}
}
