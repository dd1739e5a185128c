package tenant

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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
			got, err := Pick(tc.strategy, tc.hosts, tc.need, tc.selector)
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

func TestPlans(t *testing.T) {
	def := DefaultPlans()
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(def.Names(), []string{"basic", "enterprise", "free", "pro"}) {
		t.Fatalf("plans = %v", def.Names())
	}
	for _, p := range def {
		if p.MemoryBytes < gib || p.PidsLimit != 512 || p.Image != DefaultImage {
			t.Errorf("plan %s = %+v", p.Name, p)
		}
	}
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "plans.yaml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := LoadPlans(write(`
plans:
  basic:
    memoryBytes: 2GiB
  boxes:
    cpuMillis: 1500
    memoryBytes: 1610612736
    diskBytes: 10G
    image: example.com/claw:1
    hostLabels: {pool: boxes}
`))
	if err != nil {
		t.Fatal(err)
	}
	if b := got["basic"]; b.MemoryBytes != 2*gib || b.CPUMillis != 1000 || b.DiskBytes != 5*gib || b.Image != DefaultImage {
		t.Errorf("basic = %+v", b)
	}
	if b := got["boxes"]; b.CPUMillis != 1500 || b.MemoryBytes != gib+gib/2 || b.DiskBytes != 10*gib || b.PidsLimit != 512 ||
		b.Image != "example.com/claw:1" || b.HostLabels["pool"] != "boxes" {
		t.Errorf("boxes = %+v", b)
	}
	if _, ok := got["pro"]; ok {
		t.Error("the file should replace the built-in set")
	}
	for name, bad := range map[string]string{
		"too little memory": "plans:\n  tiny:\n    cpuMillis: 500\n    memoryBytes: 512MiB\n",
		"unknown field":     "plans:\n  free:\n    memory: 1GiB\n",
		"bad size":          "plans:\n  free:\n    memoryBytes: lots\n",
		"bad name":          "plans:\n  Free_Plan:\n    cpuMillis: 500\n    memoryBytes: 1GiB\n",
		"no plans":          "plans: {}\n",
		"bad label":         "plans:\n  free:\n    hostLabels: {\"Bad Key\": x}\n",
	} {
		if _, err := LoadPlans(write(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadPlans(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "1KiB": 1024, "1.5GiB": gib + gib/2, "512M": 512 << 20, "2 G": 2 * gib, "10B": 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "x", "1XB", "1e30GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	if s := FormatBytes(gib + gib/2); s != "1.5GiB" {
		t.Errorf("FormatBytes = %s", s)
	}
}

func TestSealer(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 1
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.seal("token-123", "ten_a")
	if strings.Contains(sealed, "token-123") || sealed == s.seal("token-123", "ten_a") {
		t.Fatalf("sealed = %q", sealed)
	}
	if got, err := s.open(sealed, "ten_a"); err != nil || got != "token-123" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s.open(sealed, "ten_b"); err == nil {
		t.Fatal("opened with another tenant's associated data")
	}
	other, _ := newSealer(make([]byte, 32))
	if _, err := other.open(sealed, "ten_a"); err == nil {
		t.Fatal("opened with another key")
	}
	if _, err := s.open("garbage", "ten_a"); err == nil {
		t.Fatal("opened garbage")
	}
}

func TestLoadSecretKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadSecretKey("", dir)
	if err != nil || len(k1) != 32 {
		t.Fatal(k1, err)
	}
	st, err := os.Stat(filepath.Join(dir, SecretKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	k2, err := LoadSecretKey("", dir)
	if err != nil || !slices.Equal(k1, k2) {
		t.Fatal("key not reused")
	}
	if _, err := LoadSecretKey("c2hvcnQ=", dir); err == nil {
		t.Fatal("short key accepted")
	}
	k3, err := LoadSecretKey("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "")
	if err != nil || k3[0] != 1 || k3[31] != 32 {
		t.Fatal(k3, err)
	}
	os.WriteFile(filepath.Join(dir, SecretKeyFile), []byte("damaged"), 0o600)
	if _, err := LoadSecretKey("", dir); err == nil {
		t.Fatal("damaged key file accepted")
	}
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"My Claw":                           "my-claw",
		"  --Hello,   World!--  ":           "hello-world",
		"Ünïcødé Café":                      "unicode-cafe",
		"Straße":                            "strasse",
		"爪子":                                "",
		"ab":                                "",
		"a b c":                             "a-b-c",
		strings.Repeat("abcdefghij", 6):     "abcdefghijabcdefghijabcdefghijabcdefghij",
		"x" + strings.Repeat("-", 50) + "y": "x-y",
	} {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewLines(t *testing.T) {
	tests := []struct{ prev, cur, want []string }{
		{nil, []string{"a", "b"}, []string{"a", "b"}},
		{[]string{"a", "b"}, []string{"a", "b"}, []string{}},
		{[]string{"a", "b"}, []string{"a", "b", "c"}, []string{"c"}},
		{[]string{"a", "b", "c"}, []string{"b", "c", "d"}, []string{"d"}}, // window moved
		{[]string{"a", "b"}, []string{"x", "y"}, []string{"x", "y"}},      // no overlap: all new
		{[]string{"a"}, nil, nil},
		{[]string{"a", "b", "a"}, []string{"b", "a", "a"}, []string{"a"}}, // a repeated line is still new
		// A merged answer: the gateway's log, then its tagged output. A new
		// gateway line lands in the middle; nothing is sent twice.
		{[]string{"g1", "g2", "stdout| s1"}, []string{"g1", "g2", "g3", "stdout| s1", "stdout| s2"}, []string{"g3", "stdout| s2"}},
		{[]string{"g1", "container| c1"}, []string{"g1", "container| c1"}, []string{}},
		{[]string{"MSG| not a tag"}, []string{"MSG| not a tag", "x"}, []string{"x"}},
	}
	for _, tc := range tests {
		if got := NewLines(tc.prev, tc.cur); !slices.Equal(got, tc.want) {
			t.Errorf("NewLines(%v, %v) = %v, want %v", tc.prev, tc.cur, got, tc.want)
		}
	}
}

func TestParseDesiredReplyID(t *testing.T) {
	for id, want := range map[string]int64{"desired-1": 1, "desired-42": 42, "desired-0": 0, "desired-x": 0, "desired-01": 0, "cmd_abc": 0, "desired-5 ": 0} {
		got, ok := parseDesiredReplyID(id)
		if (want != 0) != ok || got != want {
			t.Errorf("parseDesiredReplyID(%q) = %d, %v", id, got, ok)
		}
	}
}
