// Package runtime runs tenant gateways on a host, behind one interface with
// two implementations: docker (Docker Engine API) and process (a supervised
// native `openclaw gateway` process). The reconciler (agent/reconcile)
// decides what should run; a Runtime only does it.
package runtime

import (
	"context"
	"errors"

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
	// Port is the host port the gateway answers on (for the readiness probe).
	Port int
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

// ErrNotFound is returned for a tenant the runtime does not know.
var ErrNotFound = errors.New("runtime: no such tenant instance")
