package api_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/cloud/sso/ssotest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// stream is one followed log held open over its own connection.
type stream struct {
	code   int
	header http.Header
	body   map[string]any
	lines  chan string
	cancel context.CancelFunc
}

// openStream starts GET /api/tenants/me/logs?follow=1 with hdr on a new
// connection (from src, a loopback address) and returns once the answer's
// headers are in.
func openStream(t *testing.T, c *servertest.Cloud, src string, hdr map[string]string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/api/tenants/me/logs?follow=1&tail=10", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{code: res.StatusCode, header: res.Header, lines: make(chan string, 100), cancel: cancel}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		s.body = servertest.Response{Code: res.StatusCode, Body: must(io.ReadAll(res.Body))}.JSON(t)
		return s
	}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				s.lines <- l
			}
		}
		close(s.lines)
	}()
	return s
}

func must(b []byte, _ error) []byte { return b }

// Followed logs are bounded per user and, for calls not relayed by the web
// app with the shared secret, per client address: one more is answered 429
// too_many_streams with Retry-After, while others are served; a stream
// given back makes room; and a stream lasts well past the body timeout.
func TestLogStreamLimits(t *testing.T) {
	t.Parallel()
	sso := ssotest.Start(t)
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags(append(sso.Flags(),
		"--max-streams-per-user", "3", "--max-streams-per-addr", "4", "--http-body-timeout", "1s")...))
	ag := c.AddHost("box-1")
	ag.SetLogs("line 1")
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		if r := c.User(http.MethodPost, "/api/tenants", u, map[string]any{"plan": "free"}); r.Code != http.StatusCreated {
			t.Fatalf("create for %s: %d %s", u, r.Code, r.Body)
		}
	}
	bearer := func(u string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + sso.Token(t, u, "", 5*time.Minute)}
	}
	refused := func(s *stream, what, msg string) {
		t.Helper()
		if s.code != http.StatusTooManyRequests || s.body["code"] != "too_many_streams" || s.header.Get("Retry-After") != "5" ||
			!strings.Contains(s.body["error"].(string), msg) {
			t.Fatalf("%s: %d %v Retry-After %q, want 429 too_many_streams (%q)", what, s.code, s.body, s.header.Get("Retry-After"), msg)
		}
	}
	served := func(s *stream, what string) {
		t.Helper()
		if s.code != http.StatusOK {
			t.Fatalf("%s: %d %v", what, s.code, s.body)
		}
	}

	// Per user: the web app relays u1 three times, a fourth is refused;
	// u2 from the same address is served.
	var u1 []*stream
	for i := range 3 {
		s := openStream(t, c, "127.0.0.1", servertest.UserHeaders("u1"))
		served(s, fmt.Sprintf("u1's stream %d", i+1))
		u1 = append(u1, s)
	}
	refused(openStream(t, c, "127.0.0.1", servertest.UserHeaders("u1")), "u1's fourth stream", "at most 3")
	refused(openStream(t, c, "127.0.0.9", bearer("u1")), "u1's fourth stream by token from elsewhere", "at most 3")
	served(openStream(t, c, "127.0.0.1", servertest.UserHeaders("u2")), "u2 beside u1's three (the web app's address)")

	// Per address: tokens from one address count together, 4 at most.
	for i := range 3 {
		served(openStream(t, c, "127.0.0.2", bearer("u3")), fmt.Sprintf("u3's stream %d", i+1))
	}
	served(openStream(t, c, "127.0.0.2", bearer("u4")), "u4's first stream")
	refused(openStream(t, c, "127.0.0.2", bearer("u4")), "a fifth stream from one address", "from this address (at most 4)")
	served(openStream(t, c, "127.0.0.3", bearer("u4")), "u4 from another address")

	// A stream given back is a slot again.
	u1[0].cancel()
	var again *stream
	for i := 0; ; i++ {
		if again = openStream(t, c, "127.0.0.1", servertest.UserHeaders("u1")); again.code == http.StatusOK {
			break
		}
		if i > 50 {
			t.Fatal("a closed stream never gave its slot back")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A stream outlives the 1 s body timeout: a line added after 2 s
	// still arrives.
	next := func(s *stream, want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-s.lines:
				if !ok {
					t.Fatalf("the stream ended before %q", want)
				}
				if l == want {
					return
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no %q on the stream within 5 s", want)
			}
		}
	}
	next(again, "line 1")
	time.Sleep(2 * time.Second)
	ag.AppendLogs("line 2")
	next(again, "line 2")
	next(u1[1], "line 2")
}

// Slow clients on the real cloud's listener: a body trickling in is cut at
// the body timeout; one address holds at most its connections while
// another is served.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags("--http-body-timeout", "1s", "--http-max-conns-per-addr", "3"))
	addr := strings.TrimPrefix(c.URL, "http://")
	dial := func(src string) net.Conn { t.Helper(); return tstest.DialFrom(t, src, addr) }

	// A create whose body comes one byte every 250 ms (it would need 15 s).
	body := `{"plan":"free","name":"slow one, very slow"}`
	conn := dial("127.0.0.4")
	hdr := servertest.UserHeaders("slow")
	fmt.Fprintf(conn, "POST /api/tenants HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Shared-Secret: %s\r\nX-User-ID: %s\r\n\r\n",
		addr, len(body), hdr["X-Shared-Secret"], hdr["X-User-ID"])
	start := time.Now()
	go func() {
		for i := range len(body) {
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a body trickling for 15 s was still being taken after 10 s (body timeout 1 s)")
	}
	t.Logf("slow body cut after %s", time.Since(start).Round(time.Millisecond))
	if r := c.User(http.MethodGet, "/api/tenants/me", "slow", nil); r.Code != http.StatusNotFound {
		t.Fatalf("the cut create made a tenant: %d %s", r.Code, r.Body)
	}

	// Three connections from 127.0.0.5 are held; a fourth is closed at
	// once, while 127.0.0.6 is served.
	get := func(conn net.Conn) int {
		t.Helper()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET /api/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := range 3 {
		if code := get(dial("127.0.0.5")); code != http.StatusOK {
			t.Fatalf("connection %d from 127.0.0.5: %d", i+1, code)
		}
	}
	if code := get(dial("127.0.0.5")); code != 0 {
		t.Fatalf("a fourth connection from one address was answered %d (max 3)", code)
	}
	if code := get(dial("127.0.0.6")); code != http.StatusOK {
		t.Fatalf("another address while the first is at its cap: %d", code)
	}
	if n := c.Metric(`clawfleet_http_connections_refused_total{listener="http"}`); n != 1 {
		t.Fatalf("refused connections counted %v, want 1", n)
	}
}
