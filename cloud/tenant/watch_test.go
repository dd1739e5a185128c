package tenant

import (
	"testing"

	"github.com/clawfleet/clawfleet/cloud/store"
)

// A watcher gets every change in order, without the gateway token; one
// that falls behind is dropped (its channel closed) instead of holding the
// service up; stop ends a watch once.
func TestWatch(t *testing.T) {
	s := &Service{}
	fast, stopFast := s.Watch()
	slow, stopSlow := s.Watch()
	defer stopSlow()
	for i := 0; i < watchBuffer; i++ {
		s.changed(&store.Tenant{ID: "ten_a", Status: store.TenantStarting, GatewayTokenEnc: "sealed"}, false)
		c := <-fast
		if c.Tenant.ID != "ten_a" || c.Tenant.Status != store.TenantStarting || c.Deleted || c.Tenant.GatewayTokenEnc != "" {
			t.Fatalf("change %d = %+v", i, c)
		}
	}
	s.changed(&store.Tenant{ID: "ten_a", Status: store.TenantDeleting}, true)
	if c := <-fast; !c.Deleted {
		t.Fatalf("deletion = %+v", c)
	}
	// slow read nothing: its buffer was full at the last change.
	n := 0
	for range slow {
		n++
	}
	if n != watchBuffer {
		t.Fatalf("the slow watcher got %d changes before being dropped, want %d", n, watchBuffer)
	}
	stopFast()
	stopFast()
	if _, ok := <-fast; ok {
		t.Fatal("a stopped watch still delivers")
	}
	s.changed(&store.Tenant{ID: "ten_b"}, false) // nobody watching: no block
}
