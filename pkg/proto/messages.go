package proto

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Header is embedded in every payload.
type Header struct {
	V int `json:"v"`
}

// Capabilities are what an agent can do on its host.
type Capabilities struct {
	Docker         bool     `json:"docker"`
	WireGuardModes []string `json:"wireguardModes,omitempty"` // kernel, tun, netstack
	Runtimes       []string `json:"runtimes,omitempty"`       // docker, process
}

// Register is sent on every (re)connect, before any heartbeat.
type Register struct {
	Header
	Hostname      string            `json:"hostname"`
	OS            string            `json:"os"`
	Arch          string            `json:"arch"`
	CPUs          int               `json:"cpus"`
	MemTotalBytes uint64            `json:"memTotalBytes"`
	AgentVersion  string            `json:"agentVersion"`
	Capabilities  Capabilities      `json:"capabilities"`
	WGPublicKey   string            `json:"wgPublicKey,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

// Metrics are a host's resource figures, gathered with gopsutil.
type Metrics struct {
	CPUPercent     float64 `json:"cpuPercent"`
	MemUsedBytes   uint64  `json:"memUsedBytes"`
	MemTotalBytes  uint64  `json:"memTotalBytes"`
	DiskUsedBytes  uint64  `json:"diskUsedBytes"`
	DiskTotalBytes uint64  `json:"diskTotalBytes"`
	Load1          float64 `json:"load1"`
	Load5          float64 `json:"load5"`
	Load15         float64 `json:"load15"`
	UptimeSeconds  uint64  `json:"uptimeSeconds"`
}

// Heartbeat is sent every heartbeat interval.
type Heartbeat struct {
	Header
	Seq     uint64  `json:"seq"`
	SentAt  int64   `json:"sentAt"` // unix milliseconds, for latency figures
	Metrics Metrics `json:"metrics"`
	// Tunnel is the host's WireGuard tunnel state, when it has one.
	Tunnel *TunnelStatus `json:"tunnel,omitempty"`
	// Claim is a box's claim state as it knows it: ClaimStateClaimed or
	// ClaimStateUnclaimed; empty on hosts that are not boxes.
	Claim string `json:"claim,omitempty"`
}

// Status states.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// Status is published as "online" after connecting and as the Last Will
// ("offline") when the connection drops.
type Status struct {
	Header
	State string `json:"state"`
}

// Config is the cloud's retained settings for one agent.
type Config struct {
	Header
	HeartbeatIntervalSeconds int `json:"heartbeatIntervalSeconds"`
}

// Heartbeat interval bounds, shared by the cloud (which validates its own
// setting) and the agent (which refuses out-of-range values).
const (
	MinHeartbeatInterval = 1 * time.Second
	MaxHeartbeatInterval = 10 * time.Minute
)

// HeartbeatInterval returns the configured interval.
func (c Config) HeartbeatInterval() time.Duration {
	return time.Duration(c.HeartbeatIntervalSeconds) * time.Second
}

// stamp fills in the protocol version; every payload embeds Header, so every
// payload pointer has it.
func (h *Header) stamp() { h.V = Version }

// Encode marshals a payload, filling in the protocol version.
func Encode(msg any) ([]byte, error) {
	if m, ok := msg.(interface{ stamp() }); ok {
		m.stamp()
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("proto: encode %T: %w", msg, err)
	}
	return b, nil
}

// MustEncode is Encode for payloads built by the program itself, which cannot fail.
func MustEncode(msg any) []byte {
	b, err := Encode(msg)
	if err != nil {
		panic(err)
	}
	return b
}

// decode checks size and version, then unmarshals into v. Unknown fields are
// allowed so that a newer peer can add fields without breaking this one.
func decode(b []byte, v any) error {
	if len(b) > MaxPayload {
		return fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(b), MaxPayload)
	}
	var h Header
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if h.V != Version {
		return fmt.Errorf("%w: got v=%d, this side speaks v=%d", ErrUnsupportedVersion, h.V, Version)
	}
	// Unmarshal refuses trailing data after the object too, without a
	// Decoder and its copy of the message (3,600 heartbeats a second at
	// 18,000 agents: 145 MB of garbage in a fleet benchmark).
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalid("%s longer than %d bytes", field, max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid("%s has control characters", field)
		}
	}
	return nil
}

func finite(field string, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return invalid("%s must be a finite, non-negative number", field)
	}
	return nil
}

// DecodeRegister decodes and validates a register payload.
func DecodeRegister(b []byte) (*Register, error) {
	var m Register
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	for field, s := range map[string]string{"hostname": m.Hostname, "os": m.OS, "arch": m.Arch, "agentVersion": m.AgentVersion, "wgPublicKey": m.WGPublicKey} {
		if err := checkText(field, s, 255); err != nil {
			return nil, err
		}
	}
	if m.Hostname == "" {
		return nil, invalid("hostname is empty")
	}
	if m.WGPublicKey != "" {
		if err := ValidateWGKey(m.WGPublicKey); err != nil {
			return nil, err
		}
	}
	if m.CPUs < 0 || m.CPUs > 1<<16 {
		return nil, invalid("cpus out of range")
	}
	if len(m.Labels) > 32 {
		return nil, invalid("more than 32 labels")
	}
	for k, v := range m.Labels {
		if err := checkText("label key", k, 63); err != nil {
			return nil, err
		}
		if err := checkText("label value", v, 255); err != nil {
			return nil, err
		}
	}
	if len(m.Capabilities.WireGuardModes) > 8 || len(m.Capabilities.Runtimes) > 8 {
		return nil, invalid("too many capability entries")
	}
	return &m, nil
}

// DecodeHeartbeat decodes and validates a heartbeat payload.
func DecodeHeartbeat(b []byte) (*Heartbeat, error) {
	var m Heartbeat
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	mt := m.Metrics
	for field, f := range map[string]float64{"cpuPercent": mt.CPUPercent, "load1": mt.Load1, "load5": mt.Load5, "load15": mt.Load15} {
		if err := finite(field, f); err != nil {
			return nil, err
		}
	}
	if mt.CPUPercent > 100 {
		return nil, invalid("cpuPercent above 100")
	}
	if mt.MemUsedBytes > mt.MemTotalBytes || mt.DiskUsedBytes > mt.DiskTotalBytes {
		return nil, invalid("used bytes exceed total bytes")
	}
	if t := m.Tunnel; t != nil {
		if err := checkText("tunnel mode", t.Mode, 16); err != nil {
			return nil, err
		}
		if err := checkText("tunnel error", t.Error, 512); err != nil {
			return nil, err
		}
		if err := checkText("tunnel address", t.Address, 64); err != nil {
			return nil, err
		}
		if t.HandshakeAgeSeconds < -1 {
			return nil, invalid("tunnel handshake age below -1")
		}
	}
	switch m.Claim {
	case "", ClaimStateClaimed, ClaimStateUnclaimed:
	default:
		return nil, invalid("claim must be %q, %q or empty", ClaimStateClaimed, ClaimStateUnclaimed)
	}
	return &m, nil
}

// DecodeStatus decodes and validates a status payload.
func DecodeStatus(b []byte) (*Status, error) {
	var m Status
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	if m.State != StateOnline && m.State != StateOffline {
		return nil, invalid("state must be %q or %q", StateOnline, StateOffline)
	}
	return &m, nil
}

// DecodeConfig decodes and validates a config payload.
func DecodeConfig(b []byte) (*Config, error) {
	var m Config
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	d := m.HeartbeatInterval()
	if d < MinHeartbeatInterval || d > MaxHeartbeatInterval {
		return nil, invalid("heartbeatIntervalSeconds must be between %d and %d", int(MinHeartbeatInterval.Seconds()), int(MaxHeartbeatInterval.Seconds()))
	}
	return &m, nil
}
