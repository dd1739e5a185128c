package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's profiles on addr (CLAWFLEET_AGENT_PPROF_ADDR, for
// benchmarks and debugging; unauthenticated, so loopback only in practice)
// until ctx ends. Its own mux: nothing else of the agent is on it.
func servePprof(ctx context.Context, addr string, log *slog.Logger) {
	if host, _, err := net.SplitHostPort(addr); err != nil || !isLoopback(host) {
		log.Error("pprof not served: CLAWFLEET_AGENT_PPROF_ADDR must be a loopback address and port, e.g. 127.0.0.1:6061", "addr", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		log.Warn("pprof enabled", "addr", addr)
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Error("pprof listener failed", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
}

// isLoopback: host is localhost or a loopback IP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
