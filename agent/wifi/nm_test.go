package wifi

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func TestClassifyAndMerge(t *testing.T) {
	for _, tc := range []struct {
		flags, wpa, rsn uint32
		want            Security
	}{
		{0, 0, 0, Open},
		{apFlagPrivacy, 0, 0, WEP},
		{apFlagPrivacy, 0, keyMgmtPSK, WPA},
		{apFlagPrivacy, keyMgmtPSK, keyMgmtPSK, WPA},
		{apFlagPrivacy, 0, keyMgmtPSK | keyMgmtSAE, WPA}, // WPA2/WPA3 transition
		{apFlagPrivacy, 0, keyMgmtSAE, WPA3},
		{apFlagPrivacy, 0, keyMgmt8021X, Enterprise},
	} {
		if got := classify(tc.flags, tc.wpa, tc.rsn); got != tc.want {
			t.Errorf("classify(%#x, %#x, %#x) = %s, want %s", tc.flags, tc.wpa, tc.rsn, got, tc.want)
		}
	}
	got := mergeAPs([]rawAP{
		{ssid: []byte("Home"), strength: 40, rsn: keyMgmtPSK},
		{ssid: []byte("Home"), strength: 70, rsn: keyMgmtPSK}, // a second access point of the same network
		{ssid: []byte(""), strength: 99},                      // hidden
		{ssid: []byte("Café"), strength: 55},
	})
	want := []AccessPoint{{"Home", 70, WPA}, {"Café", 55, Open}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("mergeAPs = %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		r    uint32
		want Reason
	}{{7, ReasonWrongPassword}, {8, ReasonWrongPassword}, {11, ReasonTimeout}, {53, ReasonNotFound}, {17, ReasonNoAddress}, {36, ReasonFailed}} {
		if got := reasonFor(tc.r); got != tc.want {
			t.Errorf("reasonFor(%d) = %s, want %s", tc.r, got, tc.want)
		}
	}
}

// TestNetworkManagerReal runs Debian's NetworkManager on a private D-Bus
// bus in a new network and mount namespace (root only; run it under the
// heavy-test lock) and talks to it through NetworkManager: the state and
// online check, the refusal without a Wi-Fi device, and NetworkManager's
// own validation of the hotspot and join profiles this package builds,
// including the password lengths it accepts. There is no Wi-Fi radio here
// (no hardware, no mac80211_hwsim), so scans, joins and the hotspot's
// activation are not exercised.
func TestNetworkManagerReal(t *testing.T) {
	if bus := os.Getenv("CLAWFLEET_NM_TEST_BUS"); bus != "" {
		realNM(t, bus)
		return
	}
	for _, bin := range []string{"NetworkManager", "dbus-daemon", "unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing; CI must install network-manager, dbus-daemon, util-linux, iproute2", bin)
			}
			t.Skipf("%s is missing (apt-get install --no-install-recommends network-manager)", bin)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the namespaces")
	}
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus.sock")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bus.conf", `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=`+bus+`</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_type="signal"/>
<allow send_type="method_return"/><allow send_type="error"/><allow receive_type="method_call"/><allow receive_type="signal"/>
<allow receive_type="method_return"/><allow receive_type="error"/></policy></busconfig>
`)
	write("nm.conf", "[main]\nplugins=keyfile\nauth-polkit=false\ndhcp=internal\n[keyfile]\npath="+filepath.Join(dir, "conns")+"\n")
	// NetworkManager keeps its run and state files in fixed places: give it
	// fresh ones in its own mount namespace.
	write("run.sh", `set -u
for d in /run/NetworkManager /var/lib/NetworkManager; do mkdir -p $d && mount -t tmpfs none $d || exit 1; done
ip link set lo up
dbus-daemon --config-file=`+dir+`/bus.conf --fork --print-pid > `+dir+`/bus.pid || exit 1
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=`+bus+`
NetworkManager --no-daemon --config=`+dir+`/nm.conf --pid-file=`+dir+`/nm.pid > `+dir+`/nm.log 2>&1 &
nm=$!
trap 'kill $nm; kill $(cat `+dir+`/bus.pid)' EXIT
CLAWFLEET_NM_TEST_BUS=$DBUS_SYSTEM_BUS_ADDRESS "$@"
`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--net", "--propagation", "private",
		"bash", filepath.Join(dir, "run.sh"), os.Args[0], "-test.run", "^TestNetworkManagerReal$", "-test.v", "-test.count=1")
	out, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(filepath.Join(dir, "nm.log"))
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNetworkManagerReal") {
		t.Fatalf("against NetworkManager in a namespace: %v\n%s\nNetworkManager's log:\n%s", err, out, log)
	}
	t.Logf("against NetworkManager in a namespace:\n%s", out)
}

// realNM is the test's half inside the namespace, on NetworkManager's bus.
func realNM(t *testing.T, bus string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n *NetworkManager
	var err error
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		if n, err = NewNetworkManager(ctx, NMOptions{BusAddress: bus}); err == nil || time.Since(start) > 20*time.Second {
			break
		}
	}
	if err != nil {
		t.Fatalf("NetworkManager did not come up: %v", err)
	}
	defer n.Close()
	var version string
	if err := n.get(ctx, nmPath, nmIface, "Version", &version); err != nil {
		t.Fatal(err)
	}
	t.Logf("NetworkManager %s", version)

	if on, err := n.Online(ctx); err != nil || on {
		t.Errorf("Online with nothing but loopback = %v, %v", on, err)
	}
	if _, err := n.Scan(ctx); !errors.Is(err, ErrNoDevice) {
		t.Errorf("Scan: %v, want ErrNoDevice", err)
	}
	if err := n.Connect(ctx, AccessPoint{SSID: "Home", Security: WPA}, "correct horse"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("Connect: %v, want ErrNoDevice", err)
	}
	if err := n.StartHotspot(ctx, Hotspot{SSID: "OpenClaw-OXHF"}); !errors.Is(err, ErrNoDevice) {
		t.Errorf("StartHotspot: %v, want ErrNoDevice", err)
	}
	if err := n.StopHotspot(ctx); err != nil {
		t.Errorf("StopHotspot with no hotspot: %v", err)
	}

	add := func(s map[string]map[string]dbus.Variant) (dbus.ObjectPath, error) {
		var p dbus.ObjectPath
		err := n.conn.Object(nmDest, settingsPath).CallWithContext(ctx, settingsIface+".AddConnectionUnsaved", 0, s).Store(&p)
		return p, err
	}
	// The hotspot profile, open and with a password, as NetworkManager keeps it.
	for _, pw := range []string{"", "setup-pass"} {
		p, err := add(hotspotSettings(n.opts.HotspotID, "wlan0", Hotspot{SSID: "OpenClaw-OXHF", Password: pw, Address: DefaultHotspotAddress}))
		if err != nil {
			t.Fatalf("NetworkManager refused the hotspot profile (password %q): %v", pw, err)
		}
		var s map[string]map[string]dbus.Variant
		if err := n.conn.Object(nmDest, p).CallWithContext(ctx, connectionIface+".GetSettings", 0).Store(&s); err != nil {
			t.Fatal(err)
		}
		mode, ssid, method := setting[string](s, "802-11-wireless", "mode"), setting[[]byte](s, "802-11-wireless", "ssid"), setting[string](s, "ipv4", "method")
		addrs := setting[[]map[string]dbus.Variant](s, "ipv4", "address-data")
		keyMgmt := setting[string](s, "802-11-wireless-security", "key-mgmt")
		if mode != "ap" || string(ssid) != "OpenClaw-OXHF" || method != "shared" || len(addrs) != 1 ||
			addrs[0]["address"].Value() != "10.42.0.1" || addrs[0]["prefix"].Value() != uint32(24) || (pw != "") != (keyMgmt == "wpa-psk") {
			t.Errorf("hotspot profile as NetworkManager keeps it: %v", s)
		}
	}
	// Join profiles: NetworkManager's verdict on each password is ValidPassword's.
	saved := 0
	for _, tc := range []struct {
		sec Security
		pw  string
	}{
		{Open, ""}, {WPA, "12345678"}, {WPA, "1234567"}, {WPA, strings.Repeat("p", 63)}, {WPA, strings.Repeat("p", 64)},
		{WPA, strings.Repeat("a1", 32)}, {WPA, "密码密码密码"}, {WPA3, "x"}, {WPA3, "correct horse"},
	} {
		_, err := add(joinSettings(AccessPoint{SSID: "Home-" + string(tc.sec), Security: tc.sec}, tc.pw))
		if (err == nil) != ValidPassword(tc.sec, tc.pw) {
			t.Errorf("%s password %q: NetworkManager says %v, ValidPassword %v", tc.sec, tc.pw, err, ValidPassword(tc.sec, tc.pw))
		}
		if err == nil {
			saved++
		}
	}
	if got, err := n.SavedNetworks(ctx); err != nil || got != saved {
		t.Errorf("SavedNetworks = %d, %v; want %d (the hotspot not counted)", got, err, saved)
	}
	if err := n.removeHotspotProfiles(ctx); err != nil {
		t.Fatal(err)
	}
	profiles, err := n.profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range profiles {
		if p.id == n.opts.HotspotID {
			t.Errorf("hotspot profile %s left after removeHotspotProfiles", p.path)
		}
	}
	if len(profiles) != saved {
		t.Errorf("%d profiles left, want the %d join profiles", len(profiles), saved)
	}
}
