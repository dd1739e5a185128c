package router

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestKnownLengthAnswerTrickles: an answer with a Content-Length whose
// gateway sends part of it and then waits still reaches the client in part,
// within flushInterval, not only once it is complete.
func TestKnownLengthAnswerTrickles(t *testing.T) {
	release := make(chan struct{})
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "-last")
	})}
	go srv.Serve(up)
	defer srv.Close()
	defer close(release)

	f := newFixture(t, Options{Dial: func(ctx context.Context, _ string, _ int) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", up.Addr().String())
	}})
	ck := f.login("ten_a", "alice", "u-alice")
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // far above flushInterval: a loaded machine passes
	io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: alice.example.test\r\nCookie: "+CookieName+"="+ck+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the gateway holds the rest back: %v", err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first part %q, %v", buf, err)
	}
	release <- struct{}{}
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !strings.EqualFold(string(rest), "-last") {
		t.Fatalf("rest %q, %v", rest, err)
	}
}
