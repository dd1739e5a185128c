//go:build linux

package process

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/netns"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// container is a namespace playing a Docker container: its own veth to the
// host (host side named like a Docker bridge), a MASQUERADE rule and a
// FORWARD ACCEPT like Docker's for its subnet, its default route via the
// host.
type container struct {
	ns, hostIf  string
	host, addr  string // host side (the "bridge" address) and the container
	subnet      string
	nsPath      string
	forwardRule []string
}

func iptablesT(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables %s: %v %s", strings.Join(args, " "), err, out)
	}
}

// iptablesRule adds a rule (args start with -I or -A) and deletes it at
// cleanup.
func iptablesRule(t *testing.T, table string, args ...string) {
	t.Helper()
	iptablesT(t, append([]string{"-t", table}, args...)...)
	del := append([]string{"-w", "5", "-t", table, "-D", args[1]}, args[2:]...)
	if args[0] == "-I" && len(args) > 2 && args[2] == "1" {
		del = append([]string{"-w", "5", "-t", table, "-D", args[1]}, args[3:]...)
	}
	t.Cleanup(func() { exec.Command("iptables", del...).Run() })
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
	// Docker's rules for its bridge, appended (Docker set them up before
	// the agent started).
	iptablesRule(t, "nat", "-A", "POSTROUTING", "-s", c.subnet, "!", "-o", c.hostIf, "-j", "MASQUERADE")
	iptablesRule(t, "filter", "-A", "FORWARD", "-o", c.hostIf, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
	iptablesRule(t, "filter", "-A", "FORWARD", "-i", c.hostIf, "!", "-o", c.hostIf, "-j", "ACCEPT")
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
	if _, err := exec.LookPath("iptables"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("iptables not found")
		}
		t.Skip("iptables not found")
	}
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
		iptablesRule(t, "filter", "-I", "FORWARD", "1", "-i", c.hostIf, "-o", tn.HostIf, "-j", "ACCEPT")
		iptablesRule(t, "filter", "-I", "FORWARD", "1", "-i", tn.HostIf, "-o", c.hostIf, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
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
		iptablesRule(t, "filter", "-I", "FORWARD", "1", "-i", tn.HostIf, "-o", c.hostIf, "-j", "ACCEPT")
		if code, body, err := fromNetns(t, p, a.ID, "http://"+srv+"/"); err != nil || code != 200 || !strings.HasPrefix(body, c.host+":") {
			t.Fatalf("control (forwarding let through): %d %q %v; want a connection from %s", code, body, err, c.host)
		}
	})

	t.Run("Docker restarted after the agent", func(t *testing.T) {
		out, err := exec.Command("iptables", "-w", "5", "-S", "DOCKER-USER").CombinedOutput()
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("no DOCKER-USER chain: CI starts dockerd (agent/runtime/testdata/start-dockerd.sh) before the tests: %s", out)
			}
			t.Skipf("no DOCKER-USER chain (no Docker): %s", out)
		}
		// Docker's jumps and its bridge's ACCEPT end up above the agent's.
		iptablesRule(t, "filter", "-I", "FORWARD", "1", "-i", c.hostIf, "!", "-o", c.hostIf, "-j", "ACCEPT")
		iptablesRule(t, "filter", "-I", "FORWARD", "1", "-j", "DOCKER-USER")
		mustNotReach(t)
	})

	t.Run("rules re-installed when a tenant network is set up", func(t *testing.T) {
		t.Cleanup(p.nets.CheckForwarding)
		jumps := []string{"FORWARD"}
		if exec.Command("iptables", "-w", "5", "-S", "DOCKER-USER").Run() == nil {
			jumps = append(jumps, "DOCKER-USER")
		}
		for _, chain := range jumps {
			iptablesT(t, "-D", chain, "-j", netns.Chain)
		}
		iptablesT(t, "-D", netns.Chain, "-o", netns.HostIfPrefix+"+", "-j", "DROP")
		if err := p.nets.Ensure(tn); err != nil {
			t.Fatal(err)
		}
		for _, chain := range jumps {
			out, err := exec.Command("iptables", "-w", "5", "-S", chain).CombinedOutput()
			if err != nil || !slices.Contains(strings.Split(string(out), "\n"), "-A "+chain+" -j "+netns.Chain) {
				t.Fatalf("jump from %s not re-installed: %s %v", chain, out, err)
			}
		}
		out, err := exec.Command("iptables", "-w", "5", "-S", netns.Chain).CombinedOutput()
		if err != nil || !p.nets.ChainInstalled() {
			t.Fatalf("%s not re-installed: %s %v", netns.Chain, out, err)
		}
		mustNotReach(t)
	})
}
