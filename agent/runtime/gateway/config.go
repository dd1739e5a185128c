// Package gateway writes a tenant's OpenClaw gateway configuration.
//
// The file is JSON (OpenClaw reads JSON5, of which JSON is a subset) and is
// handed to the gateway through OPENCLAW_CONFIG_PATH. Key names follow
// openclaw 2026.9.6 docs/gateway/config-gateway.md and docs/gateway/logging.md:
//
//	{
//	  "gateway": {
//	    "mode": "local",
//	    "port": 18789,
//	    "bind": "loopback",              // "lan" (0.0.0.0) inside a container
//	    "auth": {"mode": "token", "token": "<spec.GatewayToken>"},
//	    "controlUi": {"allowedOrigins": ["https://t.example.com"]}
//	  },
//	  "logging": {"file": "<per-tenant log file>"}
//	}
package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Bind modes (gateway.bind).
const (
	BindLoopback = "loopback" // 127.0.0.1: the process runtime
	BindLAN      = "lan"      // 0.0.0.0: inside a container, published to host loopback
)

// Options says where the gateway runs; the rest comes from the TenantSpec.
type Options struct {
	// Port is gateway.port: spec.Port for a process, the container port
	// (18789) inside a container.
	Port int
	// Bind is BindLoopback or BindLAN.
	Bind string
	// LogFile is logging.file, as the gateway sees the path.
	LogFile string
}

// Config is the subset of OpenClaw's configuration clawfleet manages.
type Config struct {
	Gateway GatewaySection `json:"gateway"`
	Logging LoggingSection `json:"logging"`
}

// GatewaySection is the "gateway" object.
type GatewaySection struct {
	Mode      string            `json:"mode"`
	Port      int               `json:"port"`
	Bind      string            `json:"bind"`
	Auth      AuthSection       `json:"auth"`
	ControlUI *ControlUISection `json:"controlUi,omitempty"`
}

// AuthSection is "gateway.auth".
type AuthSection struct {
	Mode  string `json:"mode"`
	Token string `json:"token"`
}

// ControlUISection is "gateway.controlUi".
type ControlUISection struct {
	AllowedOrigins []string `json:"allowedOrigins"`
}

// LoggingSection is "logging".
type LoggingSection struct {
	File string `json:"file"`
}

// Build returns the configuration for spec.
func Build(spec proto.TenantSpec, o Options) (Config, error) {
	if o.Port < 1 || o.Port > 65535 {
		return Config{}, fmt.Errorf("gateway config: port %d out of range", o.Port)
	}
	if o.Bind != BindLoopback && o.Bind != BindLAN {
		return Config{}, fmt.Errorf("gateway config: bind %q", o.Bind)
	}
	if o.LogFile == "" {
		return Config{}, errors.New("gateway config: a per-tenant log file is required")
	}
	if spec.GatewayToken == "" {
		return Config{}, errors.New("gateway config: gateway token missing")
	}
	c := Config{
		Gateway: GatewaySection{
			Mode: "local",
			Port: o.Port,
			Bind: o.Bind,
			Auth: AuthSection{Mode: "token", Token: spec.GatewayToken},
		},
		Logging: LoggingSection{File: o.LogFile},
	}
	if len(spec.AllowedOrigins) > 0 {
		c.Gateway.ControlUI = &ControlUISection{AllowedOrigins: append([]string(nil), spec.AllowedOrigins...)}
	}
	return c, nil
}

// Marshal returns the configuration file's bytes.
func Marshal(spec proto.TenantSpec, o Options) ([]byte, error) {
	c, err := Build(spec, o)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Merge returns the configuration file's bytes for spec, keeping the keys
// of existing (the current file, possibly edited by the gateway or its
// operator) that clawfleet does not manage. existing that is not a JSON
// object (e.g. JSON5 with comments) is replaced as a whole.
func Merge(existing []byte, spec proto.TenantSpec, o Options) ([]byte, error) {
	c, err := Build(spec, o)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if len(bytes.TrimSpace(existing)) > 0 {
		d := json.NewDecoder(bytes.NewReader(existing))
		d.UseNumber()
		if err := d.Decode(&m); err != nil || m == nil {
			m = map[string]any{}
		}
	}
	gw := object(m, "gateway")
	gw["mode"] = c.Gateway.Mode
	gw["port"] = c.Gateway.Port
	gw["bind"] = c.Gateway.Bind
	delete(gw, "customBindHost")
	auth := object(gw, "auth")
	auth["mode"] = c.Gateway.Auth.Mode
	auth["token"] = c.Gateway.Auth.Token
	if c.Gateway.ControlUI != nil {
		object(gw, "controlUi")["allowedOrigins"] = c.Gateway.ControlUI.AllowedOrigins
	} else if cu, ok := gw["controlUi"].(map[string]any); ok {
		delete(cu, "allowedOrigins")
		if len(cu) == 0 {
			delete(gw, "controlUi")
		}
	}
	object(m, "logging")["file"] = c.Logging.File
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func object(m map[string]any, key string) map[string]any {
	if o, ok := m[key].(map[string]any); ok {
		return o
	}
	o := map[string]any{}
	m[key] = o
	return o
}

// maxConfigBytes bounds the existing config file Write reads.
const maxConfigBytes = 1 << 20

// Write brings the configuration file at path up to date for spec (see
// Merge), atomically, mode 0600 (it holds the gateway token), owned by
// uid:gid when uid >= 0. The directory may be writable by the tenant: the
// existing file is opened without following symlinks and replaced by a
// rename, never written through. It reports whether the file changed.
func Write(path string, spec proto.TenantSpec, o Options, uid, gid int) (changed bool, err error) {
	old, _ := readNoFollow(path, maxConfigBytes)
	b, err := Merge(old, spec, o)
	if err != nil {
		return false, err
	}
	if old != nil && bytes.Equal(old, b) {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, err
	}
	if uid >= 0 {
		if err := tmp.Chown(uid, gid); err != nil {
			tmp.Close()
			return false, err
		}
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), path)
}

// Read parses a configuration file (JSON) for the keys clawfleet manages.
func Read(path string) (Config, error) {
	var c Config
	b, err := readNoFollow(path, maxConfigBytes)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

func readNoFollow(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, max))
}
