package api

// What the user console needs beyond the tenant routes: the plans to choose
// from, and the status changes of the actor's tenants pushed as they
// happen (GET /api/tenants/events), so the console shows a tenant starting
// without polling.

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/gin-gonic/gin"
)

// planView is a plan as a user chooses it: its name and limits.
type planView struct {
	Name        string `json:"name"`
	CPUMillis   int    `json:"cpuMillis"`
	MemoryBytes int64  `json:"memoryBytes"`
	DiskBytes   int64  `json:"diskBytes"`
	PidsLimit   int    `json:"pidsLimit"`
}

// plans answers the plans a user may create a tenant with, smallest first.
func (ta *tenantAPI) plans(c *gin.Context) {
	ps := ta.svc.Plans()
	out := make([]planView, 0, len(ps))
	for name, p := range ps {
		out = append(out, planView{Name: name, CPUMillis: p.CPUMillis, MemoryBytes: int64(p.MemoryBytes), DiskBytes: int64(p.DiskBytes), PidsLimit: p.PidsLimit})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CPUMillis != out[j].CPUMillis {
			return out[i].CPUMillis < out[j].CPUMillis
		}
		return out[i].Name < out[j].Name
	})
	c.JSON(http.StatusOK, gin.H{"plans": out})
}

// hostKind is the kind of host id ("" when unplaced or unknown).
func (ta *tenantAPI) hostKind(id string) string {
	if id == "" || ta.opts.Fleet == nil {
		return ""
	}
	h, err := ta.opts.Fleet.GetHost(context.Background(), id)
	if err != nil {
		return ""
	}
	return h.Kind
}

// eventsKeepalive is how often an idle status stream sends a comment, so
// proxies keep it open.
const eventsKeepalive = 15 * time.Second

// events streams, as server-sent events, every change of a tenant the
// actor may view, from the moment of the request:
//
//	event: tenant   data: <tenant as GET gives it>
//	event: deleted  data: {"id":"ten_…"}
//	event: resync   data: {}   (changes were missed: read the tenants again)
//	event: end      data: {"reason":…} (after LogsFollowMax; reconnect)
//
// The stream opens with "event: ready" so a client knows when it may read
// the current state without missing a change. Bounded per user and client
// address like followed logs.
func (ta *tenantAPI) events(c *gin.Context) {
	release, err := ta.holdSlots(c, ta.userWatches, ta.addrWatches, "status streams")
	if err != nil {
		ta.failErr(c, err)
		return
	}
	defer release()
	changes, stop := ta.svc.Watch()
	defer stop()
	ctx := c.Request.Context()
	a, resolved := actorOf(c), time.Now()
	sse := startSSE(c)
	sse.event("ready", gin.H{})
	deadline := time.NewTimer(ta.followMax)
	defer deadline.Stop()
	keep := time.NewTicker(eventsKeepalive)
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			sse.end(ta.followMax)
			return
		case <-keep.C:
			sse.keepalive()
		case ch, ok := <-changes:
			if !ok {
				sse.event("resync", gin.H{})
				return
			}
			if authz.Can(a, authz.View, &ch.Tenant) != nil {
				// The actor may have joined the tenant's team since the
				// stream began: its teams are read again, at most once a
				// second.
				if ch.Tenant.TeamID == "" || ta.teams == nil || time.Since(resolved) < time.Second {
					continue
				}
				resolved = time.Now()
				if fresh, err := ta.teams.Resolve(ctx, a); err == nil {
					a = fresh
				}
				if authz.Can(a, authz.View, &ch.Tenant) != nil {
					continue
				}
			}
			if ch.Deleted {
				sse.event("deleted", gin.H{"id": ch.Tenant.ID})
				continue
			}
			t, err := ta.svc.Find(ctx, tenant.Ref{ID: ch.Tenant.ID})
			if errors.Is(err, tenant.ErrNoTenant) {
				continue // deleted meanwhile: its own change follows
			}
			if err != nil {
				t = &ch.Tenant
			}
			sse.event("tenant", ta.viewFor(c, t))
		}
	}
}
