package link_test

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// waitingListener is the test broker's TCP listener. mochi's own TCP
// listener does not wait for the connections it is establishing when it
// closes, so a connection accepted while the server closes calls
// ClientsWg.Add during Close's ClientsWg.Wait (a data race under -race).
// This one stops accepting, closes what it accepted and waits for those
// goroutines first, as the cloud's broker listener does.
type waitingListener struct {
	id string
	ln net.Listener

	mu    sync.Mutex
	ended bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newWaitingListener(id, addr string, cfg *tls.Config) (*waitingListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return &waitingListener{id: id, ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

func (l *waitingListener) ID() string              { return l.id }
func (l *waitingListener) Address() string         { return l.ln.Addr().String() }
func (l *waitingListener) Protocol() string        { return "tcp" }
func (l *waitingListener) Init(*slog.Logger) error { return nil }

func (l *waitingListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.ended {
			l.mu.Unlock()
			conn.Close()
			return
		}
		l.conns[conn] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer func() {
				l.mu.Lock()
				delete(l.conns, conn)
				l.mu.Unlock()
				l.wg.Done()
			}()
			_ = establish(l.id, conn)
		}()
	}
}

func (l *waitingListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended = true
	l.mu.Unlock()
	l.ln.Close()
	closeClients(l.id)
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
