package runtimetest

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// WSUpgrade sends a WebSocket upgrade for path to addr with headers and
// returns the status code; on 101 it checks Sec-WebSocket-Accept and, when
// echo is set, that bytes come back.
func WSUpgrade(t testing.TB, addr, path string, echo bool, headers ...string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	k := make([]byte, 16)
	rand.Read(k)
	key := base64.StdEncoding.EncodeToString(k)
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: t.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nOrigin: https://t.example.com\r\n", path, key)
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if resp.Header.Get("Sec-WebSocket-Accept") == "" {
			t.Fatal("101 without Sec-WebSocket-Accept")
		}
		if echo {
			io.WriteString(c, "ping through the tunnel")
			b := make([]byte, 23)
			if _, err := io.ReadFull(br, b); err != nil || string(b) != "ping through the tunnel" {
				t.Fatalf("echo: %q %v", b, err)
			}
		}
	}
	return resp.StatusCode
}

// CheckRealGateway asserts what a real gateway in trusted-proxy mode for
// owner u1 answers on the proxy path (up, from this host) and to forged
// identities from another tenant (attack; let lets it past the network).
func CheckRealGateway(t testing.TB, up string, attack func(path string, headers ...string) (int, string, error), let func()) {
	t.Helper()
	type answer struct {
		what    string
		code    int
		want    int
		comment string
	}
	var got []answer
	add := func(what string, code, want int, comment string) {
		got = append(got, answer{what, code, want, comment})
	}
	code, _, _ := Get(up, "/readyz")
	add("proxy path, /readyz, no X-Forwarded-For", code, 403, "proxy_attribution_required")
	code, _, _ = Get(up, "/readyz", "X-Forwarded-For: 127.0.0.1")
	add("proxy path, /readyz, X-Forwarded-For 127.0.0.1", code, 403, "loopback client")
	code, _, _ = Get(up, "/readyz", "X-Forwarded-For: "+runtime.ProbeForwardedFor)
	add("proxy path, /readyz, the agent's probe", code, 200, "")
	code, body, _ := Get(up, "/", Proxied...)
	if !strings.Contains(body, "<title>OpenClaw Control</title>") {
		code = -3 // not the Control UI
	}
	add("proxy path, /, owner u1", code, 200, "the Control UI")
	code, _, _ = Get(up, "/v1/models", Proxied...)
	add("proxy path, GET /v1/models, owner u1", code, -2, "for comparison")
	code = WSUpgrade(t, up, "/", false, Proxied...)
	add("proxy path, WebSocket upgrade, owner u1", code, 101, "")
	if attack != nil {
		forged := []string{proto.UserHeader + ": u1", "X-Forwarded-For: 203.0.113.7"}
		if let != nil {
			_, _, err := attack("/", forged...)
			add("other tenant, forged u1 (network)", map[bool]int{true: 0, false: -1}[err != nil], 0, "dropped between namespaces")
			let()
		}
		// OpenClaw: proxy-shaped traffic from a source outside trustedProxies
		// is refused before any identity header is read.
		for _, path := range []string{"/", "/v1/models"} {
			code, body, _ = attack(path, forged...)
			if !strings.Contains(body, "proxy_attribution_required") {
				code = -3
			}
			add("other tenant, forged u1, GET "+path, code, 403, "proxy_attribution_required")
		}
	}
	for _, a := range got {
		t.Logf("%-55s → %d (%s)", a.what, a.code, a.comment)
		if a.want != -2 && a.code != a.want {
			t.Errorf("%s: %d, want %d", a.what, a.code, a.want)
		}
	}
}
