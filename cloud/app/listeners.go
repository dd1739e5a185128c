package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/cloud/httpguard"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/prometheus/client_golang/prometheus"
)

// certCheckInterval is how often the certificate files' modification times
// are looked at (on a handshake, not in the background).
var certCheckInterval = 30 * time.Second

// certReloader serves the certificate in CLAWFLEET_TLS_CERT/KEY and loads
// it again when the files change (certbot renewals), or on Reload (SIGHUP).
// A broken new pair is logged and the previous one kept.
type certReloader struct {
	certFile, keyFile string
	every             time.Duration // certCheckInterval when made
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // modification times and sizes of the loaded pair
	checked time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, every: certCheckInterval, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) fileStamp() string {
	s := ""
	for _, f := range []string{c.certFile, c.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s
}

// load reads the pair; the caller holds mu (or is the constructor).
func (c *certReloader) load() error {
	stamp := c.fileStamp()
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s / key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.stamp, c.checked = &cert, stamp, time.Now()
	return nil
}

// Reload loads the files again now.
func (c *certReloader) Reload() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(); err != nil {
		c.log.Error("TLS certificate not reloaded; keeping the previous one", "err", err)
		return
	}
	c.log.Info("TLS certificate reloaded", "cert", c.certFile, "notAfter", c.cert.Leaf.NotAfter)
}

// GetCertificate is tls.Config's hook.
func (c *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= c.every {
		c.checked = time.Now()
		if s := c.fileStamp(); s != c.stamp {
			if err := c.load(); err != nil {
				c.log.Error("TLS certificate changed but does not load; keeping the previous one", "err", err)
				c.stamp = s // do not retry on every handshake; the next change is tried again
			} else {
				c.log.Info("TLS certificate reloaded", "cert", c.certFile, "notAfter", c.cert.Leaf.NotAfter)
			}
		}
	}
	return c.cert, nil
}

// tlsConfig is the TLS configuration of the HTTPS and MQTT listeners.
func (c *certReloader) tlsConfig(alpn ...string) *tls.Config {
	return &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12, NextProtos: alpn}
}

// extraServer is a listener beside the main HTTP one.
type extraServer struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

// listenExtra binds the HTTPS listener (when a certificate is set) serving
// handler, and the internal upstream of the nginx path (when configured).
func (a *App) listenExtra(handler http.Handler) error {
	if a.certs != nil && a.cfg.HTTPSAddr != "" {
		ln, err := net.Listen("tcp", a.cfg.HTTPSAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (CLAWFLEET_HTTPS_ADDR): %w", a.cfg.HTTPSAddr, err)
		}
		// HTTP/1.1 only: WebSocket upgrades to the gateways need it.
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
		guarded, err := a.guardListener(ln, "https")
		if err != nil {
			ln.Close()
			return err
		}
		a.extra = append(a.extra, &extraServer{name: "https", srv: srv, ln: tls.NewListener(guarded, a.certs.tlsConfig("http/1.1"))})
	}
	if a.cfg.InternalUpstreamAddr != "" {
		allow, err := a.cfg.InternalAllowPrefixes()
		if err != nil {
			a.closeExtra()
			return err
		}
		ln, err := net.Listen("tcp", a.cfg.InternalUpstreamAddr)
		if err != nil {
			a.closeExtra()
			return fmt.Errorf("listen on %s (CLAWFLEET_INTERNAL_UPSTREAM_ADDR): %w", a.cfg.InternalUpstreamAddr, err)
		}
		a.internal, err = router.NewInternal(a.router, router.InternalOptions{UpstreamAddr: ln.Addr().String(), Allow: allow})
		if err != nil {
			ln.Close()
			a.closeExtra()
			return err
		}
		// nginx is the only peer here (InternalAllow): no per-address
		// cap, but bodies are timed like everywhere.
		srv := &http.Server{Handler: httpguard.BodyTimeout(http.HandlerFunc(a.internal.ServeUpstream), a.cfg.HTTPBodyTimeout), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
		a.extra = append(a.extra, &extraServer{name: "internal upstream", srv: srv, ln: ln})
	}
	return nil
}

func (a *App) closeExtra() {
	for _, s := range a.extra {
		s.ln.Close()
	}
}

// withInternal answers the nginx path's auth_request endpoint on the API
// host (never on a tenant subdomain, whose paths are the gateway's).
func (a *App) withInternal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.internal != nil && r.URL.Path == router.RoutePath {
			if _, ok := a.router.Match(r.Host); !ok {
				a.internal.ServeRoute(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// serveExtra runs the extra listeners, and reloads the certificate on
// SIGHUP, until ctx ends; it returns a function that shuts them down.
func (a *App) serveExtra(ctx context.Context, wg *sync.WaitGroup, errc chan<- error, cancel func()) func(context.Context) {
	for _, s := range a.extra {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case errc <- fmt.Errorf("%s: %w", s.name, err):
				default:
				}
				cancel()
			}
		}()
		a.log.Info("listening", "listener", s.name, "addr", s.ln.Addr().String())
	}
	if a.certs != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer signal.Stop(hup)
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					a.certs.Reload()
				}
			}
		}()
	}
	return func(ctx context.Context) {
		for _, s := range a.extra {
			_ = s.srv.Shutdown(ctx)
		}
	}
}

// HTTPSAddr is the bound HTTPS address, or nil.
func (a *App) HTTPSAddr() net.Addr { return a.extraAddr("https") }

// InternalUpstreamAddr is the bound internal upstream address, or nil.
func (a *App) InternalUpstreamAddr() net.Addr { return a.extraAddr("internal upstream") }

func (a *App) extraAddr(name string) net.Addr {
	for _, s := range a.extra {
		if s.name == name {
			return s.ln.Addr()
		}
	}
	return nil
}

// guardListener caps the connections one client address holds on a public
// listener (CLAWFLEET_HTTP_MAX_CONNS_PER_ADDR); trusted front proxies are
// not capped, since all their clients arrive from them. Refusals are
// counted in clawfleet_http_connections_refused_total{listener}.
func (a *App) guardListener(ln net.Listener, name string) (net.Listener, error) {
	trusted, err := a.cfg.TrustedProxyPrefixes()
	if err != nil {
		return nil, err
	}
	if a.connsRefused == nil {
		a.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawfleet_http_connections_refused_total",
			Help: "Connections closed at once because their client address held the most allowed (CLAWFLEET_HTTP_MAX_CONNS_PER_ADDR)."}, []string{"listener"})
		a.reg.MustRegister(a.connsRefused)
	}
	refused := a.connsRefused.WithLabelValues(name)
	return httpguard.Listener(ln, a.cfg.HTTPMaxConnsPerAddr, trusted, func(ip string) {
		refused.Inc()
		a.log.Debug("connection refused: too many from this address", "listener", name, "ip", ip, "max", a.cfg.HTTPMaxConnsPerAddr)
	}), nil
}
