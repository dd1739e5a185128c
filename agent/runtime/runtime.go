// Package runtime is the contract of the agent's tenant runtimes: the
// Runtime interface the reconciler (agent/reconcile) drives, the Instance it
// reads back, and what the implementations share. The implementations are
// agent/runtime/docker (Docker Engine API) and agent/runtime/process (a
// supervised native `openclaw gateway` process); the reconciler decides what
// should run, a Runtime only does it.
package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Instance is a tenant gateway as the runtime sees it.
type Instance struct {
	TenantID string
	// State is proto.TenantStarting (up, readiness unknown to the runtime),
	// proto.TenantStopped, or proto.TenantFailed (exited and not restarted,
	// or could not be created).
	State    string
	Error    string
	Restarts int
	// RestartGen is the spec's RestartGen the instance was started with.
	RestartGen  int64
	StartedAtMs int64
	// Port is the tenant's port (spec.Port): the gateway's port, and the
	// port the host's tunnel forwards for it.
	Port int
	// Upstream is host:port where the gateway answers from this host, for
	// the tunnel forwarder and the readiness probe: the namespace side of
	// its veth (process runtime, IsolationNetns), 127.0.0.1:Port (process
	// runtime without namespaces, docker's published port). A connection
	// from this host to Upstream arrives from the gateway's trusted proxy
	// address, so the caller must set proto.UserHeader itself (and a
	// non-loopback X-Forwarded-For) and never pass a client's.
	Upstream string
	// Isolation is how the gateway is kept from other tenants:
	// IsolationNetns, IsolationLoopback or IsolationContainer.
	Isolation string
	// DiskUsedBytes and DiskTotalBytes describe the tenant's disk when the
	// runtime enforces disk quotas (0 otherwise).
	DiskUsedBytes, DiskTotalBytes int64
	// Usage is the gateway's CPU and memory use, when the runtime can
	// measure it (nil otherwise).
	Usage *proto.TenantUsage
}

// Network isolation modes of the process runtime (process.Options.Network,
// Instance.Isolation).
const (
	// NetworkAuto: IsolationNetns when the agent is root and can make a
	// network namespace, else IsolationLoopback (with a warning).
	NetworkAuto = "auto"
	// IsolationNetns: each gateway in its own network namespace, listening
	// on its own veth address; only the host side of its veth is trusted.
	IsolationNetns = "netns"
	// IsolationLoopback: gateways on the host's loopback, 127.0.0.1 trusted
	// with trustedProxy.allowLoopback: every local process is trusted.
	IsolationLoopback = "loopback"
	// IsolationContainer: the docker runtime (the bridge gateway is trusted).
	IsolationContainer = "container"
)

// ProbeForwardedFor is the X-Forwarded-For the agent's readiness probe sends
// to a gateway in trusted-proxy mode. OpenClaw answers /readyz with 403
// (proxy_attribution_required) to a request from its trusted proxy that does
// not name a non-loopback client; 192.0.2.1 (TEST-NET-1, RFC 5737) is never
// a real client, needs no tunnel (the hub address is unknown until the cloud
// sends the tunnel config) and marks the probe's lines in the gateway's logs.
const ProbeForwardedFor = "192.0.2.1"

// UpstreamOf returns in.Upstream, or 127.0.0.1:Port for a runtime that
// sets none.
func UpstreamOf(in Instance) string {
	if in.Upstream != "" {
		return in.Upstream
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in.Port))
}

// Runtime runs tenant gateways. Every method is idempotent and safe to call
// again after a crash of the agent: state lives in the runtime (containers,
// labels, state directories), not in the agent's memory alone.
type Runtime interface {
	// Name is "docker" or "process".
	Name() string
	// Ensure makes the instance match spec: create it if missing (with its
	// own persistent data directory/volume, config file, log file, port and
	// limits), start it when spec.State is running, stop it when stopped,
	// and restart it when spec.RestartGen differs from the running one.
	Ensure(ctx context.Context, spec proto.TenantSpec) error
	// Remove stops and removes the instance but keeps its data.
	Remove(ctx context.Context, tenantID string) error
	// Purge deletes the tenant's data (the instance must be removed first;
	// Purge removes it if it is not). Purging an unknown tenant is not an error.
	Purge(ctx context.Context, tenantID string) error
	// List returns every instance this runtime manages on the host,
	// including ones no longer desired (so they can be removed).
	List(ctx context.Context) ([]Instance, error)
	// Logs returns up to tail of the gateway's most recent log lines,
	// at most proto.MaxLogBytes in total.
	Logs(ctx context.Context, tenantID string, tail int) ([]string, error)
	// Close releases resources; instances keep running (docker) or are
	// stopped (process, whose children die with the agent).
	Close() error
}

// InstanceGetter is a runtime that can look one tenant's instance up, as
// List would show it, without listing every other (ok false: none).
type InstanceGetter interface {
	Instance(ctx context.Context, tenantID string) (in Instance, ok bool)
}

// Adopter is a runtime that can take over existing gateway containers
// (the docker runtime): Inspect looks at one (a name or ID) and returns what
// the cloud records to make it a tenant, or an error saying why it cannot
// be adopted (with a proto.Adopt* code where it has one: AdoptCode);
// Candidates lists the OpenClaw containers there are to adopt.
type Adopter interface {
	Inspect(ctx context.Context, ref string) (*proto.ContainerInfo, error)
	Candidates(ctx context.Context) (cands []proto.ContainerCandidate, leftOut int, err error)
}

// ErrNotFound is returned for a tenant the runtime does not know.
var ErrNotFound = errors.New("runtime: no such tenant instance")

// ErrPortInUse is wrapped by Ensure's error when a tenant's port (or one
// derived from it) is taken by another process.
var ErrPortInUse = errors.New("port in use")

// MarkerEnv is set in every gateway's environment to the tenant ID; it is
// how a leftover process of a previous agent is recognised.
const MarkerEnv = "CLAWFLEET_TENANT"

// AgentID is what tells this agent's things from another agent's on the
// same machine: a hash of its data dir. Names take a prefix of it (network
// namespaces and the tunnel interface 2 bytes, the tenant uid window 2
// bytes, docker labels 6).
func AgentID(dataDir string) [32]byte { return sha256.Sum256([]byte(dataDir)) }

// AgentTag is AgentID's first 2 bytes in hex: the part of the agent in the
// names it gives what all agents of a machine share one namespace for
// (network namespaces cf-<tag>-…, veths, the tunnel interface wg-cf<tag>).
func AgentTag(dataDir string) string {
	id := AgentID(dataDir)
	return hex.EncodeToString(id[:2])
}

// CheckPorts fails with ErrPortInUse when base, or one of the ports a
// gateway derives from it (base+1 .. base+PortSpacing-1), cannot be bound
// on loopback.
func CheckPorts(base int) error {
	for port := base; port < base+proto.PortSpacing; port++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			if port == base {
				return fmt.Errorf("%w: port %d is already in use on 127.0.0.1 by another process", ErrPortInUse, port)
			}
			return fmt.Errorf("%w: port %d (base port %d + %d, used by the gateway's browser/CDP services) is already in use on 127.0.0.1 by another process", ErrPortInUse, port, base, port-base)
		}
		l.Close()
	}
	return nil
}
