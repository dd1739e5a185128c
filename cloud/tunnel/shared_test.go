package tunnel_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/link"
	agenttunnel "github.com/clawfleet/clawfleet/agent/tunnel"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// realAgent is a host agent's MQTT link and WireGuard tunnel (the agent's
// own packages), forwarding tunnel port port to a local HTTP server.
type realAgent struct {
	tun    *agenttunnel.Tunnel
	port   int
	cancel context.CancelFunc
	done   chan struct{}
}

func startRealAgent(t *testing.T, c *servertest.Cloud, id, secret, name string, port int) *realAgent {
	t.Helper()
	tun, err := agenttunnel.New(agenttunnel.Options{KeyFile: filepath.Join(t.TempDir(), "wg.key"), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := link.New(link.Options{
		Creds:       &creds.Credentials{DeviceID: id, Secret: secret, MQTTURL: "tcp://" + c.App.MQTTAddr().String()},
		BackoffBase: 300 * time.Millisecond, BackoffCap: 300 * time.Millisecond, StableAfter: time.Hour,
		Register: func(context.Context) proto.Register {
			return proto.Register{Hostname: name, OS: "linux", Arch: "amd64", CPUs: 1, AgentVersion: "test", WGPublicKey: tun.PublicKey(),
				Capabilities: proto.Capabilities{Runtimes: []string{"process"}}}
		},
		Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle(proto.KindTunnel, func(_ context.Context, payload []byte) {
		if cfg, err := proto.DecodeTunnelConfig(payload); err == nil {
			cfg.Ports = []int{port}
			tun.Apply(*cfg)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	a := &realAgent{tun: tun, port: port, cancel: cancel, done: make(chan struct{})}
	go func() { l.Run(ctx); close(a.done) }()
	t.Cleanup(a.stop)
	return a
}

func (a *realAgent) stop() {
	a.cancel()
	<-a.done
	a.tun.Close()
}

// TestSharedCredentials: a second device with the host's credentials and
// its own WireGuard key (a copied credentials file) connects over the real
// broker, takes the session and the hub's peer; when it is gone and the
// real agent's link has taken the session back, a request through the
// tunnel works again within seconds (it was black-holed until the agent's
// WireGuard session expired, 80-110 s), and the duplicate shows: the fleet
// event, the metric, the host's warning and the audit event.
func TestSharedCredentials(t *testing.T) {
	c := servertest.New(t)
	var (
		mu     sync.Mutex
		events []fleet.CredentialsShared
	)
	c.App.Fleet().Subscribe(func(e fleet.Event) {
		if e, ok := e.(fleet.CredentialsShared); ok {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	})
	id, secret := c.Provision("box")
	port := localServer(t, "real")
	real := startRealAgent(t, c, id, secret, "real", port)
	through := func() error {
		body, err := fetch(c.App.Tunnels().Dial, id, port, time.Second)
		if err == nil && body != "hello from real" {
			err = fmt.Errorf("answered %q", body)
		}
		return err
	}
	tstest.AwaitErr(t, "a request through the real agent's tunnel", 10*time.Second, through)
	if c.Metric("clawfleet_host_credentials_shared_total") != 0 {
		t.Fatal("a duplicate counted before there is one")
	}

	key := func() string {
		s, _ := c.Admin(http.MethodGet, "/api/hosts/"+id, nil).JSON(t)["wgPublicKey"].(string)
		return s
	}
	// The copy: another agent with the same credentials and its own key.
	copyAgent := startRealAgent(t, c, id, secret, "copy", localServer(t, "copy"))
	tstest.Await(t, "the copy's key on the host", 10*time.Second, func() bool { return key() == copyAgent.tun.PublicKey() })
	copyAgent.stop()
	tstest.Await(t, "the real agent's key back on the host", 10*time.Second, func() bool { return key() == real.tun.PublicKey() })
	back := time.Now()
	// Without the fix this took 80-110 s. 15 s leaves room for one lost
	// handshake initiation, which WireGuard sends again after 5 s
	// (REKEY_TIMEOUT): under -race on a loaded machine that happens (CI
	// failed once at 5 s).
	tstest.AwaitErr(t, "a request through the tunnel once the real agent is back", 15*time.Second, through)
	t.Logf("tunnel through the real agent again %v after its registration was stored", time.Since(back).Round(time.Millisecond))

	if n := c.Metric("clawfleet_host_credentials_shared_total"); n < 1 {
		t.Errorf("clawfleet_host_credentials_shared_total = %v, want at least 1", n)
	}
	mu.Lock()
	if len(events) == 0 || events[0].HostID != id {
		t.Errorf("CredentialsShared events %+v, want one for %s", events, id)
	}
	mu.Unlock()
	if at, _ := c.Admin(http.MethodGet, "/api/hosts/"+id, nil).JSON(t)["credentialsSharedAt"].(string); at == "" {
		t.Error("the host shows no credentialsSharedAt warning")
	}
	audit := c.Admin(http.MethodGet, "/api/admin/audit", nil)
	if !strings.Contains(string(audit.Body), `"host.credentials-shared"`) || !strings.Contains(string(audit.Body), id) {
		t.Errorf("no host.credentials-shared audit event for %s: %s", id, audit.Body)
	}
	// Another host, alone with its credentials, shows nothing.
	other := c.AddHost("other")
	if _, ok := c.Admin(http.MethodGet, "/api/hosts/"+other.ID, nil).JSON(t)["credentialsSharedAt"]; ok {
		t.Error("a host with one device shows the warning")
	}
}
