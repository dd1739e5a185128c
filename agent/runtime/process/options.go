// Package process is the process runtime: each tenant gateway a supervised
// native `openclaw gateway` process, isolated by its own uid
// (agent/runtime/uids), network namespace (agent/runtime/netns), cgroup
// (agent/runtime/cgroup) and disk (agent/runtime/diskquota) where the
// agent is root. Linux only.
package process

import (
	"log/slog"
	"time"
)

// Options configures the process runtime.
type Options struct {
	// OpenClawBin is an executable running the OpenClaw CLI (or the
	// stand-in): it is run as `<bin> gateway --port <port>`. Every directory
	// on its path must be traversable, and the file executable, by the
	// RunAs user. Required.
	OpenClawBin string
	// DataDir holds one directory per tenant (<DataDir>/<tenantID>/), which
	// is the runtime's persistent state. Created 0711 if missing. Required.
	DataDir string
	// RunAsUID and RunAsGID are the identity gateways run as when the agent
	// runs as root. 0 (the default) gives every tenant its own uid and gid
	// (see TenantUIDBase), so that one tenant's gateway — which runs its
	// agent's tools and shell commands — cannot read another's files. A
	// positive RunAsUID makes every tenant share that identity (gid 65534
	// unless RunAsGID is set). -1 runs them as the agent's own user (tests,
	// development). Ignored when the agent is not root.
	RunAsUID, RunAsGID int
	// TenantUIDBase is the first of the per-tenant uids (and gids): each
	// agent takes its tenants' uids from a window of 1024 above it chosen by
	// a number from its data dir (0-65535), hands each tenant one for as
	// long as its data exists (kept in <DataDir>/.tenant-uids.json), and
	// gives a freed uid out again last. 0 means uids.DefaultBase. The
	// range must not hold real users: by default 1,500,000 to 68,608,863.
	TenantUIDBase int
	// CgroupParent is the cgroup v2 directory under which a cgroup per
	// tenant is created ("" means /sys/fs/cgroup/clawfleet; "off" disables
	// cgroups). When cgroup v2 is not usable the runtime falls back to
	// rlimits and logs so.
	CgroupParent string
	// Env is extra KEY=VALUE environment for every gateway (e.g. proxy
	// settings). The runtime's own variables win.
	Env []string
	// StopTimeout is how long a gateway gets between SIGTERM and SIGKILL
	// (default 10 s).
	StopTimeout time.Duration
	// Network is how gateways are isolated: runtime.NetworkAuto (""),
	// runtime.IsolationNetns (required: New fails without it) or
	// runtime.IsolationLoopback.
	Network string
	// NetnsPool is the IPv4 pool of the tenants' /30 networks
	// (netns.DefaultPool when empty).
	NetnsPool string
	// AllowWeakIsolation runs gateways in network namespaces even where the
	// kernel firewall (nftables) cannot be programmed, without the rules
	// that keep tenants and containers out of each other's namespaces
	// (CLAWFLEET_ALLOW_WEAK_ISOLATION). Otherwise such an agent refuses to
	// start.
	AllowWeakIsolation bool
	// DiskQuota is how a plan's diskBytes is enforced: diskquota.Auto ("",
	// loop images when the agent is root and can mount them, else none with
	// a warning), diskquota.Loop (required) or diskquota.Off.
	DiskQuota string
	// DiskSpares is how many fresh disk images the runtime keeps made
	// ahead of demand (in DataDir, at the size of the last disk made, made
	// once no disk has been for 2 s), so that a new tenant's disk is a
	// rename rather than a mkfs; 0 keeps none. The agent's default is 16.
	DiskSpares int
	// Logger receives the runtime's logs; nil is slog.Default().
	Logger *slog.Logger
}
