//go:build linux

package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
)

// TestCgroupsFake runs the cgroup v2 set-up against a fake hierarchy (plain
// files): controllers are delegated and limits written as expected.
func TestCgroupsFake(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), nil, 0o644)
	cg, err := New(filepath.Join(root, "clawfleet"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "cgroup.subtree_control")); string(b) != "+cpu +memory +pids" {
		t.Fatalf("root subtree_control %q", b)
	}
	s := runtimetest.Spec("ten_cgroup0001", 20000)
	dir, err := cg.Setup(s.ID, s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"memory.max": "536870912", "memory.swap.max": "0", "cpu.max": "50000 100000", "pids.max": "256"}
	for f, v := range want {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); strings.TrimSpace(string(b)) != v {
			t.Errorf("%s = %q, want %q", f, b, v)
		}
	}
	if _, err := New(filepath.Join(t.TempDir(), "x", "clawfleet")); err == nil {
		t.Fatal("no hierarchy accepted")
	}
}
