//go:build linux

package wgif

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/firewall"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
)

// TestOpenFailsClosed: where the interface's firewall cannot be installed
// Open refuses and leaves no interface behind, unless AllowUnfiltered;
// with a firewall its table comes and goes with the interface.
func TestOpenFailsClosed(t *testing.T) {
	if err := TunAvailable(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	priv, err := wgkey.GeneratePrivate()
	if err != nil {
		t.Fatal(err)
	}
	name := "cfwgt" + strconv.Itoa(os.Getpid()%10000)
	opts := Options{Name: name, Mode: Tun, MTU: 1420, PrivateKey: priv, Address: netip.MustParsePrefix("100.127.0.1/32")}
	exists := func() bool { return exec.Command("ip", "link", "show", "dev", name).Run() == nil }

	i, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !i.Filtered() || !firewall.Installed(i.table(nil, nil)) {
		t.Fatal("no firewall table with the interface")
	}
	i.Close()
	if exists() || firewall.Installed(i.table(nil, nil)) {
		t.Fatal("interface or table left after Close")
	}

	orig := firewallAvailable
	firewallAvailable = func() error { return errors.New("nf_tables: operation not supported") }
	t.Cleanup(func() { firewallAvailable = orig })
	if _, err := Open(opts); err == nil || !strings.Contains(err.Error(), "no firewall") {
		t.Fatalf("Open without a firewall: %v, want a refusal", err)
	}
	if exists() {
		t.Fatal("a refused Open left its interface")
	}
	opts.AllowUnfiltered = true
	i, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	if i.Filtered() || i.SetInputPorts([]int{80}) != nil {
		t.Fatal("unfiltered interface: Filtered or SetInputPorts wrong")
	}
}
