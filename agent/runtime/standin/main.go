// Command standin mimics the shape of the OpenClaw CLI that clawfleet's
// runtimes use, for fast tests: `standin gateway --port P [other flags]`.
//
// It reads the JSON config named by OPENCLAW_CONFIG_PATH (gateway.port,
// gateway.bind, gateway.auth.token, logging.file), writes a file into
// OPENCLAW_STATE_DIR (so an unwritable state dir fails like the real
// gateway), and serves:
//
//	/healthz  200
//	/readyz   200 once STANDIN_READY_DELAY (a Go duration, default 0) has passed, 503 before
//	/         an HTML page with "clawfleet stand-in gateway", the state dir and tenant
//
// Every request is appended as a line to logging.file. SIGTERM or SIGINT
// ends it (exit 0). Build it static: CGO_ENABLED=0 go build.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

type config struct {
	Gateway struct {
		Port int    `json:"port"`
		Bind string `json:"bind"`
		Auth struct {
			Mode  string `json:"mode"`
			Token string `json:"token"`
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
	if cfg.Gateway.Bind == "lan" {
		host = "0.0.0.0"
	}
	stateDir := os.Getenv("OPENCLAW_STATE_DIR")
	if stateDir != "" {
		if err := os.WriteFile(filepath.Join(stateDir, "standin-started"), []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
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
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logf("request %s %s from %s", r.Method, r.URL.RequestURI(), r.RemoteAddr)
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
