package tenant

import (
	"sync"

	"github.com/clawfleet/clawfleet/cloud/store"
)

// A Change is a tenant whose state changed: created, placed, restarted,
// reported in a new status or with a new error, or deleted. Tenant is its
// state as the change left it (without the host overlay); Deleted says it
// is gone from the store.
type Change struct {
	Tenant  store.Tenant
	Deleted bool
}

// watchBuffer is how many changes a watcher may fall behind before it is
// dropped (its channel closed): a slow reader must resynchronise rather
// than hold the service up.
const watchBuffer = 64

type watchers struct {
	mu   sync.Mutex
	subs map[chan Change]struct{}
}

// Watch returns the changes of every tenant from now on, and stop to call
// when done. The channel is closed by stop, or when the reader fell more
// than watchBuffer changes behind (then read the state again and watch
// anew). Readers filter what their caller may see.
func (s *Service) Watch() (changes <-chan Change, stop func()) {
	ch := make(chan Change, watchBuffer)
	w := &s.watch
	w.mu.Lock()
	if w.subs == nil {
		w.subs = map[chan Change]struct{}{}
	}
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.subs[ch]; ok {
			delete(w.subs, ch)
			close(ch)
		}
	}
}

// changed tells the watchers about t; it never blocks.
func (s *Service) changed(t *store.Tenant, deleted bool) {
	w := &s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	c := Change{Tenant: *t, Deleted: deleted}
	c.Tenant.GatewayTokenEnc = ""
	for ch := range w.subs {
		select {
		case ch <- c:
		default:
			delete(w.subs, ch)
			close(ch)
		}
	}
}
