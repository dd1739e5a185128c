package proto

import (
	"strings"
	"testing"
)

func TestDecodeTunnelConfig(t *testing.T) {
	key := "qjeoTSnNcBZBVZbeE0x7NmSC1+C3sJYfBxfCPiXxGWY="
	good := `{"v":1,"address":"100.96.0.2","hubAddress":"100.96.0.1","hubPublicKey":"` + key + `","hubEndpoint":"cloud.example.com:51820","keepaliveSeconds":25,"ports":[20000,20120]}`
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"ok", good, true},
		{"bad address", strings.Replace(good, `"100.96.0.2"`, `"100.96.0.999"`, 1), false},
		{"same as hub", strings.Replace(good, `"100.96.0.2"`, `"100.96.0.1"`, 1), false},
		{"bad key", strings.Replace(good, key, "short", 1), false},
		{"bad endpoint", strings.Replace(good, "cloud.example.com:51820", "cloud.example.com", 1), false},
		{"bad port", strings.Replace(good, "20120", "70000", 1), false},
		{"keepalive", strings.Replace(good, `"keepaliveSeconds":25`, `"keepaliveSeconds":-1`, 1), false},
	} {
		if _, err := DecodeTunnelConfig([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if _, err := DecodeRegister([]byte(`{"v":1,"hostname":"h","wgPublicKey":"nope"}`)); err == nil {
		t.Error("register with a malformed WireGuard key accepted")
	}
	if _, err := DecodeHeartbeat([]byte(`{"v":1,"tunnel":{"mode":"netstack","handshakeAgeSeconds":-2}}`)); err == nil {
		t.Error("heartbeat with handshake age -2 accepted")
	}
}
