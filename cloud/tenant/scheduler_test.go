package tenant

import (
	"errors"
	"strings"
	"testing"
)

const gib = 1 << 30

// host builds an online docker host with 8 GiB (7.5 GiB capacity) and
// 4 CPUs at overcommit 4 (16000m).
func host(id string, reservedMem int64, tenants int, mods ...func(*Candidate)) Candidate {
	c := Candidate{ID: id, Online: true, Runtimes: []string{"docker"}, Capacity: HostCapacity(4, 8*gib, 4),
		Reserved: Resources{CPUMillis: int64(tenants) * 1000, MemoryBytes: reservedMem}, Tenants: tenants}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func offline(c *Candidate)          { c.Online = false }
func noRuntime(c *Candidate)        { c.Runtimes = nil }
func used(b int64) func(*Candidate) { return func(c *Candidate) { c.MemUsedBytes = b } }
func labels(kv ...string) func(*Candidate) {
	return func(c *Candidate) {
		c.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Labels[kv[i]] = kv[i+1]
		}
	}
}
func cpuReserved(m int64) func(*Candidate) { return func(c *Candidate) { c.Reserved.CPUMillis = m } }

func TestHostCapacity(t *testing.T) {
	got := HostCapacity(4, 8*gib, 4)
	if got.CPUMillis != 16000 || got.MemoryBytes != 8*gib-512<<20 {
		t.Fatalf("capacity = %+v", got)
	}
	if got := HostCapacity(0, 256<<20, 4); got.MemoryBytes != 0 || got.CPUMillis != 0 {
		t.Fatalf("tiny host capacity = %+v", got)
	}
	if got := HostCapacity(2, 4*gib, 1.5); got.CPUMillis != 3000 {
		t.Fatalf("fractional overcommit = %+v", got)
	}
}

func TestPick(t *testing.T) {
	basic := Resources{CPUMillis: 1000, MemoryBytes: gib + gib/2}
	tests := []struct {
		name     string
		strategy string
		hosts    []Candidate
		need     Resources
		selector map[string]string
		want     string // "" = ErrNoCapacity
	}{
		{"no hosts", LeastLoaded, nil, basic, nil, ""},
		{"offline never chosen", LeastLoaded, []Candidate{host("a", 0, 0, offline)}, basic, nil, ""},
		{"offline skipped", LeastLoaded, []Candidate{host("a", 0, 0, offline), host("b", 6*gib, 4)}, basic, nil, "b"},
		{"no runtime", LeastLoaded, []Candidate{host("a", 0, 0, noRuntime)}, basic, nil, ""},
		{"memory full", LeastLoaded, []Candidate{host("a", 7*gib, 4)}, basic, nil, ""},
		{"memory exactly fits", BinPack, []Candidate{host("a", 6*gib, 4)}, basic, nil, "a"},
		{"cpu full", LeastLoaded, []Candidate{host("a", 0, 0, cpuReserved(15500))}, basic, nil, ""},
		{"cpu exactly fits", LeastLoaded, []Candidate{host("a", 0, 0, cpuReserved(15000))}, basic, nil, "a"},
		{"least-loaded most free", LeastLoaded, []Candidate{host("a", 3*gib, 2), host("b", gib, 5), host("c", 2*gib, 1)}, basic, nil, "b"},
		{"least-loaded counts heartbeat memory", LeastLoaded, []Candidate{host("a", gib, 1, used(6*gib)), host("b", 2*gib, 2, used(gib))}, basic, nil, "b"},
		{"least-loaded tie to fewer tenants", LeastLoaded, []Candidate{host("a", 2*gib, 3), host("b", 2*gib, 2)}, basic, nil, "b"},
		{"least-loaded tie to id", LeastLoaded, []Candidate{host("b", 2*gib, 2), host("a", 2*gib, 2)}, basic, nil, "a"},
		{"bin-pack fullest that fits", BinPack, []Candidate{host("a", gib, 1), host("b", 5*gib, 4), host("c", 7*gib, 5)}, basic, nil, "b"},
		{"spread fewest tenants", Spread, []Candidate{host("a", gib, 3), host("b", 5*gib, 1), host("c", 0, 2)}, basic, nil, "b"},
		{"spread tie to most free", Spread, []Candidate{host("a", 4*gib, 1), host("b", gib, 1)}, basic, nil, "b"},
		{"pinning", LeastLoaded, []Candidate{host("a", 0, 0, labels("pool", "vms")), host("b", 5*gib, 3, labels("pool", "boxes", "zone", "x"))}, basic, map[string]string{"pool": "boxes"}, "b"},
		{"pinning without match", LeastLoaded, []Candidate{host("a", 0, 0, labels("pool", "vms")), host("b", 0, 0)}, basic, map[string]string{"pool": "boxes"}, ""},
		{"pinning all labels", LeastLoaded, []Candidate{host("a", 0, 0, labels("pool", "boxes"))}, basic, map[string]string{"pool": "boxes", "zone": "x"}, ""},
		{"unknown strategy is least-loaded", "whatever", []Candidate{host("a", 3*gib, 0), host("b", gib, 9)}, basic, nil, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pick(tc.strategy, tc.hosts, tc.need, Where{Labels: tc.selector})
			if tc.want == "" {
				if !errors.Is(err, ErrNoCapacity) {
					t.Fatalf("got %q, %v; want ErrNoCapacity", got, err)
				}
				if !strings.Contains(err.Error(), "1000m CPU and 1.5GiB memory") {
					t.Fatalf("error does not say what is needed: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestPickPort(t *testing.T) {
	tests := []struct {
		used      []int
		base, max int
		want      int // 0 = ErrNoPort
	}{
		{nil, 20000, 60000, 20000},
		{[]int{20000}, 20000, 60000, 20120},
		{[]int{20120, 20000}, 20000, 60000, 20240},
		{[]int{20000, 20240}, 20000, 60000, 20120}, // a gap exactly one spacing wide
		{[]int{20000, 20200}, 20000, 60000, 20320}, // gap too small
		{[]int{20050}, 20000, 60000, 20170},        // foreign port near the base
		{[]int{20200}, 20000, 60000, 20000},        // far enough above
		{[]int{19950}, 20000, 60000, 20070},        // below the base but too close
		{[]int{20000, 20120}, 20000, 20200, 0},     // range exhausted
		{[]int{20000}, 20000, 20120, 20120},        // max inclusive
		{nil, 65500, 65535, 0},                     // beyond what the protocol allows
		{[]int{30000, 20000, 20120, 20240}, 20000, 60000, 20360},
	}
	for _, tc := range tests {
		got, err := PickPort(tc.used, tc.base, tc.max)
		if tc.want == 0 {
			if !errors.Is(err, ErrNoPort) {
				t.Errorf("PickPort(%v, %d, %d) = %d, %v; want ErrNoPort", tc.used, tc.base, tc.max, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("PickPort(%v, %d, %d) = %d, %v; want %d", tc.used, tc.base, tc.max, got, err, tc.want)
		}
	}
}
