// Command clawfleet-cloud runs the clawfleet control plane: HTTP API and
// dashboard, embedded MQTT broker, fleet service and store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on CLAWFLEET_PPROF_ADDR
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/cloud/app"
	"github.com/clawfleet/clawfleet/cloud/config"
	"github.com/clawfleet/clawfleet/cloud/localagent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "clawfleet-cloud:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Println(app.Version)
			return nil
		case "reset-admin-token":
			return resetSecret("reset-admin-token", args[1:], app.ResetAdminToken, "New admin token (the old one no longer works once the cloud restarts)")
		case "reset-shared-secret":
			return resetSecret("reset-shared-secret", args[1:], app.ResetSharedSecret,
				"New shared secret for the web app, X-Shared-Secret (the old one no longer works once the cloud restarts; used while CLAWFLEET_SHARED_SECRET is unset)")
		case "help", "-h", "--help":
			fmt.Printf("usage: clawfleet-cloud [flags]            run the cloud\n       clawfleet-cloud reset-admin-token [--data-dir DIR]\n       clawfleet-cloud reset-shared-secret [--data-dir DIR]\n       clawfleet-cloud version\n\nflags (each also read from its environment variable, and from a YAML file given by --config FILE or CLAWFLEET_CONFIG;\nprecedence: defaults < YAML < environment < flags):\n%s", config.Usage())
			return nil
		}
	}
	cfg, err := config.Load(args, os.Getenv)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg, os.Stderr)
	slog.SetDefault(log)
	if cfg.PprofAddr != "" {
		go func() {
			log.Warn("pprof enabled", "addr", cfg.PprofAddr)
			srv := &http.Server{Addr: cfg.PprofAddr, ReadHeaderTimeout: 10 * time.Second}
			if err := srv.ListenAndServe(); err != nil {
				log.Error("pprof listener failed", "err", err)
			}
		}()
	}
	a, err := app.New(ctx, cfg, log, os.Stdout)
	if err != nil {
		return err
	}
	ready := func() {
		port := "8080"
		if _, p, err := net.SplitHostPort(a.HTTPAddr().String()); err == nil {
			port = p
		}
		fmt.Printf("\n  clawfleet is running: open http://localhost:%s/\n\n", port)
		if cfg.LocalAgent != "" {
			_, mport, _ := net.SplitHostPort(a.MQTTAddr().String())
			go func() {
				err := localagent.Run(ctx, a.Fleet(), localagent.Options{
					Binary: cfg.LocalAgent, StateDir: filepath.Join(cfg.DataDir, "local-agent"),
					MQTTURL: "tcp://127.0.0.1:" + mport, CloudURL: "http://127.0.0.1:" + port, Logger: log.With("component", "localagent"),
				})
				if err != nil {
					log.Error("local agent not started", "err", err)
				}
			}()
		}
	}
	return a.Run(ctx, ready)
}

func resetSecret(name string, args []string, reset func(string) (string, error), what string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dir := fs.String("data-dir", envOr("CLAWFLEET_DATA_DIR", "./data"), "the cloud's data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok, err := reset(*dir)
	if err != nil {
		return err
	}
	fmt.Printf("%s:\n\n    %s\n\n", what, tok)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
