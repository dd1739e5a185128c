package store

import (
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Host statuses.
const (
	HostOnline  = "online"
	HostOffline = "offline"
	// HostPending is a host that has credentials but has never connected.
	HostPending = "pending"
)

// Host kinds: who decides what a host runs. The kind comes from how the host
// was made (an enrollment token or an admin's pre-registration: a worker; a
// factory batch: a box), never from what its agent says.
const (
	// HostWorker runs tenants of its pool placed by the scheduler.
	HostWorker = "worker"
	// HostBox runs only its owner's instances, never the shared pool's.
	HostBox = "box"
)

// DefaultPool is the pool of workers enrolled without naming one, and the
// pool of plans that name none.
const DefaultPool = "shared"

// Host is one device (worker VM or box) known to the cloud. Its ID is the
// device ID, which is also its MQTT username and client ID.
type Host struct {
	ID         string `gorm:"primaryKey;size:80"`
	Name       string `gorm:"size:255"`
	SecretHash string `gorm:"size:64;not null"` // hex SHA-256 of the device secret
	Status     string `gorm:"size:16;not null;index"`
	// LastHeartbeat is when the cloud last heard from the device (heartbeat,
	// register or status online). Nil until it first connects.
	LastHeartbeat *time.Time
	RegisteredAt  *time.Time
	Hostname      string             `gorm:"size:255"`
	AgentVersion  string             `gorm:"size:64"`
	OS            string             `gorm:"size:32"`
	Arch          string             `gorm:"size:32"`
	CPUs          int                `gorm:"not null;default:0"`
	MemTotalBytes uint64             `gorm:"not null;default:0"`
	WGPublicKey   string             `gorm:"size:64"`
	Labels        map[string]string  `gorm:"serializer:json"`
	Capabilities  proto.Capabilities `gorm:"serializer:json"`
	Metrics       proto.Metrics      `gorm:"serializer:json"`
	// Tunnel is the live WireGuard state from the latest heartbeat; kept in
	// memory only (runtime-only field, not a column).
	Tunnel *proto.TunnelStatus `gorm:"-"`
	// CredentialsSharedAt is the latest sign, within a day, that two
	// devices use this host's credentials (runtime-only, like Tunnel).
	CredentialsSharedAt *time.Time `gorm:"-"`
	// ClaimState is what a box said of its claim in its latest heartbeat
	// (proto.ClaimStateClaimed or proto.ClaimStateUnclaimed); in memory
	// only, like Tunnel.
	ClaimState string `gorm:"-"`
	// EnrolledWith is the ID of the enrollment token used, empty for
	// factory-provisioned devices.
	EnrolledWith string `gorm:"size:40"`
	// Kind is HostWorker or HostBox; Pool the workers' pool a worker's
	// tenants come from ("" for a box). Both are the operator's word (the
	// enrollment token, the pre-registration, the factory batch).
	Kind string `gorm:"size:16;not null"`
	Pool string `gorm:"size:63;not null"`
	// MaxCPUMillis and MaxMemoryBytes cap what the scheduler credits the
	// host with, whatever it reports (0 = no cap).
	MaxCPUMillis   int64 `gorm:"not null"`
	MaxMemoryBytes int64 `gorm:"not null"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// EnrollmentToken is an operator-issued, expiring, counted, revocable token a
// worker VM exchanges for device credentials. Only its hash is stored.
type EnrollmentToken struct {
	ID         string            `gorm:"primaryKey;size:40"`
	Hash       string            `gorm:"size:64;not null;uniqueIndex"`
	Labels     map[string]string `gorm:"serializer:json"`
	UsesTotal  int               `gorm:"not null"`
	UsesLeft   int               `gorm:"not null"`
	ExpiresAt  time.Time         `gorm:"not null"`
	RevokedAt  *time.Time
	LastUsedAt *time.Time
	CreatedBy  string `gorm:"size:255"`
	// Pool, MaxCPUMillis and MaxMemoryBytes are given to every host the
	// token enrolls (see Host).
	Pool           string `gorm:"size:63;not null"`
	MaxCPUMillis   int64  `gorm:"not null"`
	MaxMemoryBytes int64  `gorm:"not null"`
	CreatedAt      time.Time
}

// AuditEvent records one state change and who made it.
type AuditEvent struct {
	ID     uint      `gorm:"primaryKey" json:"id"`
	At     time.Time `gorm:"not null;index" json:"at"`
	Actor  string    `gorm:"size:255;not null" json:"actor"` // "admin", "system", "token:<id>", "user:<id>"
	Action string    `gorm:"size:64;not null" json:"action"`
	Target string    `gorm:"size:255" json:"target"`
	Detail string    `gorm:"size:1024" json:"detail"`
}

// HeartbeatUpdate is one host's latest heartbeat, applied in batches.
type HeartbeatUpdate struct {
	HostID  string
	At      time.Time
	Metrics proto.Metrics
}

// Setting is one cloud-wide setting changed at run time (e.g. the heartbeat
// interval), kept so that it survives restarts.
type Setting struct {
	Key       string `gorm:"primaryKey;size:64"`
	Value     string `gorm:"size:1024;not null"`
	UpdatedAt time.Time
}
