// Package localagent runs a clawfleet-agent beside the cloud as a child
// process, so one command (make run) gives a newcomer a cloud with a real
// host. The agent is the ordinary binary speaking MQTT over loopback; only
// its credentials are issued in-process instead of through an enrollment token.
package localagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// Options for the local agent.
type Options struct {
	Binary   string // path of clawfleet-agent
	StateDir string // its state dir (credentials.json lives here)
	MQTTURL  string // e.g. tcp://127.0.0.1:1883
	CloudURL string
	Logger   *slog.Logger
	// ExtraArgs are appended to `clawfleet-agent run`.
	ExtraArgs []string
}

// Run provisions credentials when needed and keeps the agent running until
// ctx ends, restarting it with a growing delay if it exits.
func Run(ctx context.Context, f *fleet.Fleet, o Options) error {
	bin, err := filepath.Abs(o.Binary)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("local agent binary: %w (run make build)", err)
	}
	if err := ensureCredentials(ctx, f, o); err != nil {
		return err
	}
	// Run as root, the agent's process runtime starts gateways as an
	// unprivileged user, who must traverse the cloud's data dir to reach
	// its own directory under the agent's state dir (0711: pass through
	// without listing; the files in it are 0600).
	if os.Geteuid() == 0 {
		dataDir := filepath.Dir(o.StateDir)
		if fi, err := os.Stat(dataDir); err == nil {
			_ = os.Chmod(dataDir, fi.Mode().Perm()|0o011)
		}
	}
	delay := time.Second
	for {
		start := time.Now()
		cmd := exec.CommandContext(ctx, bin, append([]string{"run", "--state-dir", o.StateDir}, o.ExtraArgs...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 10 * time.Second
		o.Logger.Info("starting local agent", "binary", bin, "stateDir", o.StateDir)
		err := cmd.Run()
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			delay = time.Second
		}
		o.Logger.Warn("local agent exited; restarting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// ensureCredentials keeps the existing credentials when the cloud still knows
// the device, and provisions a new device otherwise.
func ensureCredentials(ctx context.Context, f *fleet.Fleet, o Options) error {
	path := filepath.Join(o.StateDir, creds.FileName)
	if c, err := creds.Load(path); err == nil {
		if _, err := f.GetHost(ctx, c.DeviceID); err == nil {
			if c.MQTTURL != o.MQTTURL {
				c.MQTTURL = o.MQTTURL
				return creds.Save(path, c)
			}
			return nil
		} else if !errors.Is(err, fleet.ErrHostNotFound) {
			return err
		}
	}
	host, _ := os.Hostname()
	id, secret, err := f.Provision(ctx, "local ("+host+")", map[string]string{"local": "true"}, "system")
	if err != nil {
		return fmt.Errorf("provision local agent: %w", err)
	}
	o.Logger.Info("provisioned local agent", "device", id, "stateDir", o.StateDir)
	return creds.Save(path, &creds.Credentials{DeviceID: id, Secret: secret, MQTTURL: o.MQTTURL, CloudURL: o.CloudURL})
}
