//go:build linux

package process

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/gateway"
	"github.com/clawfleet/clawfleet/agent/runtime/netns"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Isolation is runtime.IsolationNetns or runtime.IsolationLoopback.
func (p *Runtime) Isolation() string {
	if p.nets != nil {
		return runtime.IsolationNetns
	}
	return runtime.IsolationLoopback
}

// network returns the gateway's network: its namespace (netns isolation
// only), the gateway config's bind options and the address the proxy path
// dials.
func (p *Runtime) network(spec proto.TenantSpec) (*netns.Tenant, gateway.Options, string, error) {
	o := gateway.Options{Port: spec.Port, LogFile: filepath.Join(p.tenantDir(spec.ID), procLogFile)}
	port := strconv.Itoa(spec.Port)
	if p.nets == nil {
		o.Bind, o.TrustedProxies, o.AllowLoopback = gateway.BindLoopback, []string{"127.0.0.1"}, true
		return nil, o, net.JoinHostPort("127.0.0.1", port), nil
	}
	tn, err := p.nets.Plan(spec.ID, spec.Port)
	if err != nil {
		return nil, o, "", err
	}
	o.Bind, o.CustomBindHost, o.TrustedProxies = gateway.BindCustom, tn.Gateway.String(), []string{tn.Host.String()}
	return &tn, o, net.JoinHostPort(tn.Gateway.String(), port), nil
}

// netCollision fails when another tenant of this runtime (running or
// stopped, or known only from its directory) would get the same /30 as
// spec. A tenant whose own Ensure failed holds none.
func (p *Runtime) netCollision(spec proto.TenantSpec, tn *netns.Tenant) error {
	if tn == nil {
		return nil
	}
	clash := func(id string, port int) error {
		if id != spec.ID && port/proto.PortSpacing == spec.Port/proto.PortSpacing {
			return fmt.Errorf("%w: port %d gives tenant network %d, already taken by tenant %s (port %d)", runtime.ErrPortInUse, spec.Port, tn.Index, id, port)
		}
		return nil
	}
	ts := p.snapshot()
	for _, t := range ts {
		if t.id == spec.ID {
			continue
		}
		t.mu.Lock()
		port, failed := t.spec.Port, t.startErr != ""
		t.mu.Unlock()
		if failed { // holds no network (e.g. refused for this very clash)
			continue
		}
		if err := clash(t.id, port); err != nil {
			return err
		}
	}
	entries, _ := os.ReadDir(p.opts.DataDir)
	for _, e := range entries {
		if e.Name() == spec.ID || p.tenant(e.Name(), false) != nil {
			continue
		}
		if m, err := p.readMeta(e.Name()); err == nil {
			if err := clash(e.Name(), m.Port); err != nil {
				return err
			}
		}
	}
	return nil
}
