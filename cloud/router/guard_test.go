package router

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/httpguard"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// Behind the cloud's slow-client guards (a body timeout, a per-address
// connection cap, as cloud/app serves the router), a WebSocket to the
// gateway and a response it holds open outlive the body timeout: only
// bodies are timed, and a hijacked connection keeps no deadline.
func TestWebSocketAndStreamOutliveBodyTimeout(t *testing.T) {
	f := newFixture(t, Options{})
	ck := f.login("ten_a", "alice", "u-alice")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const bodyTimeout = 500 * time.Millisecond
	srv := &http.Server{Handler: httpguard.BodyTimeout(f.rt, bodyTimeout), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(httpguard.Listener(ln, 4, nil, nil))
	t.Cleanup(func() { srv.Close() })

	conn, br, resp := wsUpgrade(t, ln.Addr().String(), ck)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	echo := func(msg string) {
		t.Helper()
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}
	echo("hello")
	for range 3 {
		time.Sleep(bodyTimeout) // 1.5 s in all, three body timeouts
		echo("still here")
	}

	// A response held open by the gateway, read after three body timeouts.
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/stream", nil)
	req.Host = "alice.example.test"
	req.Header.Set("Cookie", CookieName+"="+ck)
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	time.Sleep(3 * bodyTimeout)
	line, err := bufio.NewReader(sresp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("held stream after three body timeouts: %q, %v", line, err)
	}
	// The connection is still the stream's: nothing ended it.
	done := make(chan error, 1)
	go func() { _, err := sresp.Body.Read(make([]byte, 1)); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("the held stream ended: %v", err)
	case <-time.After(2 * bodyTimeout):
	}
}

// A tenant's gateway has at most MaxWebSockets open through the router:
// one more is answered 429 too_many_connections (other requests still
// pass), and a closed one makes room.
func TestWebSocketsPerTenant(t *testing.T) {
	f := newFixture(t, Options{MaxWebSockets: 2})
	ck := f.login("ten_a", "alice", "u-alice")
	addr := f.srv.Listener.Addr().String()
	open := func() (net.Conn, int) {
		t.Helper()
		conn, _, resp := wsUpgrade(t, addr, ck)
		return conn, resp.StatusCode
	}
	first, code1 := open()
	_, code2 := open()
	if code1 != http.StatusSwitchingProtocols || code2 != http.StatusSwitchingProtocols {
		t.Fatalf("the first two WebSockets: %d %d", code1, code2)
	}
	_, _, resp := wsUpgrade(t, addr, ck, "Accept: application/json")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("a third WebSocket: %d Retry-After %q, want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if m := decodeJSON(t, resp); m["code"] != "too_many_connections" {
		t.Fatalf("a third WebSocket: %v", m)
	}
	if r := f.do("GET", "alice", "/", map[string]string{"Cookie": CookieName + "=" + ck}); r.StatusCode != http.StatusOK {
		t.Fatalf("a plain request beside the WebSockets: %d", r.StatusCode)
	}
	first.Close()
	tstest.Await(t, "a slot after a WebSocket closed", 5*time.Second, func() bool {
		conn, code := open()
		defer conn.Close()
		return code == http.StatusSwitchingProtocols
	})
}
