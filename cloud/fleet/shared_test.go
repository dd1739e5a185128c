package fleet

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCredentialsShared: only a WireGuard key that comes back after being
// replaced is a second device; rotations and reinstalls (a new key for
// good) are not. A duplicate is counted, shown on the host for a day,
// audited once per window and handed to subscribers.
func TestCredentialsShared(t *testing.T) {
	for _, tc := range []struct {
		name   string
		keys   []string // registered in order
		shared int      // CredentialsShared events
	}{
		{"same key again", []string{"A", "A", "A"}, 0},
		{"rotations", []string{"A", "B", "C", "D"}, 0},
		{"no key then a key", []string{"", "A", "", "A"}, 0},
		{"a copy comes and goes", []string{"A", "B", "A"}, 1},
		{"two devices take turns", []string{"A", "B", "A", "B", "A"}, 3},
		{"rotation, then the old key's copy", []string{"A", "B", "C", "A"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, t.TempDir())
			id, _ := e.enroll(t)
			var (
				mu     sync.Mutex
				events []CredentialsShared
			)
			e.f.Subscribe(func(ev Event) {
				if ev, ok := ev.(CredentialsShared); ok {
					mu.Lock()
					events = append(events, ev)
					mu.Unlock()
				}
			})
			keys := map[string]string{"": ""}
			for _, k := range tc.keys {
				if _, ok := keys[k]; !ok {
					keys[k] = keyFor(k)
				}
				e.bus.Send(proto.UpTopic(id, proto.KindRegister), proto.MustEncode(&proto.Register{Hostname: "vm-1", OS: "linux", Arch: "amd64", WGPublicKey: keys[k]}))
			}
			want := float64(len(tc.keys))
			tstest.Await(t, "registrations handled", 3*time.Second, func() bool { return testutil.ToFloat64(e.f.m.registers) == want })
			mu.Lock()
			got := len(events)
			mu.Unlock()
			if got != tc.shared || testutil.ToFloat64(e.f.m.shared) != float64(tc.shared) {
				t.Fatalf("events %d, counter %v; want %d", got, testutil.ToFloat64(e.f.m.shared), tc.shared)
			}
			h, err := e.f.GetHost(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if (h.CredentialsSharedAt != nil) != (tc.shared > 0) {
				t.Fatalf("CredentialsSharedAt = %v with %d duplicates", h.CredentialsSharedAt, tc.shared)
			}
			audits, err := e.st.ListAudit(context.Background(), 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, a := range audits {
				if a.Action == "host.credentials-shared" && a.Target == id && strings.Contains(a.Detail, "two devices") {
					n++
				}
			}
			if n != min(tc.shared, 1) {
				t.Fatalf("%d audit events for %d duplicates within the window, want %d", n, tc.shared, min(tc.shared, 1))
			}
			if tc.shared > 0 {
				e.clk.add(SharedWarningFor)
				if h, _ := e.f.GetHost(context.Background(), id); h.CredentialsSharedAt != nil {
					t.Fatal("the warning outlives its day")
				}
			}
		})
	}
}

// keyFor is a valid WireGuard public key made of name's first byte.
func keyFor(name string) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(name[:1]), 32))
}
