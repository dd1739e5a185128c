package proto

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Tenant states, as desired by the cloud and as reported by an agent.
const (
	TenantPending  = "pending"  // cloud only: not yet acknowledged by the host
	TenantStarting = "starting" // process/container up, readiness probe not yet passing
	TenantRunning  = "running"  // readiness probe passes
	TenantStopped  = "stopped"
	TenantFailed   = "failed"
)

// TenantSpec is one tenant gateway a host must run.
type TenantSpec struct {
	ID    string `json:"id"`    // "ten_" + lowercase letters/digits
	Slug  string `json:"slug"`  // DNS label, unique in the cloud
	Owner string `json:"owner"` // the owner's user ID (X-User-ID)
	// State is what the cloud wants: TenantRunning or TenantStopped.
	State string `json:"state"`
	// RestartGen is bumped by the cloud to ask for a restart.
	RestartGen int64 `json:"restartGen"`
	// Port is the host port the gateway listens on (loopback or tunnel
	// address); the cloud keeps tenants' base ports PortSpacing apart
	// because a gateway also uses ports derived from its base port.
	Port           int      `json:"port"`
	Image          string   `json:"image,omitempty"` // docker runtime
	CPUMillis      int      `json:"cpuMillis"`
	MemoryBytes    int64    `json:"memoryBytes"`
	DiskBytes      int64    `json:"diskBytes"`
	PidsLimit      int      `json:"pidsLimit"`
	GatewayToken   string   `json:"gatewayToken"`
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
	// Auth is how the gateway learns who calls: GatewayAuthTrustedProxy
	// (the cloud's router sends UserHeader for Owner; the default) or
	// GatewayAuthToken (callers present GatewayToken themselves).
	Auth string `json:"auth,omitempty"`
	// Container is the Docker container ID of an adopted gateway (one made
	// before clawfleet, e.g. by Portainer): the docker runtime manages that
	// container in place (start, restart, limits, logs) and never creates
	// or recreates it; its state stays on the container's own mounts.
	Container string `json:"container,omitempty"`
}

// Gateway auth modes (TenantSpec.Auth).
const (
	GatewayAuthTrustedProxy = "trusted-proxy"
	GatewayAuthToken        = "token"
)

// UserHeader carries the authenticated user's ID from the cloud's router to
// a gateway in trusted-proxy mode. The router deletes any copy a client sent.
const UserHeader = "X-Forwarded-User"

// AuthMode returns s.Auth, defaulting to GatewayAuthTrustedProxy.
func (s *TenantSpec) AuthMode() string {
	if s.Auth == "" {
		return GatewayAuthTrustedProxy
	}
	return s.Auth
}

// PortSpacing is the minimum distance between two tenants' base ports.
const PortSpacing = 120

// Desired is the retained desired state of one host (down/desired). The
// agent converges to it after every (re)connect and restart.
type Desired struct {
	Header
	// Revision increases with every change; the agent acknowledges it with
	// a Reply whose ID is DesiredReplyID(Revision).
	Revision int64        `json:"revision"`
	Tenants  []TenantSpec `json:"tenants"`
	// Purge lists tenants whose data the host must delete (deleted
	// tenants without keepData). An ID stays listed until the agent
	// reports it in TenantReport.Purged.
	Purge []string `json:"purge,omitempty"`
}

// DesiredReplyID is the reply ID that acknowledges a desired revision.
func DesiredReplyID(rev int64) string { return fmt.Sprintf("desired-%d", rev) }

// TenantStatus is an agent's view of one tenant.
type TenantStatus struct {
	ID         string `json:"id"`
	State      string `json:"state"` // starting, running, stopped, failed
	Error      string `json:"error,omitempty"`
	Restarts   int    `json:"restarts"`
	RestartGen int64  `json:"restartGen"`          // the RestartGen this status reflects
	StartedAt  int64  `json:"startedAt,omitempty"` // unix ms
	// DiskUsedBytes and DiskTotalBytes are the tenant's disk (when the host
	// enforces the plan's disk limit): what is used and its size.
	DiskUsedBytes  int64 `json:"diskUsedBytes,omitempty"`
	DiskTotalBytes int64 `json:"diskTotalBytes,omitempty"`
	// Usage is what the gateway uses of the host's CPU and memory, when
	// the runtime can measure it. Optional: agents from before it send
	// none, and clouds from before it ignore it (unknown fields are
	// allowed), so the protocol version stays.
	Usage *TenantUsage `json:"usage,omitempty"`
}

// TenantUsage is a gateway's CPU and memory use as its host measures it
// (docker: the container's stats; process runtime: its cgroup, else its
// process tree in /proc).
type TenantUsage struct {
	// CPUUsec is the CPU time the gateway used since its container, cgroup
	// or process started, in microseconds: a counter, so the cloud derives
	// the rate from two reports (and sees a restart as a drop).
	CPUUsec int64 `json:"cpuUsec"`
	// MemoryBytes is the memory in use now (without reclaimable page cache).
	MemoryBytes int64 `json:"memoryBytes"`
	// AtMs is when it was measured (Unix ms), when that is not the report's
	// time (the docker runtime reuses a container's stats for a while): the
	// cloud derives the CPU rate between measurements, not reports.
	AtMs int64 `json:"at,omitempty"`
}

// MaxUsageMemory bounds a reported memory figure (1 PiB): above is junk.
const MaxUsageMemory = 1 << 50

// Event types carried on up/event.
const EventTenants = "tenants"

// TenantReport is published on up/event whenever a tenant's status changes
// and every 30 s: the full list of tenants the agent runs.
type TenantReport struct {
	Header
	Type     string         `json:"type"`     // EventTenants
	Revision int64          `json:"revision"` // newest desired revision applied
	Runtime  string         `json:"runtime"`  // docker or process
	Tenants  []TenantStatus `json:"tenants"`
	Purged   []string       `json:"purged,omitempty"`
}

// Command operations (down/cmd).
const (
	OpLogs = "logs"
	// OpRotateKey asks the agent for a new WireGuard key: it replaces its
	// private key, registers again with the new public key, and replies
	// with it (Reply.PublicKey).
	OpRotateKey = "rotate-key"
	// OpInspectContainer asks a docker agent to inspect an existing
	// OpenClaw container on its engine (Command.Container, a name or ID)
	// for adoption; the reply carries what it found (Reply.Container) or,
	// refused, a Reply.Code of the Adopt* codes.
	OpInspectContainer = "inspect-container"
	// OpListContainers asks a docker agent for the OpenClaw gateway
	// containers on its engine that clawfleet does not run itself, each
	// with whether it can be adopted (Reply.Containers; never a token).
	OpListContainers = "list-containers"
)

// MaxContainers bounds a list-containers reply; its agent also keeps it
// within MaxPayload (Reply.ContainersLeftOut counts what did not fit) and
// each Reason within MaxReason bytes.
const (
	MaxContainers = 200
	MaxReason     = 240
)

// ContainerCandidate is an OpenClaw container on a docker agent's engine
// as OpListContainers reports it: Adoptable, or why not (Code, one of the
// Adopt* codes, and Reason), or adopted already (Tenant).
type ContainerCandidate struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Image   string `json:"image"`
	Running bool   `json:"running"`
	// Port is the host port of its gateway (0 when it publishes none).
	Port      int    `json:"port,omitempty"`
	Adoptable bool   `json:"adoptable"`
	Code      string `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Tenant is the tenant that adopted it (Code AdoptManaged).
	Tenant string `json:"tenant,omitempty"`
}

// Validate checks a candidate an agent reported.
func (c *ContainerCandidate) Validate() error {
	if !containerIDRe.MatchString(c.ID) {
		return invalid("container id %q", truncate(c.ID, 80))
	}
	for field, v := range map[string]string{"container name": c.Name, "image": c.Image} {
		if err := checkText(field, v, 255); err != nil {
			return err
		}
	}
	if err := checkText("reason", c.Reason, MaxReason); err != nil {
		return err
	}
	if err := checkText("code", c.Code, 40); err != nil {
		return err
	}
	if c.Port < 0 || c.Port > 65535 {
		return invalid("container %s: port %d", c.Name, c.Port)
	}
	if c.Tenant != "" {
		if err := ValidateTenantID(c.Tenant); err != nil {
			return err
		}
	}
	if c.Adoptable && c.Code != "" {
		return invalid("container %s: adoptable and refused (%s)", c.Name, c.Code)
	}
	return nil
}

// Codes of a refused OpInspectContainer (Reply.Code).
const (
	AdoptNoContainer = "no_container"    // no such container on the engine
	AdoptNotOpenClaw = "not_openclaw"    // it is not an OpenClaw gateway container
	AdoptManaged     = "already_managed" // clawfleet already runs it (its own or adopted)
	AdoptUnusable    = "not_adoptable"   // an OpenClaw container that cannot be adopted (no token, no published port...)
	AdoptNoDocker    = "no_docker"       // the host's runtime is not docker
)

// ContainerInfo is an existing OpenClaw container as an agent found it
// (OpInspectContainer).
type ContainerInfo struct {
	ID    string `json:"id"`   // full container ID
	Name  string `json:"name"` // without the leading "/"
	Image string `json:"image"`
	// Port is the host port the gateway's port is published on.
	Port int `json:"port"`
	// GatewayToken is the gateway's shared token (OPENCLAW_GATEWAY_TOKEN
	// or gateway.auth.token of its config).
	GatewayToken string           `json:"gatewayToken"`
	Mounts       []ContainerMount `json:"mounts,omitempty"`
	CPUMillis    int              `json:"cpuMillis"`
	MemoryBytes  int64            `json:"memoryBytes"`
	PidsLimit    int              `json:"pidsLimit"`
	Running      bool             `json:"running"`
}

// ContainerMount is one mount of an adopted container.
type ContainerMount struct {
	Type        string `json:"type"`   // volume, bind
	Source      string `json:"source"` // the volume's name, or the host path
	Destination string `json:"destination"`
}

// Validate checks what the cloud stores of an inspected container.
func (c *ContainerInfo) Validate() error {
	if !containerIDRe.MatchString(c.ID) {
		return invalid("container id %q", truncate(c.ID, 80))
	}
	for field, v := range map[string]string{"container name": c.Name, "image": c.Image} {
		if err := checkText(field, v, 255); err != nil {
			return err
		}
	}
	if c.Port < 1024 || c.Port > 65535-PortSpacing {
		return invalid("container %s: published port %d out of range (1024-%d)", c.Name, c.Port, 65535-PortSpacing)
	}
	if len(c.GatewayToken) < 16 || len(c.GatewayToken) > 512 || strings.ContainsAny(c.GatewayToken, " \t\r\n\"'\\") {
		return invalid("container %s: gateway token missing or malformed", c.Name)
	}
	if c.CPUMillis < 0 || c.MemoryBytes < 0 || c.PidsLimit < 0 {
		return invalid("container %s: negative limit", c.Name)
	}
	if len(c.Mounts) > 32 {
		return invalid("container %s: more than 32 mounts", c.Name)
	}
	for _, m := range c.Mounts {
		for field, v := range map[string]string{"mount type": m.Type, "mount source": m.Source, "mount destination": m.Destination} {
			if err := checkText(field, v, 1024); err != nil {
				return err
			}
		}
	}
	return nil
}

// Command is a request to an agent; the agent answers with a Reply carrying
// the same ID. Commands are idempotent.
type Command struct {
	Header
	ID       string `json:"id"`
	Op       string `json:"op"`
	TenantID string `json:"tenantId,omitempty"`
	// Tail is the number of log lines wanted (OpLogs), at most MaxLogLines.
	Tail int `json:"tail,omitempty"`
	// Container names the container to inspect (OpInspectContainer).
	Container string `json:"container,omitempty"`
}

// MaxLogLines bounds a logs reply; MaxLogBytes bounds its total size.
const (
	MaxLogLines = 2000
	MaxLogBytes = 48 << 10
)

// Reply answers a Command (or acknowledges a Desired revision).
type Reply struct {
	Header
	ID    string   `json:"id"`
	OK    bool     `json:"ok"`
	Error string   `json:"error,omitempty"`
	Lines []string `json:"lines,omitempty"` // OpLogs
	// PublicKey is the new WireGuard public key (OpRotateKey).
	PublicKey string `json:"publicKey,omitempty"`
	// Code says why a command was refused, where the op defines codes
	// (OpInspectContainer: the Adopt* codes).
	Code string `json:"code,omitempty"`
	// Container is the inspected container (OpInspectContainer).
	Container *ContainerInfo `json:"container,omitempty"`
	// Containers are the host's OpenClaw containers (OpListContainers);
	// ContainersLeftOut counts those left out to keep the reply in bounds.
	Containers        []ContainerCandidate `json:"containers,omitempty"`
	ContainersLeftOut int                  `json:"containersLeftOut,omitempty"`
}

var (
	tenantIDRe = regexp.MustCompile(`^ten_[a-z0-9]{8,64}$`)
	slugRe     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// A container's full ID (64 hex digits).
	containerIDRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// A container reference: a name as Docker allows it, or an ID (prefix).
	containerRefRe = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$`)
)

// ValidateContainerRef checks a container name or ID given to adopt.
func ValidateContainerRef(ref string) error {
	if !containerRefRe.MatchString(ref) {
		return invalid("container %q must be a Docker container name or ID", truncate(ref, 80))
	}
	return nil
}

// ValidateTenantID checks a tenant ID's shape.
func ValidateTenantID(id string) error {
	if !tenantIDRe.MatchString(id) {
		return fmt.Errorf("%w: tenant id %q", ErrInvalid, truncate(id, 80))
	}
	return nil
}

// The one limit on a user (owner) ID, for the API at the edge and the
// protocol alike: 1-128 characters, and so at most 512 bytes of UTF-8.
const (
	MaxOwnerChars = 128
	MaxOwnerBytes = 4 * MaxOwnerChars
)

// ValidateOwner checks a user ID: 1-MaxOwnerChars characters of valid UTF-8
// (at most MaxOwnerBytes bytes) without control characters (C0, DEL, C1).
func ValidateOwner(id string) error {
	if n := utf8.RuneCountInString(id); n < 1 || n > MaxOwnerChars || len(id) > MaxOwnerBytes || !utf8.ValidString(id) {
		return fmt.Errorf("%w: owner must be 1-%d characters", ErrInvalid, MaxOwnerChars)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: owner has control characters", ErrInvalid)
		}
	}
	return nil
}

// ValidateSlug checks that s is a DNS label usable as <slug>.<domain>.
func ValidateSlug(s string) error {
	if !slugRe.MatchString(s) {
		return fmt.Errorf("%w: slug %q must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'", ErrInvalid, truncate(s, 80))
	}
	return nil
}

// Validate checks one tenant's spec as DecodeDesired does, so a sender can
// find the tenant it cannot send before it builds the whole message.
func (s *TenantSpec) Validate() error { return s.validate() }

func (s *TenantSpec) validate() error {
	if err := ValidateTenantID(s.ID); err != nil {
		return err
	}
	if err := ValidateSlug(s.Slug); err != nil {
		return err
	}
	if s.State != TenantRunning && s.State != TenantStopped {
		return invalid("tenant %s: state must be running or stopped", s.ID)
	}
	if s.Port < 1024 || s.Port > 65535-PortSpacing {
		return invalid("tenant %s: port %d out of range", s.ID, s.Port)
	}
	if s.CPUMillis < 0 || s.MemoryBytes < 0 || s.DiskBytes < 0 || s.PidsLimit < 0 {
		return invalid("tenant %s: negative limit", s.ID)
	}
	if len(s.GatewayToken) < 16 || strings.ContainsAny(s.GatewayToken, " \t\r\n\"'\\") {
		return invalid("tenant %s: gateway token missing or malformed", s.ID)
	}
	if s.Owner != "" {
		if err := ValidateOwner(s.Owner); err != nil {
			return fmt.Errorf("tenant %s: %w", s.ID, err)
		}
	}
	if err := checkText("image", s.Image, 255); err != nil {
		return err
	}
	if s.Auth != "" && s.Auth != GatewayAuthTrustedProxy && s.Auth != GatewayAuthToken {
		return invalid("tenant %s: auth must be %s or %s", s.ID, GatewayAuthTrustedProxy, GatewayAuthToken)
	}
	if s.AuthMode() == GatewayAuthTrustedProxy && s.Owner == "" {
		return invalid("tenant %s: trusted-proxy auth needs an owner", s.ID)
	}
	if s.Container != "" && !containerIDRe.MatchString(s.Container) {
		return invalid("tenant %s: container %q is not a full container id", s.ID, truncate(s.Container, 80))
	}
	if len(s.AllowedOrigins) > 16 {
		return invalid("tenant %s: too many allowed origins", s.ID)
	}
	for _, o := range s.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			return invalid("tenant %s: allowed origin %q is not scheme://host[:port]", s.ID, truncate(o, 80))
		}
	}
	return nil
}

// DecodeDesired decodes and validates a desired-state payload.
func DecodeDesired(b []byte) (*Desired, error) {
	var m Desired
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	if m.Revision < 0 {
		return nil, invalid("negative revision")
	}
	if len(m.Tenants) > 256 || len(m.Purge) > 1024 {
		return nil, invalid("too many tenants")
	}
	ids, ports := map[string]bool{}, map[int]bool{}
	for i := range m.Tenants {
		t := &m.Tenants[i]
		if err := t.validate(); err != nil {
			return nil, err
		}
		if ids[t.ID] || ports[t.Port] {
			return nil, invalid("tenant %s: duplicate id or port", t.ID)
		}
		ids[t.ID], ports[t.Port] = true, true
	}
	for _, id := range m.Purge {
		if err := ValidateTenantID(id); err != nil {
			return nil, err
		}
		if ids[id] {
			return nil, invalid("tenant %s is both desired and purged", id)
		}
	}
	return &m, nil
}

// DecodeTenantReport decodes and validates a tenant report.
func DecodeTenantReport(b []byte) (*TenantReport, error) {
	var m TenantReport
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	if m.Type != EventTenants {
		return nil, invalid("event type %q", truncate(m.Type, 40))
	}
	if len(m.Tenants) > 256 || len(m.Purged) > 1024 {
		return nil, invalid("too many tenants")
	}
	for _, t := range m.Tenants {
		if err := ValidateTenantID(t.ID); err != nil {
			return nil, err
		}
		switch t.State {
		case TenantStarting, TenantRunning, TenantStopped, TenantFailed:
		default:
			return nil, invalid("tenant %s: state %q", t.ID, truncate(t.State, 40))
		}
		if err := checkText("error", t.Error, 2048); err != nil {
			return nil, err
		}
		if t.DiskUsedBytes < 0 || t.DiskTotalBytes < 0 || t.DiskUsedBytes > t.DiskTotalBytes {
			return nil, invalid("tenant %s: disk usage %d of %d", t.ID, t.DiskUsedBytes, t.DiskTotalBytes)
		}
		if u := t.Usage; u != nil && (u.CPUUsec < 0 || u.AtMs < 0 || u.MemoryBytes < 0 || u.MemoryBytes > MaxUsageMemory) {
			return nil, invalid("tenant %s: usage cpu %d µs, memory %d bytes", t.ID, u.CPUUsec, u.MemoryBytes)
		}
	}
	for _, id := range m.Purged {
		if err := ValidateTenantID(id); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// DecodeCommand decodes and validates a command.
func DecodeCommand(b []byte) (*Command, error) {
	var m Command
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	if m.ID == "" || len(m.ID) > 64 {
		return nil, invalid("command id missing or too long")
	}
	switch m.Op {
	case OpLogs:
		if err := ValidateTenantID(m.TenantID); err != nil {
			return nil, err
		}
		if m.Tail < 0 || m.Tail > MaxLogLines {
			return nil, invalid("tail must be between 0 and %d", MaxLogLines)
		}
	case OpInspectContainer:
		if err := ValidateContainerRef(m.Container); err != nil {
			return nil, err
		}
		if m.TenantID != "" || m.Tail != 0 {
			return nil, invalid("%s takes no tenant or tail", m.Op)
		}
	case OpRotateKey, OpFactoryReset, OpListContainers:
		if m.TenantID != "" || m.Tail != 0 {
			return nil, invalid("%s takes no tenant or tail", m.Op)
		}
	default:
		return nil, invalid("unknown op %q", truncate(m.Op, 40))
	}
	return &m, nil
}

// DecodeReply decodes and validates a reply.
func DecodeReply(b []byte) (*Reply, error) {
	var m Reply
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	if m.ID == "" || len(m.ID) > 64 {
		return nil, invalid("reply id missing or too long")
	}
	if len(m.Lines) > MaxLogLines {
		return nil, invalid("more than %d lines", MaxLogLines)
	}
	if m.PublicKey != "" {
		if err := ValidateWGKey(m.PublicKey); err != nil {
			return nil, err
		}
	}
	if err := checkText("code", m.Code, 40); err != nil {
		return nil, err
	}
	if m.Container != nil {
		if err := m.Container.Validate(); err != nil {
			return nil, err
		}
	}
	if len(m.Containers) > MaxContainers || m.ContainersLeftOut < 0 {
		return nil, invalid("more than %d containers", MaxContainers)
	}
	for i := range m.Containers {
		if err := m.Containers[i].Validate(); err != nil {
			return nil, err
		}
	}
	return &m, nil
}
