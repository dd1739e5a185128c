// Package app wires the cloud together: store, embedded broker, fleet
// service and HTTP API, with their listeners, and runs them until the context
// ends. cmd/clawfleet-cloud and the in-process test server both use it.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/broker"
	"github.com/clawfleet/clawfleet/cloud/accounts"
	"github.com/clawfleet/clawfleet/cloud/api"
	"github.com/clawfleet/clawfleet/cloud/claim"
	"github.com/clawfleet/clawfleet/cloud/config"
	"github.com/clawfleet/clawfleet/cloud/downloads"
	"github.com/clawfleet/clawfleet/cloud/factory"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/httpguard"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/clawfleet/clawfleet/cloud/seal"
	"github.com/clawfleet/clawfleet/cloud/sso"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/teams"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/cloud/tunnel"
	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Version is set at build time with -ldflags.
var Version = "dev"

// App is a running cloud.
type App struct {
	cfg    *config.Config
	log    *slog.Logger
	store  *store.Store
	broker *broker.Broker
	fleet  *fleet.Fleet
	tenant *tenant.Service
	tun    *tunnel.Service // nil when tunnels are disabled
	router *router.Router
	tokens *sso.Verifier // nil unless CLAWFLEET_SSO_* configure a key source
	// accounts are the users, their sign-in and sessions.
	accounts *accounts.Service
	reg      *prometheus.Registry
	http     *http.Server
	httpLn   net.Listener
	out      io.Writer

	certs    *certReloader    // nil without a certificate
	internal *router.Internal // nil when the nginx path is disabled
	extra    []*extraServer   // HTTPS, internal upstream

	connsRefused *prometheus.CounterVec // by listener

	// AdminToken is set only when this start generated the token;
	// SharedSecret likewise.
	AdminToken, SharedSecret string
}

// New opens the store, builds every component and binds the HTTP listener.
// out receives the one-time admin token notice. The sign-in providers and
// mail are read from the process's environment (NewEnv).
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) (*App, error) {
	return NewEnv(ctx, cfg, os.Getenv, log, out)
}

// NewEnv is New with the sign-in providers (cloud/login.LoadConfig) and
// mail (cloud/mail.ConfigFromEnv) read through getenv.
func NewEnv(ctx context.Context, cfg *config.Config, getenv func(string) string, log *slog.Logger, out io.Writer) (*App, error) {
	a := &App{cfg: cfg, log: log, out: out}
	st, err := store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	a.store = st
	adminHash, err := a.adminTokenHash()
	if err != nil {
		st.Close()
		return nil, err
	}

	reg := prometheus.NewRegistry()
	a.reg = reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The fleet authenticates devices for the broker, and the broker is the
	// fleet's bus; break the cycle with a small forwarder.
	auth := &authForwarder{}
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		a.certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey, log)
		if err != nil {
			st.Close()
			return nil, err
		}
		tlsCfg = a.certs.tlsConfig()
	}
	b, err := broker.New(broker.Options{
		TCPAddr: cfg.MQTTAddr, TLSAddr: cfg.MQTTTLSAddr, TLSConfig: tlsCfg,
		MaxPacketSize: cfg.MQTTMaxPacket, IPConnectRate: cfg.MQTTIPRate, IPConnectBurst: cfg.MQTTIPBurst,
		ClientConnectRate: cfg.MQTTClientRate,
		Logger:            log.With("component", "broker"), Registerer: reg,
	}, auth)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	a.broker = b
	f, err := fleet.New(st, b, fleet.Options{
		HeartbeatInterval: cfg.HeartbeatInterval, MissedHeartbeats: cfg.MissedHeartbeats, FlushInterval: cfg.FlushInterval, PersistEvery: cfg.PersistEvery,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	auth.f = f
	a.fleet = f
	if err := f.Load(ctx); err != nil {
		st.Close()
		return nil, err
	}
	plans, err := tenant.LoadPlans(cfg.PlansFile)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%w (CLAWFLEET_PLANS_FILE)", err)
	}
	key, err := tenant.LoadSecretKey(cfg.SecretKey, cfg.DataDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	ts, err := tenant.New(st, f, b, tenant.Options{
		Plans: plans, Strategy: cfg.Scheduler, CPUOvercommit: cfg.CPUOvercommit,
		PortBase: cfg.TenantPortBase, PortMax: cfg.TenantPortMax, CommandTimeout: cfg.CommandTimeout,
		SecretKey: key, TenantURL: a.tenantURL, Logger: log, Registerer: reg, ReservedSlugs: a.reservedSlugs(),
		OnDeleted: func(id, slug string) {
			if a.router != nil {
				a.router.ForgetTenant(id, slug)
			}
		},
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("tenant service: %w", err)
	}
	a.tenant = ts
	fac, err := factory.New(st, f, key, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	if cfg.WGAddr != "" {
		a.tun, err = a.newTunnels(ctx, st, f, b)
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clawfleet_agents_connected", Help: "Agents connected to the embedded broker."},
		func() float64 { return float64(b.Connected()) }))

	if err := a.newTokens(ctx); err != nil {
		st.Close()
		return nil, err
	}
	secretHash, err := a.sharedSecretHash()
	if err != nil {
		st.Close()
		return nil, err
	}
	a.router, err = a.newRouter()
	if err != nil {
		st.Close()
		return nil, err
	}
	var tunnels claim.Tunnels
	if a.tun != nil {
		tunnels = a.tun
	}
	if _, ok := plans[cfg.BoxPlan]; !ok {
		st.Close()
		return nil, fmt.Errorf("box plan %q is not a plan: choose one of %s (CLAWFLEET_BOX_PLAN)", cfg.BoxPlan, strings.Join(plans.Names(), ", "))
	}
	sealer, err := seal.New(key)
	if err != nil {
		st.Close()
		return nil, err
	}
	claims := claim.New(claim.Options{Store: st, Fleet: f, Bus: b, Factory: fac, Tenants: ts, Tunnels: tunnels, Sealer: sealer,
		Plan: cfg.BoxPlan, CommandTimeout: cfg.CommandTimeout, Logger: log})
	f.Subscribe(a.dropOffline)
	acc, signIn, err := a.newAccounts(st, key, getenv)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.accounts = acc
	handler := api.New(api.Options{
		Accounts: acc, SignIn: signIn, PublicURL: cfg.PublicURL, SecretKey: key, Audit: st.AddAudit,
		Fleet: f, AdminTokenHash: adminHash, MQTTURL: a.mqttURL, CloudURL: a.cloudURL,
		MaxStreamsPerUser: cfg.MaxStreamsPerUser, MaxStreamsPerAddr: cfg.MaxStreamsPerAddr,
		Tenants: ts, Teams: teams.New(st, log), HostLoads: ts, HostKeys: tunnel.NewKeys(f, st, log), Factory: fac, Claims: claims, Downloads: downloads.New(cfg.DownloadsDir), SharedSecretHash: secretHash, Tokens: a.apiTokens(), Clients: a.clients(), TunnelDial: a.tunnelDial(), Access: a.router,
		Store:  api.HealthFunc(st.Ping),
		Broker: api.HealthFunc(func(context.Context) error { return boolErr(b.Healthy(), "broker is not serving") }),
		Logger: log, Registerer: reg, Gatherer: reg, Version: Version,
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s (CLAWFLEET_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	if a.httpLn, err = a.guardListener(ln, "http"); err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	all := httpguard.BodyTimeout(a.withInternal(withRouter(a.router, handler)), cfg.HTTPBodyTimeout)
	if err := a.listenExtra(all); err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	a.http = &http.Server{Handler: all, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	return a, nil
}

func boolErr(ok bool, msg string) error {
	if ok {
		return nil
	}
	return errors.New(msg)
}

type authForwarder struct{ f *fleet.Fleet }

func (a *authForwarder) Authenticate(ctx context.Context, id, secret string) bool {
	return a.f.Authenticate(ctx, id, secret)
}

// adminTokenHash returns the hash of the configured admin token, or of the
// one stored in the data dir, generating and printing one on first start.
func (a *App) adminTokenHash() (string, error) {
	if a.cfg.AdminToken != "" {
		if len(a.cfg.AdminToken) < 16 {
			return "", errors.New("admin token is shorter than 16 characters: choose a longer CLAWFLEET_ADMIN_TOKEN")
		}
		return creds.Hash(a.cfg.AdminToken), nil
	}
	dir := a.cfg.DataDir
	if dir == "" {
		return "", errors.New("no admin token: set CLAWFLEET_ADMIN_TOKEN (no data dir to keep a generated one)")
	}
	h, tok, err := keptSecret(dir, adminTokenSecret)
	if tok != "" {
		a.AdminToken = tok
		fmt.Fprintf(a.out, "\n  Admin token (shown once; only its hash is kept in %s):\n\n      %s\n\n", filepath.Join(dir, adminTokenSecret.file), tok)
	}
	return h, err
}

// sharedSecretHash returns the hash of the web app's shared secret
// (X-Shared-Secret): of CLAWFLEET_SHARED_SECRET when set; none when it is
// "off", or when it is unset on a cloud that trusts an SSO (its tokens are
// the way in); else the one kept in the data dir, generated and printed
// once at the first start, like the admin token, so that a first run can
// call the user API without a restart.
func (a *App) sharedSecretHash() (string, error) {
	switch {
	case a.cfg.SharedSecret == config.SharedSecretOff:
		return "", nil
	case a.cfg.SharedSecret != "":
		return creds.Hash(a.cfg.SharedSecret), nil
	case a.tokens != nil || a.cfg.DataDir == "":
		return "", nil
	}
	h, tok, err := keptSecret(a.cfg.DataDir, sharedSecret)
	if tok != "" {
		a.SharedSecret = tok
		fmt.Fprintf(a.out, "\n  Shared secret for the web app, sent as X-Shared-Secret (shown once; only its hash is kept in %s):\n\n      %s\n\n",
			filepath.Join(a.cfg.DataDir, sharedSecret.file), tok)
	}
	return h, err
}

// A secret the cloud generates and keeps only the hash of.
type secretKind struct{ file, prefix, what, env, reset string }

var (
	adminTokenSecret = secretKind{"admin-token.sha256", "cfa_", "admin token", "CLAWFLEET_ADMIN_TOKEN", "reset-admin-token"}
	sharedSecret     = secretKind{"shared-secret.sha256", "cfw_", "shared secret", "CLAWFLEET_SHARED_SECRET", "reset-shared-secret"}
)

// keptSecret returns the hash of k kept in dir; when there is none yet it
// generates the secret, keeps its hash and returns the secret too.
func keptSecret(dir string, k secretKind) (hash, secret string, err error) {
	path := filepath.Join(dir, k.file)
	if b, err := os.ReadFile(path); err == nil {
		h := strings.TrimSpace(string(b))
		if len(h) != 64 {
			return "", "", fmt.Errorf("%s is damaged: run clawfleet-cloud %s (or delete it and restart) to get a new %s", path, k.reset, k.what)
		}
		return h, "", nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("read %s hash: %w", k.what, err)
	}
	tok, err := resetSecret(dir, k)
	if err != nil {
		return "", "", err
	}
	return creds.Hash(tok), tok, nil
}

func resetSecret(dir string, k secretKind) (string, error) {
	tok := creds.NewToken(k.prefix)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, k.file), []byte(creds.Hash(tok)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store %s hash: %w", k.what, err)
	}
	return tok, nil
}

// ResetAdminToken generates a new admin token, stores its hash in dataDir and
// returns the token.
func ResetAdminToken(dataDir string) (string, error) { return resetSecret(dataDir, adminTokenSecret) }

// ResetSharedSecret generates a new shared secret for the web app, stores
// its hash in dataDir and returns it (used when CLAWFLEET_SHARED_SECRET is
// unset and no SSO is trusted).
func ResetSharedSecret(dataDir string) (string, error) { return resetSecret(dataDir, sharedSecret) }

func (a *App) mqttURL(requestHost string) string {
	if a.cfg.MQTTURL != "" {
		return a.cfg.MQTTURL
	}
	host := requestHost
	if h, _, err := net.SplitHostPort(requestHost); err == nil {
		host = h
	}
	if host == "" {
		host = "localhost"
	}
	scheme, addr := "tcp", a.cfg.MQTTAddr
	if a.cfg.TLSCert != "" {
		scheme, addr = "ssl", a.cfg.MQTTTLSAddr
	}
	port := "1883"
	if ba := a.brokerAddr(scheme == "ssl"); ba != nil {
		_, port, _ = net.SplitHostPort(ba.String())
	} else if _, p, err := net.SplitHostPort(addr); err == nil {
		port = p
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func (a *App) brokerAddr(tls bool) net.Addr {
	if tls {
		return a.broker.TLSAddr()
	}
	return a.broker.Addr()
}

func (a *App) cloudURL(r *http.Request) string {
	if a.cfg.PublicURL != "" {
		return strings.TrimRight(a.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// tenantURL is a tenant's public address, http(s)://<slug>.<domain>[:port]/:
// https when the public URL (CLAWFLEET_PUBLIC_URL) is https; the port is the
// public URL's explicit port, or, with no public URL and a localhost domain
// (localhost or *.localhost, which browsers resolve to loopback), the bound
// HTTP port; never :80 for http or :443 for https. Without a public URL but
// with a certificate (the HTTPS listener), https and the HTTPS port. Without
// either, on a real domain, a front proxy on port 80 is assumed.
func (a *App) tenantURL(slug string) string {
	scheme, port := "http", ""
	domain := a.cfg.Domain
	if u, err := url.Parse(a.cfg.PublicURL); err == nil && a.cfg.PublicURL != "" && u.Host != "" {
		if u.Scheme == "https" {
			scheme = "https"
		}
		port = u.Port()
	} else if a.certs != nil && a.cfg.HTTPSAddr != "" {
		scheme = "https"
		if ha := a.HTTPSAddr(); ha != nil {
			_, port, _ = net.SplitHostPort(ha.String())
		} else if _, p, err := net.SplitHostPort(a.cfg.HTTPSAddr); err == nil {
			port = p
		}
	} else if domain == "localhost" || strings.HasSuffix(domain, ".localhost") {
		if a.httpLn != nil {
			_, port, _ = net.SplitHostPort(a.httpLn.Addr().String())
		} else if _, p, err := net.SplitHostPort(a.cfg.HTTPAddr); err == nil {
			port = p
		}
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	host := slug + "." + domain
	if port != "" {
		host = net.JoinHostPort(host, port)
	}
	return scheme + "://" + host + "/"
}

// tunnelDial is the API's way to reach a host port through its tunnel (nil
// when tunnels are disabled).
func (a *App) tunnelDial() func(ctx context.Context, hostID string, port int) (net.Conn, error) {
	if a.tun == nil {
		return nil
	}
	return a.tun.Dial
}

// Tunnels exposes the tunnel service (tests); nil when tunnels are disabled.
func (a *App) Tunnels() *tunnel.Service { return a.tun }

// Tenants exposes the tenant service (tests).
func (a *App) Tenants() *tenant.Service { return a.tenant }

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() net.Addr { return a.httpLn.Addr() }

// MQTTAddr is the bound plain MQTT address (after Run has started the broker).
func (a *App) MQTTAddr() net.Addr { return a.broker.Addr() }

// Fleet exposes the fleet service (tests).
func (a *App) Fleet() *fleet.Fleet { return a.fleet }

// Run serves until ctx ends, then shuts down in order: HTTP, fleet (which
// flushes buffered heartbeats), broker, store. ready, if not nil, is called
// once everything listens.
func (a *App) Run(ctx context.Context, ready func()) error {
	defer a.store.Close()
	if err := a.fleet.Listen(); err != nil {
		a.httpLn.Close()
		a.closeExtra()
		return err
	}
	if err := a.broker.Start(); err != nil {
		a.httpLn.Close()
		a.closeExtra()
		return fmt.Errorf("start broker (CLAWFLEET_MQTT_ADDR %s): %w", a.cfg.MQTTAddr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	fleetCtx, stopFleet := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.fleet.Run(fleetCtx); err != nil {
			errc <- err
			cancel()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.tenant.Run(fleetCtx); err != nil {
			errc <- err
			cancel()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.sweepAccess(fleetCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		collectEvery(fleetCtx, a.cfg.GCInterval)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.http.Serve(a.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			cancel()
		}
	}()
	shutdownExtra := a.serveExtra(ctx, &wg, errc, cancel)
	a.log.Info("cloud started", "http", a.HTTPAddr().String(), "mqtt", addrString(a.broker.Addr()), "mqttTLS", addrString(a.broker.TLSAddr()),
		"store", a.store.Driver(), "domain", a.cfg.Domain, "version", Version)
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = a.http.Shutdown(shutdownCtx)
	shutdownExtra(shutdownCtx)
	stopFleet()
	wg.Wait()
	_ = a.broker.Close()
	if a.tun != nil {
		_ = a.tun.Close()
	}
	a.log.Info("cloud stopped")
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
