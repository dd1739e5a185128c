package httpguard

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// serve runs h on a real loopback listener behind Listener(perAddr) and
// BodyTimeout(timeout), the way the cloud's app does.
func serve(t *testing.T, h http.Handler, timeout time.Duration, perAddr int, exempt ...netip.Prefix) (addr string, refused *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused = new(atomic.Int32)
	srv := &http.Server{Handler: BodyTimeout(h, timeout), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(Listener(ln, perAddr, exempt, func(string) { refused.Add(1) }))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), refused
}

// closedByServer reports whether the server closed c without answering.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// get sends a GET on c and returns the status.
func get(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// readBody answers how much of the body it read and how reading ended.
func readBody(got chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		got <- err
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
}

// A body fed one byte at a time is cut at its timeout: the handler's read
// fails with ErrBodyTimeout and the connection is closed long before the
// body would be complete.
func TestSlowBodyIsCut(t *testing.T) {
	got := make(chan error, 1)
	addr, _ := serve(t, readBody(got), time.Second, 0)
	c := tstest.DialFrom(t, "127.0.0.1", addr)
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	start := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		// The trickle: one byte every 250 ms would need 25 s.
		for i := 0; i < 100; i++ {
			if _, err := c.Write([]byte("x")); err != nil {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}()
	go func() {
		io.Copy(io.Discard, c) // until the server closes
		cut <- time.Since(start)
	}()
	select {
	case err := <-got:
		if !errors.Is(err, ErrBodyTimeout) {
			t.Fatalf("reading the trickle ended with %v, want ErrBodyTimeout", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a body trickling one byte per 250 ms was still being read after 15 s (timeout 1 s)")
	}
	select {
	case d := <-cut:
		t.Logf("connection closed %s after the headers", d.Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the server kept the connection of a timed-out body open")
	}
}

// A body that keeps coming at a useful rate may take longer than the
// timeout: each MinBodyRate bytes give it a second more.
func TestSteadyBodyLongerThanTimeoutPasses(t *testing.T) {
	got := make(chan error, 1)
	addr, _ := serve(t, readBody(got), time.Second, 0)
	const chunk, chunks = 64 << 10, 6 // 384 KiB over about 3 s: 128 KiB/s
	pr, pw := io.Pipe()
	go func() {
		for range chunks {
			time.Sleep(500 * time.Millisecond)
			pw.Write(bytes.Repeat([]byte("y"), chunk))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", pr)
	req.ContentLength = chunk * chunks
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if err := <-got; err != nil || res.StatusCode != 200 || string(b) != fmt.Sprint(chunk*chunks) {
		t.Fatalf("steady body: %d %q, read error %v", res.StatusCode, b, err)
	}
}

// What follows a request, once its body is read (or when it has none),
// is not timed: a streamed answer goes on well past the body timeout.
func TestStreamsOutliveTheBodyTimeout(t *testing.T) {
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for i := range 5 {
			select {
			case <-r.Context().Done():
				return // the server gave up on the connection
			case <-time.After(300 * time.Millisecond):
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	addr, _ := serve(t, stream, 500*time.Millisecond, 4)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{"a":1}`)
		}
		req, _ := http.NewRequest(method, "http://"+addr+"/", body)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || strings.Count(string(b), "data: ") != 5 {
			t.Fatalf("%s stream of 1.5 s with a 0.5 s body timeout: %q %v", method, b, err)
		}
	}
}

// One address holds at most perAddr connections; one more is closed at
// once while another address is served; a connection given back makes
// room; an exempt address (a trusted proxy) is not counted.
func TestConnectionsPerAddress(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	addr, refused := serve(t, ok, time.Second, 2, netip.MustParsePrefix("127.0.0.3/32"))
	a1, a2 := tstest.DialFrom(t, "127.0.0.1", addr), tstest.DialFrom(t, "127.0.0.1", addr)
	if get(t, a1) != 200 || get(t, a2) != 200 {
		t.Fatal("the first two connections were not served")
	}
	if a3 := tstest.DialFrom(t, "127.0.0.1", addr); !closedByServer(a3) {
		t.Fatal("a third connection from one address was not closed (max 2)")
	}
	if refused.Load() != 1 {
		t.Fatalf("refused = %d, want 1", refused.Load())
	}
	if b := tstest.DialFrom(t, "127.0.0.2", addr); get(t, b) != 200 {
		t.Fatal("another address was not served while the first was at its cap")
	}
	for range 4 {
		if p := tstest.DialFrom(t, "127.0.0.3", addr); get(t, p) != 200 {
			t.Fatal("an exempt address was limited")
		}
	}
	a1.Close()
	var again net.Conn
	for i := 0; ; i++ { // the server notices the close when it reads
		again = tstest.DialFrom(t, "127.0.0.1", addr)
		if !closedByServerQuick(again) {
			break
		}
		if i > 50 {
			t.Fatal("a closed connection never gave its slot back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if get(t, again) != 200 {
		t.Fatal("the connection after one was given back was not served")
	}
}

// closedByServerQuick: closed within 100 ms (refused at accept).
func closedByServerQuick(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	c.SetReadDeadline(time.Time{})
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}
