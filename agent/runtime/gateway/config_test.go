package gateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

func spec() proto.TenantSpec {
	return proto.TenantSpec{ID: "ten_abcdefgh", GatewayToken: "0123456789abcdef", Port: 20000, AllowedOrigins: []string{"https://a.example.com"}}
}

func TestMarshal(t *testing.T) {
	b, err := Marshal(spec(), Options{Port: 20000, Bind: BindLoopback, LogFile: "/x/gateway.log"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	gw := m["gateway"].(map[string]any)
	auth := gw["auth"].(map[string]any)
	if gw["mode"] != "local" || gw["port"] != float64(20000) || gw["bind"] != "loopback" || auth["mode"] != "token" || auth["token"] != "0123456789abcdef" {
		t.Fatalf("%s", b)
	}
	if o := gw["controlUi"].(map[string]any)["allowedOrigins"].([]any); len(o) != 1 || o[0] != "https://a.example.com" {
		t.Fatalf("%s", b)
	}
	if m["logging"].(map[string]any)["file"] != "/x/gateway.log" {
		t.Fatalf("%s", b)
	}
	for _, bad := range []Options{{Port: 0, Bind: BindLAN, LogFile: "x"}, {Port: 1, Bind: "0.0.0.0", LogFile: "x"}, {Port: 1, Bind: BindLAN}} {
		if _, err := Marshal(spec(), bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// Write keeps keys it does not manage, enforces the ones it does, does not
// rewrite an up-to-date file, and replaces (not writes through) a symlink.
func TestWriteMerges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	os.WriteFile(path, []byte(`{"agents":{"defaults":{"model":"m"}},"gateway":{"port":1,"bind":"custom","customBindHost":"10.0.0.1","auth":{"mode":"none"},"controlUi":{"allowedOrigins":["https://old"],"other":true}}}`), 0o600)
	o := Options{Port: 20000, Bind: BindLoopback, LogFile: "/x/gateway.log"}
	changed, err := Write(path, spec(), o, -1, -1)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	for _, want := range []string{`"model": "m"`, `"other": true`, `"https://a.example.com"`, `"token": "0123456789abcdef"`, `"bind": "loopback"`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in %s", want, s)
		}
	}
	if strings.Contains(s, "customBindHost") || strings.Contains(s, "https://old") {
		t.Errorf("stale keys kept: %s", s)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if changed, err := Write(path, spec(), o, -1, -1); err != nil || changed {
		t.Fatal("rewrote an up-to-date file", changed, err)
	}
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("precious"), 0o600)
	os.Remove(path)
	os.Symlink(target, path)
	if _, err := Write(path, spec(), o, -1, -1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Fatal("wrote through a symlink")
	}
	if c, err := Read(path); err != nil || c.Gateway.Port != 20000 {
		t.Fatal(c, err)
	}
}
