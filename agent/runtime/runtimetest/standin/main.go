// Command standin mimics the shape of the OpenClaw CLI that clawfleet's
// runtimes use, for fast tests: `standin gateway --port P [other flags]`.
//
// It reads the JSON config named by OPENCLAW_CONFIG_PATH (gateway.port,
// gateway.bind, gateway.customBindHost, gateway.trustedProxies,
// gateway.auth.mode, gateway.auth.trustedProxy, logging.file), writes a
// file into OPENCLAW_STATE_DIR (so an unwritable state dir fails like the
// real gateway), and serves:
//
//	/healthz           200
//	/readyz            200 once STANDIN_READY_DELAY (a Go duration, default 0) has passed, 503 before
//	/                  an HTML page with "clawfleet stand-in gateway", the state dir and tenant
//	/__standin/whoami  JSON {user, remoteAddr, xff, xfProto, xfHost, host, authorization} of the request
//	/__standin/blob    ?bytes=N: N zero bytes (at most 64 GiB), for download benchmarks
//	/__standin/ws      with Upgrade: websocket, 101 with a correct Sec-WebSocket-Accept,
//	                   then echoes raw bytes (no WebSocket framing) until the client closes
//
// With STANDIN_EXIT set to a number it prints "standin: exiting at once
// with code N (STANDIN_EXIT)" and exits with that code right after reading
// its config and touching the state dir: a gateway in a crash loop.
//
// In trusted-proxy mode it applies OpenClaw's rules closely enough for
// tests (openclaw 2026.9.6, docs/gateway/trusted-proxy-auth.md):
//
//   - a request carrying the user header from a source that is not a trusted
//     proxy (not in gateway.trustedProxies, or loopback without
//     trustedProxy.allowLoopback) is refused: 401 trusted_proxy_untrusted_source;
//   - a request from a trusted proxy whose X-Forwarded-For does not name a
//     non-loopback client is refused on everything but /healthz: 403
//     proxy_attribution_required (so /readyz answers 403 to a bare probe);
//   - the WebSocket (/__standin/ws) needs the user header from a trusted proxy,
//     and a user in allowUsers: 401 / 403 otherwise (the real gateway checks
//     the identity on its WebSocket; its static page is served to anyone).
//
// Every request is appended as a line to logging.file. SIGTERM or SIGINT
// ends it (exit 0). Build it static: CGO_ENABLED=0 go build.
//
// `standin fetch URL ['Name: value'...]` is a tiny HTTP client for tests
// (e.g. inside a container or another tenant's namespace): it prints the
// status code on the first line, then the body; exit 1 when no answer.
package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	Gateway struct {
		Port           int      `json:"port"`
		Bind           string   `json:"bind"`
		CustomBindHost string   `json:"customBindHost"`
		TrustedProxies []string `json:"trustedProxies"`
		Auth           struct {
			Mode         string `json:"mode"`
			Token        string `json:"token"`
			TrustedProxy struct {
				UserHeader    string   `json:"userHeader"`
				AllowUsers    []string `json:"allowUsers"`
				AllowLoopback bool     `json:"allowLoopback"`
			} `json:"trustedProxy"`
		} `json:"auth"`
	} `json:"gateway"`
	Logging struct {
		File string `json:"file"`
	} `json:"logging"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) >= 2 && args[0] == "fetch" {
		return fetch(args[1], args[2:])
	}
	if len(args) == 0 || args[0] != "gateway" {
		return errors.New("usage: standin gateway --port P")
	}
	var cfg config
	if path := os.Getenv("OPENCLAW_CONFIG_PATH"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	port := cfg.Gateway.Port
	for i := 1; i < len(args); i++ {
		if args[i] == "--port" && i+1 < len(args) {
			p, err := strconv.Atoi(args[i+1])
			if err != nil {
				return fmt.Errorf("--port: %w", err)
			}
			port = p
			i++
		}
	}
	if port == 0 {
		port = 18789
	}
	host := "127.0.0.1"
	switch cfg.Gateway.Bind {
	case "lan":
		host = "0.0.0.0"
	case "custom":
		host = cfg.Gateway.CustomBindHost
	}
	if cfg.Gateway.Auth.Mode == "trusted-proxy" && cfg.Gateway.Auth.Token != "" {
		return errors.New("gateway auth mode is trusted-proxy, but a shared token is also configured")
	}
	stateDir := os.Getenv("OPENCLAW_STATE_DIR")
	if stateDir != "" {
		if err := os.WriteFile(filepath.Join(stateDir, "standin-started"), []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	if v := os.Getenv("STANDIN_EXIT"); v != "" {
		code, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("STANDIN_EXIT: %w", err)
		}
		fmt.Fprintf(os.Stderr, "standin: exiting at once with code %d (STANDIN_EXIT)\n", code)
		os.Exit(code)
	}
	var delay time.Duration
	if d := os.Getenv("STANDIN_READY_DELAY"); d != "" {
		var err error
		if delay, err = time.ParseDuration(d); err != nil {
			return fmt.Errorf("STANDIN_READY_DELAY: %w", err)
		}
	}
	var logMu sync.Mutex
	var logFile *os.File
	if cfg.Logging.File != "" {
		f, err := os.OpenFile(cfg.Logging.File, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		defer f.Close()
		logFile = f
	}
	logf := func(format string, a ...any) {
		line := time.Now().UTC().Format(time.RFC3339Nano) + " " + fmt.Sprintf(format, a...) + "\n"
		if logFile != nil {
			logMu.Lock()
			logFile.WriteString(line)
			logMu.Unlock()
		}
	}
	start := time.Now()
	tenant := os.Getenv("CLAWFLEET_TENANT")
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < delay {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>clawfleet stand-in gateway</title><h1>clawfleet stand-in gateway</h1><p>state dir: <code>%s</code></p><p>tenant: <code>%s</code></p>\n",
			html.EscapeString(filepath.Base(stateDir)), html.EscapeString(tenant))
	})
	tp := newTrust(cfg)
	mux.HandleFunc("/__standin/whoami", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"user": r.Header.Get(tp.userHeader), "remoteAddr": r.RemoteAddr,
			"xff": r.Header.Get("X-Forwarded-For"), "xfProto": r.Header.Get("X-Forwarded-Proto"),
			"xfHost": r.Header.Get("X-Forwarded-Host"), "host": r.Host, "authorization": r.Header.Get("Authorization"),
		})
	})
	mux.HandleFunc("/__standin/blob", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
		if err != nil || n < 0 || n > 64<<30 {
			http.Error(w, "bytes=N (0 to 64 GiB) required", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 64<<10)
		for n > 0 {
			k, err := w.Write(buf[:min(n, int64(len(buf)))])
			if err != nil {
				return
			}
			n -= int64(k)
		}
	})
	mux.HandleFunc("/__standin/ws", func(w http.ResponseWriter, r *http.Request) {
		if code, why := tp.checkIdentity(r); code != 0 {
			http.Error(w, why, code)
			return
		}
		serveRawWS(w, r, logf)
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, why := tp.check(r)
		logf("request %s %s from %s user=%q xff=%q -> %d %s", r.Method, r.URL.RequestURI(), r.RemoteAddr, r.Header.Get(tp.userHeader), r.Header.Get("X-Forwarded-For"), code, why)
		if code != 0 && r.URL.Path != "/healthz" {
			http.Error(w, why, code)
			return
		}
		mux.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		logf("listen failed: %v", err)
		return err
	}
	logf("listening on %s (pid %d, tenant %q)", l.Addr(), os.Getpid(), tenant)
	fmt.Printf("standin gateway listening on %s\n", l.Addr())
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case s := <-sig:
		logf("received %s; exiting", s)
		fmt.Printf("standin gateway: %s\n", s)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		return nil
	case err := <-errc:
		return err
	}
}

// trust applies the trusted-proxy rules of the config.
type trust struct {
	on            bool // auth mode trusted-proxy
	proxies       []netip.Prefix
	allowLoopback bool
	userHeader    string
	allowUsers    []string
}

func newTrust(cfg config) *trust {
	a := cfg.Gateway.Auth
	t := &trust{on: a.Mode == "trusted-proxy", allowLoopback: a.TrustedProxy.AllowLoopback,
		userHeader: a.TrustedProxy.UserHeader, allowUsers: a.TrustedProxy.AllowUsers}
	if t.userHeader == "" {
		t.userHeader = "x-forwarded-user"
	}
	for _, p := range cfg.Gateway.TrustedProxies {
		if pf, err := netip.ParsePrefix(p); err == nil {
			t.proxies = append(t.proxies, pf.Masked())
		} else if ad, err := netip.ParseAddr(p); err == nil {
			t.proxies = append(t.proxies, netip.PrefixFrom(ad.Unmap(), ad.Unmap().BitLen()))
		}
	}
	return t
}

func sourceOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// fromProxy reports whether the request's source is a trusted proxy.
func (t *trust) fromProxy(r *http.Request) bool {
	src := sourceOf(r)
	if src.IsLoopback() && !t.allowLoopback {
		return false
	}
	return slices.ContainsFunc(t.proxies, func(p netip.Prefix) bool { return p.Contains(src) })
}

// clientAttributed reports whether X-Forwarded-For names a non-loopback
// client (its leftmost entry, as the router writes a single address).
func clientAttributed(r *http.Request) bool {
	xff := strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-For"), ",")[0])
	a, err := netip.ParseAddr(xff)
	return err == nil && !a.Unmap().IsLoopback() && !a.IsUnspecified()
}

// check returns the refusal (status, reason) for any route, or 0.
func (t *trust) check(r *http.Request) (int, string) {
	if !t.on {
		return 0, ""
	}
	proxy := t.fromProxy(r)
	if !proxy && r.Header.Get(t.userHeader) != "" {
		return http.StatusUnauthorized, "trusted_proxy_untrusted_source"
	}
	if proxy && !clientAttributed(r) {
		return http.StatusForbidden, "proxy_attribution_required"
	}
	return 0, ""
}

// checkIdentity is what the gateway's WebSocket checks on top of check.
func (t *trust) checkIdentity(r *http.Request) (int, string) {
	if !t.on {
		return 0, ""
	}
	if !t.fromProxy(r) {
		return http.StatusUnauthorized, "trusted_proxy_untrusted_source"
	}
	user := strings.TrimSpace(r.Header.Get(t.userHeader))
	if user == "" {
		return http.StatusUnauthorized, "trusted_proxy_user_missing"
	}
	if len(t.allowUsers) > 0 && !slices.Contains(t.allowUsers, user) {
		return http.StatusForbidden, "trusted_proxy_user_not_allowed"
	}
	return 0, ""
}

// serveRawWS answers a WebSocket upgrade with 101 and then echoes raw
// bytes: enough to test that an upgrade travels through a proxy.
func serveRawWS(w http.ResponseWriter, r *http.Request, logf func(string, ...any)) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
		http.Error(w, "upgrade to websocket required", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Time{})
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
	if err := rw.Flush(); err != nil {
		return
	}
	logf("websocket upgraded from %s", r.RemoteAddr)
	n, _ := io.Copy(c, readerOf(rw.Reader))
	logf("websocket closed after %d bytes", n)
}

// readerOf hides bufio.Reader's WriteTo so io.Copy echoes chunk by chunk.
func readerOf(r *bufio.Reader) io.Reader { return struct{ io.Reader }{r} }

func fetch(url string, headers []string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("header %q: want 'Name: value'", h)
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	fmt.Printf("%d\n%s", resp.StatusCode, body)
	return nil
}
