package broker

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// netListener adapts a net.Listener that the broker opened itself (so that
// ":0" works and Addr reports the real port) to mochi's listeners.Listener.
// Compared with mochi's own TCP/Net listeners it also:
//   - applies the per-source-IP connection rate limit at accept time, before
//     any goroutine, TLS handshake or packet decoding is spent on the
//     connection;
//   - gives every connection a deadline for the TLS handshake and the CONNECT
//     packet (mochi sets none until CONNECT is read, so an idle socket would
//     be held forever); mochi replaces it with the keepalive deadline;
//   - keeps accepting after a transient Accept error (e.g. EMFILE) instead of
//     returning, which would stop the listener for good.
type netListener struct {
	id    string
	proto string
	ln    net.Listener
	b     *Broker

	end     atomic.Bool
	lastErr atomic.Int64 // unix nanoseconds of the last Accept error, 0 = none
	once    sync.Once

	mu    sync.Mutex
	conns map[net.Conn]struct{} // connections whose mochi goroutine is running
	wg    sync.WaitGroup
}

var _ listeners.Listener = (*netListener)(nil)

func (l *netListener) ID() string              { return l.id }
func (l *netListener) Address() string         { return l.ln.Addr().String() }
func (l *netListener) Protocol() string        { return l.proto }
func (l *netListener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until Close and hands each one to mochi.
func (l *netListener) Serve(listeners.EstablishFn) {
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.end.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			l.lastErr.Store(time.Now().UnixNano())
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff *= 2; backoff > time.Second {
				backoff = time.Second
			}
			l.b.logSometimes(slog.LevelError, "mqtt listener accept failed; retrying", "listener", l.id, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if l.end.Load() {
			_ = conn.Close()
			return
		}
		if !l.b.allowIP(conn.RemoteAddr()) {
			_ = conn.Close()
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(l.b.connectTimeout))
		if !l.track(conn) {
			_ = conn.Close()
			return
		}
		// mochi ends every connection other than by a DISCONNECT packet
		// (EOF, refused CONNECT, garbage...) with an error; the interesting
		// cases are logged and counted by the hook. AttachConnection (our
		// fork) rather than establish: the goroutine that then reads the
		// connection for its whole life has a 4 KiB stack instead of 8.
		go l.b.srv.AttachConnection(l.id, conn, func(error) { l.untrack(conn) })
	}
}

func (l *netListener) track(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.end.Load() {
		return false
	}
	if l.conns == nil {
		l.conns = make(map[net.Conn]struct{})
	}
	l.conns[conn] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *netListener) untrack(conn net.Conn) {
	l.mu.Lock()
	delete(l.conns, conn)
	l.mu.Unlock()
	l.wg.Done()
}

// Close stops accepting, disconnects this listener's clients (mochi sends
// MQTT 5 clients a DISCONNECT), closes the connections that have no session
// yet (TLS handshake, CONNECT, authentication in progress) and waits for
// every connection goroutine to end.
func (l *netListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		l.mu.Lock()
		l.end.Store(true)
		l.mu.Unlock()
		_ = l.ln.Close()
		closeClients(l.id)
		l.mu.Lock()
		for c := range l.conns {
			_ = c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
}

// failing reports whether Accept failed within the last few seconds.
func (l *netListener) failing(now time.Time) bool {
	t := l.lastErr.Load()
	return t != 0 && now.Sub(time.Unix(0, t)) < 5*time.Second
}
