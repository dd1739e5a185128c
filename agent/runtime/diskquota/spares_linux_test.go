package diskquota

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// spareFiles lists the spare images in dir by name.
func spareFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), sparePrefix) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// waitSpares waits until dir holds n spares of size and returns them.
func waitSpares(t *testing.T, dir string, n int, size string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := spareFiles(t, dir)
		ok := len(got) == n
		for _, f := range got {
			ok = ok && strings.HasPrefix(f, sparePrefix+size+"-")
		}
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("spares %v, want %d of %s bytes", got, n, size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSpareImages: once a disk was made, spares of its size are made ahead;
// the next tenant of that size gets one (an empty filesystem whose root is
// the tenant's), not a new mkfs; another size makes its own disk and turns
// the spares to it; a restarted agent uses those left, and clears half-made
// ones and, keeping none, all.
func TestSpareImages(t *testing.T) {
	q, data := newQuota(t)
	old := spareSettle
	spareSettle = 50 * time.Millisecond
	t.Cleanup(func() { spareSettle = old })
	q.KeepSpares(data, 2)
	var dirs []string
	ensure := func(name string, size int64, uid int) string {
		t.Helper()
		dir := filepath.Join(data, name)
		if err := q.Ensure(dir, dir+".img", size, uid, uid); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
		return dir
	}
	t.Cleanup(func() {
		q.Close()
		for _, d := range dirs {
			q.Release(d)
		}
	})
	if got := spareFiles(t, data); len(got) != 0 {
		t.Fatalf("spares before any disk was made: %v", got)
	}
	ensure("ten_a", 40<<20, 1001)
	before := waitSpares(t, data, 2, "41943040")

	dir := ensure("ten_b", 40<<20, 1002)
	after := spareFiles(t, data)
	if len(after) != 1 || !slices.Contains(before, after[0]) {
		t.Fatalf("spares %v after a disk of their size, had %v: none taken", after, before)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil || st.Uid != 1002 || st.Gid != 1002 {
		t.Fatalf("the spare's root is %d:%d (%v), want the tenant's 1002:1002", st.Uid, st.Gid, err)
	}
	if ok, src := MountOf(dir); !ok || !q.isImage(src, dir+".img") {
		t.Fatalf("the tenant's disk is not mounted from its image: %v %q", ok, src)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != "lost+found" {
		t.Fatalf("a fresh disk holds %v", entries)
	}
	waitSpares(t, data, 2, "41943040")

	ensure("ten_c", 48<<20, 1003)
	waitSpares(t, data, 2, "50331648")

	q.Close()
	half := filepath.Join(data, spareNew+"x.img")
	if err := os.WriteFile(half, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	q2, err := New(data, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	q2.KeepSpares(data, 2)
	if got := q2.spares.ready; len(got) != 2 {
		t.Fatalf("a restarted agent has %v ready", got)
	}
	if _, err := os.Stat(half); err == nil {
		t.Fatal("a half-made spare left")
	}
	q2.Close()
	q3, err := New(data, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	q3.KeepSpares(data, 0)
	q3.Close()
	if got := spareFiles(t, data); len(got) != 0 {
		t.Fatalf("keeping none, spares left: %v", got)
	}
}
