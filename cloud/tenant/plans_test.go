package tenant

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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

func TestPlansMaxPerTeam(t *testing.T) {
	def := DefaultPlans()
	if def["free"].MaxPerTeam != 1 || def["basic"].MaxPerTeam != 0 || def["pro"].MaxPerTeam != 0 {
		t.Fatalf("built-in limits: free %d basic %d pro %d", def["free"].MaxPerTeam, def["basic"].MaxPerTeam, def["pro"].MaxPerTeam)
	}
	p := filepath.Join(t.TempDir(), "plans.yaml")
	if err := os.WriteFile(p, []byte("plans:\n  free: {}\n  basic: {maxPerTeam: 3}\n  pro: {maxPerTeam: -1}\n  team: {cpuMillis: 500, memoryBytes: 1GiB}\n  unlimited-free: {cpuMillis: 500, memoryBytes: 1GiB, maxPerTeam: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadPlans(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"free": 1, "basic": 3, "pro": -1, "team": 0, "unlimited-free": 0} {
		if got[name].MaxPerTeam != want || got[name].FileMaxPerTeam != nil {
			t.Errorf("%s: maxPerTeam %d (%v), want %d", name, got[name].MaxPerTeam, got[name].FileMaxPerTeam, want)
		}
	}
	if err := os.WriteFile(p, []byte("plans:\n  free: {maxPerTeam: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadPlans(p); err != nil || got["free"].MaxPerTeam != 0 {
		t.Fatalf("free with maxPerTeam 0 (no limit): %+v, %v", got["free"], err)
	}
	if err := os.WriteFile(p, []byte("plans:\n  free: {maxPerTeam: -2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPlans(p); err == nil || !strings.Contains(err.Error(), "maxPerTeam") {
		t.Fatalf("maxPerTeam -2: %v", err)
	}
}
