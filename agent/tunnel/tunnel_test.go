package tunnel_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/clawfleet/clawfleet/agent/tunnel"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
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
	tu.Close()
	if err := tu.Apply(good); err == nil {
		t.Fatal("apply after close")
	}
	tu.Close()
}
