package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"

	"github.com/clawfleet/clawfleet/pkg/firewall"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// hostNS is the -agent-netns layout: the agent ("the host") in a network
// namespace of its own, linked to the root namespace (cloud, nginx, wrk) by
// a veth pair, rootAddr/30 on the root side and nsAddr/30 on the host side.
// It is made with ip(8) and entered with nsenter, so the agent keeps the
// root mount namespace (/sys/fs/cgroup, /run/netns as ip netns sees them).
type hostNS struct {
	name, path       string // ip netns name and /run/netns/<name>
	rootIf, nsIf     string
	rootAddr, nsAddr string
	tag              byte
}

func newHostNS() (*hostNS, error) {
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("-agent-netns: %w", err)
		}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("-agent-netns needs root (network namespaces, veth)")
	}
	b := make([]byte, 3)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	// 10.236.<b0>.<4*k>/30 for the underlay; skip it if the root namespace
	// already has an address there.
	sub := fmt.Sprintf("10.236.%d.%d", b[0], (b[1]%64)*4)
	if used, _ := exec.Command("ip", "-4", "-o", "addr").Output(); strings.Contains(string(used), sub[:strings.LastIndexByte(sub, '.')+1]) {
		return nil, fmt.Errorf("-agent-netns: %s.0/24 is in use here; run again", sub[:strings.LastIndexByte(sub, '.')])
	}
	base := net.ParseIP(sub).To4()
	h := &hostNS{name: "cfrb" + tag, rootIf: "cfrbr" + tag, nsIf: "cfrbh" + tag, tag: b[2],
		rootAddr: net.IPv4(base[0], base[1], base[2], base[3]+1).String(), nsAddr: net.IPv4(base[0], base[1], base[2], base[3]+2).String()}
	h.path = "/run/netns/" + h.name
	steps := [][]string{
		{"netns", "add", h.name},
		{"-n", h.name, "link", "set", "lo", "up"},
		{"link", "add", h.rootIf, "type", "veth", "peer", "name", h.nsIf, "netns", h.name},
		{"addr", "add", h.rootAddr + "/30", "dev", h.rootIf},
		{"-n", h.name, "addr", "add", h.nsAddr + "/30", "dev", h.nsIf},
		{"link", "set", h.rootIf, "up"},
		{"-n", h.name, "link", "set", h.nsIf, "up"},
	}
	for i, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			if i > 0 {
				h.Close(nil)
			}
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return h, nil
}

// Prefix runs a command in the namespace (nsenter execs it: same pid).
func (h *hostNS) Prefix() []string { return []string{"nsenter", "--net=" + h.path, "--"} }

// Close ends what is left in the namespace (processes this benchmark
// started, by pid), deletes the tenant namespaces the agent made and did
// not remove (named in its log), the namespace and the root side of the
// veth. Everything inside (the agent's interfaces, routes and firewall
// rules) goes with the namespace.
func (h *hostNS) Close(agentLog []byte) {
	if out, err := exec.Command("ip", "netns", "pids", h.name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for _, m := range regexp.MustCompile(`msg="tenant network namespace ready" netns=(\S+)`).FindAllSubmatch(agentLog, -1) {
		if _, err := os.Stat("/run/netns/" + string(m[1])); err == nil {
			exec.Command("ip", "netns", "del", string(m[1])).Run()
		}
	}
	exec.Command("ip", "netns", "del", h.name).Run()
	exec.Command("ip", "link", "del", h.rootIf).Run() // gone with the peer unless something still holds the namespace
}

// DialContext dials from inside the namespace: the socket is made on a
// thread that entered it (tstest.InNetns), and stays in it.
func (h *hostNS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := tstest.InNetns(h.path, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// hubLeftovers removes what a kernel or tun hub (interface iface) leaves in
// the root namespace when the cloud could not close it (killed): the
// interface and its nftables table. Run only after the cloud has exited,
// and only when the interface did not exist before it started.
func hubLeftovers(iface string) {
	exec.Command("ip", "link", "del", iface).Run()
	firewall.Remove("clawfleet-" + iface)
}
