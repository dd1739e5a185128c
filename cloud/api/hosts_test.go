package api

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tenant"
)

type fakeLoads struct {
	loads map[string]tenant.HostLoad
	err   error
}

func (f fakeLoads) HostLoads(context.Context, []store.Host) (map[string]tenant.HostLoad, error) {
	return f.loads, f.err
}

// One set of host handlers: the capacity fields are there exactly when the
// API is given HostLoads.
func TestViewHosts(t *testing.T) {
	hs := []store.Host{{ID: "dev_aaaaaaaa", Name: "a"}, {ID: "dev_bbbbbbbb", Name: "b"}}
	load := tenant.HostLoad{Capacity: tenant.Resources{CPUMillis: 8000, MemoryBytes: 1 << 30}, Reserved: tenant.Resources{CPUMillis: 500}, Tenants: 1}
	for _, tc := range []struct {
		name  string
		loads HostLoads
		want  []map[string]any // the load fields of each host; nil: none
	}{
		{"no tenant service", nil, []map[string]any{nil, nil}},
		{"with loads", fakeLoads{loads: map[string]tenant.HostLoad{"dev_aaaaaaaa": load}}, []map[string]any{
			{"capacity": map[string]any{"cpuMillis": 8000.0, "memoryBytes": float64(1 << 30)}, "reserved": map[string]any{"cpuMillis": 500.0, "memoryBytes": 0.0}, "tenants": 1.0},
			{"capacity": map[string]any{"cpuMillis": 0.0, "memoryBytes": 0.0}, "reserved": map[string]any{"cpuMillis": 0.0, "memoryBytes": 0.0}, "tenants": 0.0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &server{opts: Options{HostLoads: tc.loads}}
			out, err := s.viewHosts(context.Background(), hs)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(out)
			var got []map[string]any
			if err := json.Unmarshal(b, &got); err != nil || len(got) != len(hs) {
				t.Fatalf("%s: %v", b, err)
			}
			for i, h := range got {
				if h["id"] != hs[i].ID || h["name"] != hs[i].Name {
					t.Errorf("host %d = %v", i, h)
				}
				for _, k := range []string{"capacity", "reserved", "tenants"} {
					v, ok := h[k]
					if tc.want[i] == nil {
						if ok {
							t.Errorf("host %d has %s without a tenant service: %v", i, k, v)
						}
						continue
					}
					if wb, _ := json.Marshal(tc.want[i][k]); string(wb) != mustJSON(v) {
						t.Errorf("host %d %s = %v, want %v", i, k, v, tc.want[i][k])
					}
				}
			}
		})
	}
	boom := errors.New("store down")
	if _, err := (&server{opts: Options{HostLoads: fakeLoads{err: boom}}}).viewHosts(context.Background(), hs); !errors.Is(err, boom) {
		t.Fatalf("a failing HostLoads: %v", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
