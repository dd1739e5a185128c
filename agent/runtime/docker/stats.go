package docker

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// statsEvery is how long a container's stats are reused: the agent lists
// its tenants every few seconds, and a stats call costs the engine a
// cgroup walk per container, so each container is asked at most this often.
var statsEvery = 30 * time.Second

// containerStats is what usage needs of GET /containers/{id}/stats.
type containerStats struct {
	CPUStats struct {
		CPUUsage struct {
			TotalUsage int64 `json:"total_usage"` // nanoseconds
		} `json:"cpu_usage"`
	} `json:"cpu_stats"`
	MemoryStats struct {
		Usage int64            `json:"usage"`
		Stats map[string]int64 `json:"stats"`
	} `json:"memory_stats"`
}

// usageOf is the stats' CPU and memory as docker stats shows them: memory
// less the inactive page cache (inactive_file on cgroup v2,
// total_inactive_file on v1).
func usageOf(s containerStats) proto.TenantUsage {
	mem := s.MemoryStats.Usage
	cache, ok := s.MemoryStats.Stats["inactive_file"]
	if !ok {
		cache = s.MemoryStats.Stats["total_inactive_file"]
	}
	if cache <= mem {
		mem -= cache
	}
	return proto.TenantUsage{CPUUsec: s.CPUStats.CPUUsage.TotalUsage / 1000, MemoryBytes: mem}
}

type cachedUsage struct {
	at time.Time
	u  proto.TenantUsage
}

// statsCache holds each container's last stats (by container id).
type statsCache struct {
	mu sync.Mutex
	m  map[string]cachedUsage
}

// usage is the running container's usage, from the engine at most every
// statsEvery (nil if the engine cannot tell).
func (d *Runtime) usage(ctx context.Context, container string) *proto.TenantUsage {
	d.stats.mu.Lock()
	c, ok := d.stats.m[container]
	d.stats.mu.Unlock()
	if ok && time.Since(c.at) < statsEvery {
		return &c.u
	}
	var s containerStats
	// one-shot: no second sample for a precpu figure we do not use.
	if _, err := d.c.Do(ctx, "GET", "/containers/"+url.PathEscape(container)+"/stats", url.Values{"stream": {"false"}, "one-shot": {"true"}}, nil, &s); err != nil {
		d.log.Debug("container stats", "container", container, "err", fmt.Errorf("docker stats: %w", err))
		return nil
	}
	now := time.Now()
	u := usageOf(s)
	u.AtMs = now.UnixMilli()
	d.stats.mu.Lock()
	if d.stats.m == nil {
		d.stats.m = map[string]cachedUsage{}
	}
	for id, old := range d.stats.m { // forget removed containers' entries
		if now.Sub(old.at) > 4*statsEvery {
			delete(d.stats.m, id)
		}
	}
	d.stats.m[container] = cachedUsage{at: now, u: u}
	d.stats.mu.Unlock()
	return &u
}
