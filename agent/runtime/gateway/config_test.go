package gateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

func spec() proto.TenantSpec {
	return proto.TenantSpec{ID: "ten_abcdefgh", Owner: "u1", GatewayToken: "0123456789abcdef", Port: 20000, AllowedOrigins: []string{"https://a.example.com"}}
}

func tokenSpec() proto.TenantSpec {
	s := spec()
	s.Auth = proto.GatewayAuthToken
	return s
}

// path returns the value at a dotted path of a decoded JSON object.
func path(m map[string]any, p string) any {
	var v any = m
	for _, k := range strings.Split(p, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// expect checks the values at dotted paths of the JSON object b.
func expect(t *testing.T, b []byte, want map[string]any) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for p, w := range want {
		if got := path(m, p); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v\n%s", p, got, w, b)
		}
	}
}

func TestMarshal(t *testing.T) {
	ns := Options{Port: 20000, Bind: BindCustom, CustomBindHost: "10.231.0.2", TrustedProxies: []string{"10.231.0.1"}, LogFile: "/x/gateway.log"}
	lo := Options{Port: 20000, Bind: BindLoopback, TrustedProxies: []string{"127.0.0.1"}, AllowLoopback: true, LogFile: "/x/gateway.log"}
	ctr := Options{Port: 18789, Bind: BindLAN, TrustedProxies: []string{"172.17.0.1"}, LogFile: "/c/gateway.log"}
	tests := []struct {
		name string
		spec proto.TenantSpec
		o    Options
		want map[string]any // dotted path → value (nil: absent)
	}{
		{"trusted-proxy in a namespace", spec(), ns, map[string]any{
			"gateway.mode": "local", "gateway.port": 20000.0, "gateway.bind": "custom", "gateway.customBindHost": "10.231.0.2",
			"gateway.trustedProxies": []any{"10.231.0.1"}, "gateway.auth.mode": "trusted-proxy", "gateway.auth.token": nil,
			"gateway.auth.trustedProxy.userHeader": "x-forwarded-user", "gateway.auth.trustedProxy.allowUsers": []any{"u1"},
			"gateway.auth.trustedProxy.allowLoopback":             nil,
			"gateway.auth.trustedProxy.deviceAutoApprove.enabled": true, "gateway.auth.trustedProxy.deviceAutoApprove.scopes": nil,
			"gateway.controlUi.allowedOrigins": []any{"https://a.example.com"}, "logging.file": "/x/gateway.log",
		}},
		{"trusted-proxy on loopback", spec(), lo, map[string]any{
			"gateway.bind": "loopback", "gateway.customBindHost": nil, "gateway.trustedProxies": []any{"127.0.0.1"},
			"gateway.auth.trustedProxy.allowLoopback": true, "gateway.auth.token": nil,
		}},
		{"trusted-proxy in a container", spec(), ctr, map[string]any{
			"gateway.bind": "lan", "gateway.port": 18789.0, "gateway.trustedProxies": []any{"172.17.0.1"}, "gateway.auth.mode": "trusted-proxy",
		}},
		{"token", tokenSpec(), ns, map[string]any{
			"gateway.auth.mode": "token", "gateway.auth.token": "0123456789abcdef", "gateway.auth.trustedProxy": nil,
			"gateway.trustedProxies": nil, "gateway.customBindHost": "10.231.0.2",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.spec, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, b, tc.want)
		})
	}
	noOwner := spec()
	noOwner.Owner = ""
	bad := []struct {
		name string
		spec proto.TenantSpec
		o    Options
	}{
		{"port 0", spec(), Options{Port: 0, Bind: BindLAN, TrustedProxies: []string{"172.17.0.1"}, LogFile: "x"}},
		{"bind 0.0.0.0", spec(), Options{Port: 1, Bind: "0.0.0.0", TrustedProxies: []string{"172.17.0.1"}, LogFile: "x"}},
		{"no log file", spec(), Options{Port: 1, Bind: BindLAN, TrustedProxies: []string{"172.17.0.1"}}},
		{"custom without host", spec(), Options{Port: 1, Bind: BindCustom, TrustedProxies: []string{"10.0.0.1"}, LogFile: "x"}},
		{"custom on 0.0.0.0", spec(), Options{Port: 1, Bind: BindCustom, CustomBindHost: "0.0.0.0", TrustedProxies: []string{"10.0.0.1"}, LogFile: "x"}},
		{"host without custom", spec(), Options{Port: 1, Bind: BindLoopback, CustomBindHost: "10.0.0.2", TrustedProxies: []string{"127.0.0.1"}, LogFile: "x"}},
		{"trusted-proxy without proxies", spec(), Options{Port: 1, Bind: BindLAN, LogFile: "x"}},
		{"trusted-proxy without owner", noOwner, ns},
		{"proxy not an address", spec(), Options{Port: 1, Bind: BindLAN, TrustedProxies: []string{"10.0.0.0/8"}, LogFile: "x"}},
		{"unknown auth", func() proto.TenantSpec { s := spec(); s.Auth = "none"; return s }(), ns},
	}
	for _, tc := range bad {
		if _, err := Marshal(tc.spec, tc.o); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// Merge keeps the keys it does not manage and replaces the ones it does,
// in both directions between the auth modes.
func TestMerge(t *testing.T) {
	ns := Options{Port: 20000, Bind: BindCustom, CustomBindHost: "10.231.0.2", TrustedProxies: []string{"10.231.0.1"}, LogFile: "/x/gateway.log"}
	lo := Options{Port: 20000, Bind: BindLoopback, TrustedProxies: []string{"127.0.0.1"}, AllowLoopback: true, LogFile: "/x/gateway.log"}
	tests := []struct {
		name     string
		existing string
		spec     proto.TenantSpec
		o        Options
		want     map[string]any
	}{
		{"token file to trusted-proxy: token gone, others kept",
			`{"agents":{"defaults":{"model":"m"}},"gateway":{"port":1,"bind":"loopback","auth":{"mode":"token","token":"old","rateLimit":{"maxAttempts":3}},"controlUi":{"allowedOrigins":["https://old"],"other":true}}}`,
			spec(), ns, map[string]any{
				"agents.defaults.model": "m", "gateway.auth.token": nil, "gateway.auth.mode": "trusted-proxy",
				"gateway.auth.rateLimit.maxAttempts": 3.0, "gateway.controlUi.other": true,
				"gateway.controlUi.allowedOrigins": []any{"https://a.example.com"}, "gateway.customBindHost": "10.231.0.2",
			}},
		{"trusted-proxy to token: trustedProxy, trustedProxies, customBindHost gone",
			`{"gateway":{"bind":"custom","customBindHost":"10.0.0.2","trustedProxies":["10.0.0.1"],"auth":{"mode":"trusted-proxy","trustedProxy":{"userHeader":"x"}}}}`,
			tokenSpec(), Options{Port: 20000, Bind: BindLoopback, LogFile: "/x/gateway.log"}, map[string]any{
				"gateway.auth.mode": "token", "gateway.auth.token": "0123456789abcdef", "gateway.auth.trustedProxy": nil,
				"gateway.trustedProxies": nil, "gateway.customBindHost": nil, "gateway.bind": "loopback",
			}},
		{"stale trusted-proxy settings replaced, unmanaged ones kept, admin scopes dropped",
			`{"gateway":{"trustedProxies":["0.0.0.0/0"],"auth":{"mode":"trusted-proxy","trustedProxy":{"userHeader":"x-evil","allowUsers":["mallory"],"allowLoopback":true,"requiredHeaders":["x-forwarded-proto"],"deviceAutoApprove":{"enabled":true,"scopes":["operator.admin"]}}}}}`,
			spec(), ns, map[string]any{
				"gateway.trustedProxies": []any{"10.231.0.1"}, "gateway.auth.trustedProxy.userHeader": "x-forwarded-user",
				"gateway.auth.trustedProxy.allowUsers": []any{"u1"}, "gateway.auth.trustedProxy.allowLoopback": nil,
				"gateway.auth.trustedProxy.requiredHeaders":           []any{"x-forwarded-proto"},
				"gateway.auth.trustedProxy.deviceAutoApprove.scopes":  nil,
				"gateway.auth.trustedProxy.deviceAutoApprove.enabled": true,
			}},
		{"namespace to loopback fallback", `{"gateway":{"bind":"custom","customBindHost":"10.231.0.2","trustedProxies":["10.231.0.1"]}}`,
			spec(), lo, map[string]any{
				"gateway.bind": "loopback", "gateway.customBindHost": nil, "gateway.trustedProxies": []any{"127.0.0.1"},
				"gateway.auth.trustedProxy.allowLoopback": true,
			}},
		{"not JSON: replaced whole", "{ // json5\n gateway: {} }", spec(), ns, map[string]any{"gateway.bind": "custom"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Merge([]byte(tc.existing), tc.spec, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, b, tc.want)
			// Merging again changes nothing.
			if b2, _ := Merge(b, tc.spec, tc.o); string(b2) != string(b) {
				t.Errorf("not idempotent:\n%s\n%s", b, b2)
			}
		})
	}
}

// Write does not rewrite an up-to-date file, writes 0600, and replaces
// (not writes through) a symlink.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	o := Options{Port: 20000, Bind: BindCustom, CustomBindHost: "10.231.0.2", TrustedProxies: []string{"10.231.0.1"}, LogFile: "/x/gateway.log"}
	changed, err := Write(p, spec(), o, -1, -1)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if changed, err := Write(p, spec(), o, -1, -1); err != nil || changed {
		t.Fatal("rewrote an up-to-date file", changed, err)
	}
	c, err := Read(p)
	if err != nil || c.Gateway.Port != 20000 || c.Gateway.CustomBindHost != "10.231.0.2" || c.Gateway.Auth.TrustedProxy == nil || c.Gateway.Auth.TrustedProxy.AllowUsers[0] != "u1" {
		t.Fatal(c, err)
	}
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("precious"), 0o600)
	os.Remove(p)
	os.Symlink(target, p)
	if _, err := Write(p, spec(), o, -1, -1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Fatal("wrote through a symlink")
	}
}
