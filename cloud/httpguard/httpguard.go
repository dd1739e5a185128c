// Package httpguard keeps slow and greedy clients from holding the cloud's
// public HTTP listeners: a cap on the connections one address may hold
// open (Listener) and a deadline on request bodies (BodyTimeout), on top of
// http.Server's ReadHeaderTimeout for headers.
//
// Neither touches what happens after a request's body: a response streamed
// for minutes (server-sent log events) and a WebSocket hijacked by the
// router's reverse proxy keep their connection for as long as they last.
// That is why http.Server's ReadTimeout is not used: it covers the whole
// connection, so it would end those too.
package httpguard

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/ratelimit"
)

// Listener wraps ln so that one remote address holds at most perAddr
// connections at once: a connection beyond that is closed as soon as it is
// accepted (before TLS, before a byte is read) and counted by refused.
// Peers in exempt (front proxies whose clients are told apart by
// X-Forwarded-For) are not limited. perAddr <= 0 returns ln.
func Listener(ln net.Listener, perAddr int, exempt []netip.Prefix, refused func(ip string)) net.Listener {
	if perAddr <= 0 {
		return ln
	}
	return &listener{Listener: ln, slots: ratelimit.NewSlots(perAddr), exempt: exempt, refused: refused}
}

type listener struct {
	net.Listener
	slots   *ratelimit.Slots
	exempt  []netip.Prefix
	refused func(ip string)
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		if ratelimit.InPrefixes(ip, l.exempt) {
			return c, nil
		}
		release, ok := l.slots.Acquire(ip)
		if !ok {
			if l.refused != nil {
				l.refused(ip) // before the client can see the close
			}
			c.Close()
			continue
		}
		return &conn{Conn: c, release: release}, nil
	}
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// conn gives its slot back when closed (by the server, or by whoever
// hijacked it).
type conn struct {
	net.Conn
	release func() // idempotent
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// MinBodyRate is the slowest a long request body may arrive: each MinBodyRate
// bytes received give the body one more second beyond its timeout, so a
// large upload at 128 kbit/s or faster is never cut, and a trickle is.
const MinBodyRate = 16 << 10

// ErrBodyTimeout is what reading a body past its deadline returns.
var ErrBodyTimeout = errors.New("request body too slow: it did not arrive in time")

// BodyTimeout wraps h so that a request's body must arrive within timeout
// of the handler's start, plus a second per MinBodyRate bytes received;
// past that, reading it fails and the connection is closed. Requests
// without a body (GET, WebSocket upgrades, event streams) are left alone,
// and a body read to its end lifts the deadline, so what follows it (a
// streamed answer) is not limited. timeout <= 0 returns h.
func BodyTimeout(h http.Handler, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		start := time.Now()
		deadline := start.Add(timeout)
		if err := rc.SetReadDeadline(deadline); err != nil {
			h.ServeHTTP(w, r) // not a connection we can time (HTTP/2 in a test)
			return
		}
		r.Body = &body{ReadCloser: r.Body, rc: rc, base: deadline, deadline: deadline}
		h.ServeHTTP(w, r)
	})
}

type body struct {
	io.ReadCloser
	rc       *http.ResponseController
	mu       sync.Mutex
	base     time.Time // the deadline with nothing received
	deadline time.Time // as set; zero once lifted
	total    int64
	done     bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return n, err
	}
	b.total += int64(n)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			b.done = true
			return n, fmt.Errorf("%w (%d bytes in %s)", ErrBodyTimeout, b.total, time.Since(b.base).Round(time.Second))
		}
		// The end (or a broken connection): nothing more to time. The
		// server's own read that watches for the client leaving starts
		// now, and must not hit our deadline.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
		return n, err
	}
	if d := b.base.Add(time.Duration(b.total/MinBodyRate) * time.Second); d.After(b.deadline) {
		b.deadline = d
		_ = b.rc.SetReadDeadline(d)
	}
	return n, err
}
