package tenant

import (
	"context"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// usageFlushEvery is how often the samples gathered from reports are
// written, in one transaction for the whole fleet.
var usageFlushEvery = 10 * time.Second

// maxPendingUsage bounds the samples held while the store refuses them
// (the oldest are dropped beyond).
const maxPendingUsage = 100_000

// usageBase is a tenant's measurement its last sample was computed to: the
// next sample's CPU rate is from it.
type usageBase struct {
	cpuUsec int64
	at      time.Time
}

// nextSample is the sample a measurement at at makes after base: none for
// the first measurement, one in the same minute as base, one that is not
// later, or after a restart (the counter dropped); then base is where it
// starts again (reset is true).
func nextSample(base *usageBase, u proto.TenantUsage, at time.Time) (cpuMillicores int64, ok, reset bool) {
	switch {
	case base == nil || u.CPUUsec < base.cpuUsec:
		return 0, false, true
	case !at.After(base.at) || at.UTC().Truncate(time.Minute).Equal(base.at.UTC().Truncate(time.Minute)):
		return 0, false, false
	}
	// µs of CPU per µs of time is cores; ×1000 millicores.
	return (u.CPUUsec - base.cpuUsec) * 1000 / at.Sub(base.at).Microseconds(), true, true
}

// recordUsage turns a tenant's reported usage into at most one sample per
// minute, held until the next flush.
func (s *Service) recordUsage(tenantID string, st proto.TenantStatus) {
	if st.Usage == nil {
		return
	}
	at := s.opts.Now()
	if st.Usage.AtMs > 0 {
		at = time.UnixMilli(st.Usage.AtMs)
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	var base *usageBase
	if b, ok := s.usageBases[tenantID]; ok {
		base = &b
	}
	rate, ok, reset := nextSample(base, *st.Usage, at)
	if ok {
		s.usagePending = append(s.usagePending, store.UsageSample{TenantID: tenantID, At: at, CPUMillicores: rate, MemoryBytes: st.Usage.MemoryBytes, DiskBytes: st.DiskUsedBytes})
		s.trimPendingUsage()
	}
	if reset {
		s.usageBases[tenantID] = usageBase{cpuUsec: st.Usage.CPUUsec, at: at}
	}
}

// trimPendingUsage drops the oldest samples beyond maxPendingUsage (umu held).
func (s *Service) trimPendingUsage() {
	if n := len(s.usagePending) - maxPendingUsage; n > 0 {
		s.usagePending = s.usagePending[n:]
	}
}

// FlushUsage writes the samples gathered since the last flush in one
// batch; on failure they are kept for the next one.
func (s *Service) FlushUsage(ctx context.Context) error {
	s.umu.Lock()
	batch := s.usagePending
	s.usagePending = nil
	s.umu.Unlock()
	if err := s.store.AppendUsage(ctx, batch); err != nil {
		s.umu.Lock()
		s.usagePending = append(batch, s.usagePending...)
		s.trimPendingUsage()
		s.umu.Unlock()
		return err
	}
	return nil
}

// Usage is a tenant's samples of the last d (at most UsageRetention).
func (s *Service) Usage(ctx context.Context, tenantID string, d time.Duration) ([]store.UsageSample, error) {
	return s.store.UsageSince(ctx, tenantID, s.opts.Now().Add(-min(d, store.UsageRetention)))
}

// runUsage flushes the samples every usageFlushEvery and prunes those past
// UsageRetention hourly, until ctx ends; then it flushes what is left, so
// a cloud that stops loses none.
func (s *Service) runUsage(ctx context.Context) {
	flush := time.NewTicker(usageFlushEvery)
	defer flush.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	s.pruneUsage(ctx)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.FlushUsage(fctx); err != nil {
				s.log.Error("writing usage samples at shutdown failed", "err", err)
			}
			cancel()
			return
		case <-flush.C:
			if err := s.FlushUsage(ctx); err != nil {
				s.log.Error("writing usage samples failed; will retry", "err", err)
			}
		case <-prune.C:
			s.pruneUsage(ctx)
		}
	}
}

func (s *Service) pruneUsage(ctx context.Context) {
	if n, err := s.store.PruneUsage(ctx, s.opts.Now().Add(-store.UsageRetention)); err != nil {
		s.log.Error("pruning usage samples failed", "err", err)
	} else if n > 0 {
		s.log.Debug("usage samples pruned", "rows", n)
	}
}
