package tenant

import (
	"errors"
	"strings"
	"testing"
)

func box(c *Candidate)                 { c.Box = true }
func inPool(p string) func(*Candidate) { return func(c *Candidate) { c.Pool = p } }

// huge is a host reporting 64 CPUs and 1 TiB: what it says must not decide
// where pool tenants go.
func huge(c *Candidate) { c.Capacity = HostCapacity(64, 1<<40, 4) }

func TestPickPools(t *testing.T) {
	basic := Resources{CPUMillis: 1000, MemoryBytes: gib + gib/2}
	tests := []struct {
		name  string
		hosts []Candidate
		where Where
		want  string // "" = ErrNoCapacity
		why   string // in the refusal
	}{
		{"a box is never given a pool tenant", []Candidate{host("a", 0, 0, box, huge)}, Where{}, "", "1 with a tenant runtime, 0 of them workers of pool shared"},
		{"not even when it is the emptiest", []Candidate{host("a", 0, 0, box, huge), host("b", 6*gib, 4)}, Where{}, "b", ""},
		{"nor when it claims the pool's name", []Candidate{host("a", 0, 0, box, huge, inPool("shared"))}, Where{Pool: "shared"}, "", "0 of them workers of pool shared"},
		{"empty pools are the default pool", []Candidate{host("a", 0, 0)}, Where{Pool: "shared"}, "a", ""},
		{"default plan skips other pools", []Candidate{host("a", 0, 0, inPool("gpu")), host("b", 5*gib, 3, inPool("shared"))}, Where{}, "b", ""},
		{"pool plan goes to its pool only", []Candidate{host("a", 0, 0), host("b", 5*gib, 3, inPool("gpu"))}, Where{Pool: "gpu"}, "b", ""},
		{"pool plan without a worker of it", []Candidate{host("a", 0, 0)}, Where{Pool: "gpu"}, "", "0 of them workers of pool gpu"},
		{"pool and labels together", []Candidate{host("a", 0, 0, inPool("gpu")), host("b", 0, 0, inPool("gpu"), labels("zone", "x"))}, Where{Pool: "gpu", Labels: map[string]string{"zone": "x"}}, "b", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pick(LeastLoaded, tc.hosts, basic, tc.where)
			if tc.want == "" {
				if !errors.Is(err, ErrNoCapacity) || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("got %q, %v; want ErrNoCapacity saying %q", got, err, tc.why)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestCapped(t *testing.T) {
	reported := HostCapacity(64, 1<<40, 4) // 256000m, 1 TiB - 512 MiB
	tests := []struct {
		name         string
		maxCPU, maxM int64
		want         Resources
	}{
		{"no caps", 0, 0, reported},
		{"both capped", 4000, 8 * gib, Resources{CPUMillis: 4000, MemoryBytes: 8 * gib}},
		{"cpu only", 4000, 0, Resources{CPUMillis: 4000, MemoryBytes: reported.MemoryBytes}},
		{"a cap above what it reports credits what it reports", 1 << 30, 1 << 50, reported},
	}
	for _, tc := range tests {
		if got := reported.Capped(tc.maxCPU, tc.maxM); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
