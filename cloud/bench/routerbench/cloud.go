package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/app"
	"github.com/clawfleet/clawfleet/cloud/bench/benchutil"
	"github.com/clawfleet/clawfleet/cloud/config"
)

// startCloud runs the cloud in this process (the same cloud/app code as
// bin/clawfleet-cloud, configured from c.Environ()), so that a plain reverse
// proxy here can dial the gateway through the very hub and tunnel the
// router uses. stop shuts it down and waits for it.
func startCloud(ctx context.Context, c *benchutil.Cloud) (a *app.App, stop func(), err error) {
	env := map[string]string{}
	for _, kv := range c.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v // the last one wins, as with exec
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(nil, getenv)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a, err = app.NewEnv(ctx, cfg, getenv, app.NewLogger(cfg, c.Log), c.Log)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("cloud: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, nil) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(c.Log, "cloud:", err)
		}
	}
	if err := c.WaitHealthy(ctx); err != nil {
		stop()
		return nil, nil, err
	}
	return a, stop, nil
}

// plainProxy serves a plain httputil.ReverseProxy to target on a free
// loopback port: no authentication, no header rules, the client's headers
// passed on (X-Forwarded-For gets the client appended). Its Transport keeps
// up to 64 idle connections, as the router's does, so that it measures
// proxying rather than connection set-ups; dial, when set, is how it reaches
// target (the hub's tunnel dial, or a namespace's).
func plainProxy(target string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (addr string, stop func(), err error) {
	p := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	p.Transport = &http.Transport{DialContext: dial, MaxIdleConns: 1024, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(benchutil.FreePort()))
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// tunnelDial reaches port on hostID through the cloud's hub, as the router
// does (app.Tunnels().Dial is the router's Options.Dial).
func tunnelDial(a *app.App, hostID string, port int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		return a.Tunnels().Dial(ctx, hostID, port)
	}
}
