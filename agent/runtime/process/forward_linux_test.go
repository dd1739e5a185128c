//go:build linux

package process

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/firewall"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// container is a namespace playing a Docker container: its own veth to the
// host (host side named like a Docker bridge), masquerading and forwarding
// accepts like Docker's for its subnet, its default route via the host.
type container struct {
	ns, hostIf string
	host, addr string // host side (the "bridge" address) and the container
	subnet     string
	nsPath     string
}

// dockerAccept puts an accept at the top of iptables' FORWARD chain where
// iptables runs on nftables (Docker's, whose policy drops), as Docker does
// for its bridges, until the test ends; without that chain nothing drops
// by policy and there is nothing to do.
func dockerAccept(t *testing.T, tag string, r firewall.Rule) {
	t.Helper()
	if err := firewall.EnsureForeign("filter", "FORWARD", tag, r); err != nil && !errors.Is(err, firewall.ErrNoChain) {
		t.Fatal(err)
	}
	t.Cleanup(func() { firewall.RemoveForeign("filter", "FORWARD", tag) })
}

func newContainer(t *testing.T) *container {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	tag := hex.EncodeToString(b[:2])
	c := &container{ns: "cfk-" + tag, hostIf: "dockercf" + tag,
		host: fmt.Sprintf("10.239.%d.1", b[2]), addr: fmt.Sprintf("10.239.%d.2", b[2]), subnet: fmt.Sprintf("10.239.%d.0/24", b[2])}
	c.nsPath = "/run/netns/" + c.ns
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", c.ns)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", c.ns).Run()
		exec.Command("ip", "link", "del", c.hostIf).Run()
	})
	run("link", "add", c.hostIf, "type", "veth", "peer", "name", "cfkc"+tag, "netns", c.ns)
	run("addr", "add", c.host+"/24", "dev", c.hostIf)
	run("link", "set", c.hostIf, "up")
	run("-n", c.ns, "link", "set", "lo", "up")
	run("-n", c.ns, "addr", "add", c.addr+"/24", "dev", "cfkc"+tag)
	run("-n", c.ns, "link", "set", "cfkc"+tag, "up")
	run("-n", c.ns, "route", "add", "default", "via", c.host)
	// Docker's rules for its bridge: masquerading in a table of their own,
	// the forwarding accepts where a policy would drop.
	docker := firewall.Table{Name: "cftest-docker-" + tag, Chains: []firewall.Chain{
		{Name: "postrouting", Hook: firewall.Postrouting, Rules: []firewall.Rule{{Src: netip.MustParsePrefix(c.subnet), NotOut: c.hostIf, Verdict: firewall.Masquerade}}},
	}}
	if err := firewall.Apply(docker); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { firewall.Remove(docker.Name) })
	dockerAccept(t, "cftest-docker-out-"+tag, firewall.Rule{Out: c.hostIf, Established: true, Verdict: firewall.Accept})
	dockerAccept(t, "cftest-docker-in-"+tag, firewall.Rule{In: c.hostIf, Verdict: firewall.Accept})
	return c
}

// fetch runs the stand-in's HTTP client in the container's namespace.
func (c *container) fetch(t *testing.T, url string, headers ...string) (code int, body string, err error) {
	t.Helper()
	argv := append([]string{"nsenter", "--net=" + c.nsPath, "--", runtimetest.Standin(t), "fetch", url}, headers...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return 0, string(out), fmt.Errorf("%v: %s", err, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	fmt.Sscan(first, &code)
	return code, rest, nil
}

// serveInNetns serves HTTP on addr:0 inside the namespace at nsPath,
// answering with the client's address; it returns the listening address.
func serveInNetns(t *testing.T, nsPath, addr string) string {
	t.Helper()
	var ln net.Listener
	if err := tstest.InNetns(nsPath, func() (err error) {
		ln, err = net.Listen("tcp", addr+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.RemoteAddr) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestProcessNetnsForwarding: no forwarded packet opens a connection into a
// tenant's namespace, so a container (masqueraded by Docker's rule to the
// veth's host address) can never act as a gateway's trusted proxy; and a
// tenant's connections are not forwarded into Docker's bridges, where the
// agent's masquerading would make them come from the bridge's address, the
// trusted proxy of the Docker runtime's gateways.
func TestProcessNetnsForwarding(t *testing.T) {
	runtimetest.RequireRoot(t, "network namespaces")
	p, _ := newNetnsProcess(t, runtimetest.Standin(t))
	ctx := runtimetest.Ctx(t)
	a := runtimetest.Spec("ten_fwdalpha01", runtimetest.FreeBase(t))
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	up := runtimetest.Upstream(t, p, a.ID)
	runtimetest.WaitReady(t, up, 10*time.Second)
	tn, _ := p.nets.Plan(a.ID, a.Port)
	c := newContainer(t)

	forged := []string{proto.UserHeader + ": u1", "X-Forwarded-For: 203.0.113.7"}
	whoami := "http://" + up + "/__standin/whoami"
	// mustNotReach: the container cannot open a connection to the gateway
	// (or, were it let through, not from the trusted proxy address).
	mustNotReach := func(t *testing.T) {
		t.Helper()
		code, body, err := c.fetch(t, whoami, forged...)
		if err != nil {
			return
		}
		var who map[string]string
		json.Unmarshal([]byte(body), &who)
		if strings.HasPrefix(who["remoteAddr"], tn.Host.String()+":") || who["user"] != "" {
			t.Fatalf("a container reached the gateway as its trusted proxy: %d %s", code, body)
		}
	}

	t.Run("container to tenant", func(t *testing.T) {
		mustNotReach(t)
		// The scenario is real: let the container's connection through
		// and it arrives from the trusted proxy, forged user accepted.
		openHole(t, p.nets, firewall.Rule{In: c.hostIf, Out: tn.HostIf, Verdict: firewall.Accept},
			firewall.Rule{In: tn.HostIf, Out: c.hostIf, Established: true, Verdict: firewall.Accept})
		code, body, err := c.fetch(t, whoami, forged...)
		var who map[string]string
		json.Unmarshal([]byte(body), &who)
		if err != nil || code != 200 || !strings.HasPrefix(who["remoteAddr"], tn.Host.String()+":") || who["user"] != "u1" {
			t.Fatalf("control (forwarding let through): %d %q %v; want the forged user accepted from %s", code, body, err, tn.Host)
		}
	})

	t.Run("tenant to container", func(t *testing.T) {
		srv := serveInNetns(t, c.nsPath, c.addr)
		if code, body, err := fromNetns(t, p, a.ID, "http://"+srv+"/"); err == nil {
			t.Fatalf("a tenant reached a container through the host: %d, seen from %s", code, body)
		}
		// Control: let it through and it comes from the bridge's address.
		openHole(t, p.nets, firewall.Rule{In: tn.HostIf, Out: c.hostIf, Verdict: firewall.Accept})
		if code, body, err := fromNetns(t, p, a.ID, "http://"+srv+"/"); err != nil || code != 200 || !strings.HasPrefix(body, c.host+":") {
			t.Fatalf("control (forwarding let through): %d %q %v; want a connection from %s", code, body, err, c.host)
		}
	})

	t.Run("accepts elsewhere do not open it", func(t *testing.T) {
		// Docker (re)started after the agent puts its accepts at the top of
		// FORWARD; another table accepts everything from the container
		// before the agent's table sees it. A drop in the agent's table is
		// final all the same.
		dockerAccept(t, "cftest-docker-top", firewall.Rule{In: c.hostIf, Verdict: firewall.Accept})
		all := firewall.Table{Name: "cftest-accept-all", Chains: []firewall.Chain{{Name: "forward", Hook: firewall.Forward, Rules: []firewall.Rule{{In: c.hostIf, Verdict: firewall.Accept}}}}}
		if err := firewall.Apply(all); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { firewall.Remove(all.Name) })
		mustNotReach(t)
	})

	t.Run("rules re-installed when a tenant network is set up", func(t *testing.T) {
		if err := firewall.Remove(p.nets.TableName()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.nets.Reinstall() })
		if p.nets.FirewallInstalled() {
			t.Fatal("table still there after its removal")
		}
		// CheckForwarding runs at most once a second.
		tstest.AwaitErr(t, "the table re-installed by Ensure", 5*time.Second, func() error {
			if err := p.nets.Ensure(tn); err != nil {
				t.Fatal(err)
			}
			if !p.nets.FirewallInstalled() {
				return fmt.Errorf("table %s not re-installed", p.nets.TableName())
			}
			return nil
		})
		mustNotReach(t)
	})
}
