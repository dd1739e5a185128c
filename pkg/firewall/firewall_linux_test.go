//go:build linux

package firewall

import (
	"net/netip"

	"errors"
	"github.com/google/nftables/expr"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/google/nftables"
)

// inFreshNetns runs fn in a network namespace of its own, so the test
// never touches the host's firewall.
func inFreshNetns(t *testing.T, fn func() error) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("nftables: root needed in CI")
		}
		t.Skip("nftables: root needed")
	}
	name := "cffw-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	if err := tstest.InNetns("/run/netns/"+name, fn); err != nil {
		t.Fatal(err)
	}
}

// TestTable: a table is installed whole, checked, replaced idempotently
// and removed without a trace; its rules act on packets (a TCP reset on
// the port it names, nothing on others).
func TestTable(t *testing.T) {
	inFreshNetns(t, func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		other, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer other.Close()
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		tb := Table{Name: "cf-test", Chains: []Chain{
			{Name: "input", Hook: Input, Rules: []Rule{
				{In: "lo", Established: true, Verdict: Accept},
				{In: "l*", Proto: TCP, DPort: port, Verdict: Reset},
			}},
			{Name: "forward", Hook: Forward, Rules: []Rule{{In: "cfv*", Out: "docker*", Verdict: Drop}}},
			{Name: "nat", Hook: Postrouting, Rules: []Rule{{Src: mustPrefix("10.200.0.0/16"), NotOut: "cfv*", Verdict: Masquerade}}},
		}}
		dial := func(a net.Addr) error {
			c, err := net.Dial("tcp", a.String())
			if err == nil {
				c.Close()
			}
			return err
		}
		if Installed(tb) {
			t.Error("installed before Apply")
		}
		for range 2 { // idempotent
			if err := Apply(tb); err != nil {
				return err
			}
		}
		if !Installed(tb) {
			t.Error("not installed after Apply")
		}
		if err := dial(ln.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial the filtered port: %v, want a reset (connection refused)", err)
		}
		if err := dial(other.Addr()); err != nil {
			t.Errorf("dial another port: %v", err)
		}
		changed := tb
		changed.Chains = append([]Chain{{Name: "input", Hook: Input, Rules: tb.Chains[0].Rules[:1]}}, tb.Chains[1:]...)
		if Installed(changed) {
			t.Error("a table with other rules counts as installed")
		}
		if err := Apply(changed); err != nil {
			return err
		}
		if err := dial(ln.Addr()); err != nil {
			t.Errorf("dial after the reset rule was replaced away: %v", err)
		}
		for range 2 {
			if err := Remove(tb.Name); err != nil {
				return err
			}
		}
		c, _ := nftables.New()
		if ts, err := c.ListTables(); err != nil || len(ts) != 0 {
			t.Errorf("tables left after Remove: %v %v", ts, err)
		}
		if Installed(tb) {
			t.Error("installed after Remove")
		}
		return nil
	})
}

// TestForeign: our accept goes to the top of another table's chain once,
// and only ours are removed.
func TestForeign(t *testing.T) {
	inFreshNetns(t, func() error {
		r := Rule{In: "cfv*", Verdict: Accept}
		if err := EnsureForeign("filter", "DOCKER-USER", "cf-test", r); !errors.Is(err, ErrNoChain) {
			t.Errorf("no chain: %v, want ErrNoChain", err)
		}
		// iptables-nft's table, as Docker makes it.
		c, _ := nftables.New()
		tb := c.AddTable(&nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv4})
		ch := c.AddChain(&nftables.Chain{Name: "DOCKER-USER", Table: tb})
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: mustExprs(Rule{Verdict: Accept})})
		if err := c.Flush(); err != nil {
			return err
		}
		if !ChainExists("filter", "DOCKER-USER") || ForeignInstalled("filter", "DOCKER-USER", "cf-test", r) {
			t.Error("chain or rule state wrong before EnsureForeign")
		}
		for range 2 {
			if err := EnsureForeign("filter", "DOCKER-USER", "cf-test", r); err != nil {
				return err
			}
		}
		rules, _ := c.GetRules(tb, ch)
		if len(rules) != 2 || !ForeignInstalled("filter", "DOCKER-USER", "cf-test", r) {
			t.Errorf("%d rules after EnsureForeign twice, want ours on top of the one there", len(rules))
		}
		if err := RemoveForeign("filter", "DOCKER-USER", "cf-test"); err != nil {
			return err
		}
		rules, _ = c.GetRules(tb, ch)
		if len(rules) != 1 || ForeignInstalled("filter", "DOCKER-USER", "cf-test", r) {
			t.Errorf("%d rules after RemoveForeign, want the other one only", len(rules))
		}
		return nil
	})
}
func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func mustExprs(r Rule) []expr.Any {
	e, err := r.exprs()
	if err != nil {
		panic(err)
	}
	return e
}
