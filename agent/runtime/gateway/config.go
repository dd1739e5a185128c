// Package gateway writes a tenant's OpenClaw gateway configuration.
//
// The file is JSON (OpenClaw reads JSON5, of which JSON is a subset) and is
// handed to the gateway through OPENCLAW_CONFIG_PATH. Key names follow
// openclaw 2026.9.6 docs/gateway/config-gateway.md,
// docs/gateway/trusted-proxy-auth.md and docs/gateway/logging.md. A tenant
// in trusted-proxy mode (proto.GatewayAuthTrustedProxy, the default):
//
//	{
//	  "gateway": {
//	    "mode": "local",
//	    "port": 18789,
//	    "bind": "custom",                  // "loopback" | "lan" (0.0.0.0, containers) | "custom"
//	    "customBindHost": "10.231.0.2",    // with bind "custom" only
//	    "trustedProxies": ["10.231.0.1"],  // the one source address the proxy path arrives from
//	    "auth": {"mode": "trusted-proxy", "trustedProxy": {
//	      "userHeader": "x-forwarded-user", "allowUsers": ["<spec.Owner>"],
//	      "deviceAutoApprove": {"enabled": true}}},   // default scopes, never operator.admin
//	    "controlUi": {"allowedOrigins": ["https://t.example.com"]}
//	  },
//	  "logging": {"file": "<per-tenant log file>"}
//	}
//
// In token mode auth is {"mode": "token", "token": "<spec.GatewayToken>"}.
// OpenClaw refuses to start in trusted-proxy mode while a token is
// configured, so switching modes removes the other mode's keys.
package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/clawfleet/clawfleet/agent/runtime/hostfs"
	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Bind modes (gateway.bind).
const (
	BindLoopback = "loopback" // 127.0.0.1: the process runtime without a network namespace
	BindLAN      = "lan"      // 0.0.0.0: inside a container, published to host loopback
	BindCustom   = "custom"   // Options.CustomBindHost: the process runtime in a network namespace
)

// UserHeader is gateway.auth.trustedProxy.userHeader: proto.UserHeader as
// OpenClaw writes header names.
const UserHeader = "x-forwarded-user"

// Options says where the gateway runs; the rest comes from the TenantSpec.
type Options struct {
	// Port is gateway.port: spec.Port for a process, the container port
	// (18789) inside a container.
	Port int
	// Bind is BindLoopback, BindLAN or BindCustom.
	Bind string
	// CustomBindHost is the address the gateway listens on with BindCustom.
	CustomBindHost string
	// TrustedProxies is gateway.trustedProxies: the source address(es) the
	// proxy path (the agent's tunnel forwarder, the readiness probe)
	// arrives from, as the gateway sees them. Required in trusted-proxy mode.
	TrustedProxies []string
	// AllowLoopback sets trustedProxy.allowLoopback: needed when the trusted
	// proxy is 127.0.0.1, and then every local process is trusted.
	AllowLoopback bool
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
	Mode           string            `json:"mode"`
	Port           int               `json:"port"`
	Bind           string            `json:"bind"`
	CustomBindHost string            `json:"customBindHost,omitempty"`
	TrustedProxies []string          `json:"trustedProxies,omitempty"`
	Auth           AuthSection       `json:"auth"`
	ControlUI      *ControlUISection `json:"controlUi,omitempty"`
}

// AuthSection is "gateway.auth".
type AuthSection struct {
	Mode         string               `json:"mode"`
	Token        string               `json:"token,omitempty"`
	TrustedProxy *TrustedProxySection `json:"trustedProxy,omitempty"`
}

// TrustedProxySection is "gateway.auth.trustedProxy".
type TrustedProxySection struct {
	UserHeader        string                   `json:"userHeader"`
	AllowUsers        []string                 `json:"allowUsers"`
	AllowLoopback     bool                     `json:"allowLoopback,omitempty"`
	DeviceAutoApprove DeviceAutoApproveSection `json:"deviceAutoApprove"`
}

// DeviceAutoApproveSection is "gateway.auth.trustedProxy.deviceAutoApprove".
// Scopes are left to OpenClaw's default (operator.read, write, approvals,
// questions): never operator.admin.
type DeviceAutoApproveSection struct {
	Enabled bool `json:"enabled"`
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
	switch o.Bind {
	case BindLoopback, BindLAN:
		if o.CustomBindHost != "" {
			return Config{}, fmt.Errorf("gateway config: customBindHost with bind %q", o.Bind)
		}
	case BindCustom:
		if a, err := netip.ParseAddr(o.CustomBindHost); err != nil || a.IsUnspecified() {
			return Config{}, fmt.Errorf("gateway config: customBindHost %q is not a host address", o.CustomBindHost)
		}
	default:
		return Config{}, fmt.Errorf("gateway config: bind %q", o.Bind)
	}
	if o.LogFile == "" {
		return Config{}, errors.New("gateway config: a per-tenant log file is required")
	}
	for _, p := range o.TrustedProxies {
		if _, err := netip.ParseAddr(p); err != nil {
			return Config{}, fmt.Errorf("gateway config: trusted proxy %q is not an address", p)
		}
	}
	c := Config{
		Gateway: GatewaySection{
			Mode:           "local",
			Port:           o.Port,
			Bind:           o.Bind,
			CustomBindHost: o.CustomBindHost,
		},
		Logging: LoggingSection{File: o.LogFile},
	}
	switch spec.AuthMode() {
	case proto.GatewayAuthTrustedProxy:
		if spec.Owner == "" {
			return Config{}, errors.New("gateway config: trusted-proxy auth needs the tenant's owner")
		}
		if len(o.TrustedProxies) == 0 {
			return Config{}, errors.New("gateway config: trusted-proxy auth needs the proxy's source address")
		}
		c.Gateway.TrustedProxies = slices.Clone(o.TrustedProxies)
		c.Gateway.Auth = AuthSection{Mode: proto.GatewayAuthTrustedProxy, TrustedProxy: &TrustedProxySection{
			UserHeader:        UserHeader,
			AllowUsers:        []string{spec.Owner},
			AllowLoopback:     o.AllowLoopback,
			DeviceAutoApprove: DeviceAutoApproveSection{Enabled: true},
		}}
	case proto.GatewayAuthToken:
		if spec.GatewayToken == "" {
			return Config{}, errors.New("gateway config: gateway token missing")
		}
		c.Gateway.Auth = AuthSection{Mode: proto.GatewayAuthToken, Token: spec.GatewayToken}
	default:
		return Config{}, fmt.Errorf("gateway config: auth mode %q", spec.AuthMode())
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
	setOrDelete(gw, "customBindHost", c.Gateway.CustomBindHost, c.Gateway.CustomBindHost != "")
	setOrDelete(gw, "trustedProxies", c.Gateway.TrustedProxies, len(c.Gateway.TrustedProxies) > 0)
	auth := object(gw, "auth")
	auth["mode"] = c.Gateway.Auth.Mode
	setOrDelete(auth, "token", c.Gateway.Auth.Token, c.Gateway.Auth.Token != "")
	if tp := c.Gateway.Auth.TrustedProxy; tp != nil {
		// Keys of trustedProxy we do not set (e.g. requiredHeaders) stay;
		// deviceAutoApprove is replaced whole so no scope list (which could
		// name operator.admin) survives.
		o := object(auth, "trustedProxy")
		o["userHeader"] = tp.UserHeader
		o["allowUsers"] = tp.AllowUsers
		setOrDelete(o, "allowLoopback", true, tp.AllowLoopback)
		o["deviceAutoApprove"] = map[string]any{"enabled": tp.DeviceAutoApprove.Enabled}
	} else {
		delete(auth, "trustedProxy")
	}
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

func setOrDelete(m map[string]any, key string, v any, set bool) {
	if set {
		m[key] = v
	} else {
		delete(m, key)
	}
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
// Merge), atomically, mode 0600 (it may hold the gateway token), owned by
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
	if err := atomicfile.WriteFileOwned(path, b, 0o600, uid, gid); err != nil {
		return false, err
	}
	return true, nil
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
	f, err := hostfs.OpenNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}
