package hostfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/agent/runtime/uids"
)

// TestChownTreeStaysInside: a tenant directory left by an agent that ran
// gateways as a shared user is handed to the tenant's own uid, and a
// symlink the old user planted does not carry the chown outside.
func TestChownTreeStaysInside(t *testing.T) {
	runtimetest.RequireRoot(t, "chown")
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.WriteFile(outside, []byte("root's"), 0o600)
	dir := filepath.Join(base, "ten_x")
	for _, d := range []string{dir, filepath.Join(dir, "state"), filepath.Join(dir, "state", "deep")} {
		os.Mkdir(d, 0o700)
	}
	os.WriteFile(filepath.Join(dir, "state", "deep", "f"), []byte("x"), 0o600)
	os.Symlink(outside, filepath.Join(dir, "state", "link-out"))
	os.Symlink(base, filepath.Join(dir, "dir-out"))
	filepath.WalkDir(dir, func(p string, _ fs.DirEntry, _ error) error { return os.Lchown(p, 65534, 65534) })
	// A hard link to a root file elsewhere (possible where
	// fs.protected_hardlinks is off) must not be handed over, nor a file of
	// another user that found its way in.
	if err := os.Link(outside, filepath.Join(dir, "state", "hardlink-out")); err != nil {
		t.Fatal(err)
	}
	alien := filepath.Join(dir, "state", "alien")
	os.WriteFile(alien, []byte("someone else's"), 0o600)
	os.Lchown(alien, 1000, 1000)

	const uid = uids.DefaultBase + 7
	if err := ChownTree(dir, uid, uid, func(o int) bool { return o == 65534 }); err != nil {
		t.Fatal(err)
	}
	owner := func(p string) int {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return int(st.Sys().(*syscall.Stat_t).Uid)
	}
	for _, p := range []string{dir, filepath.Join(dir, "state", "deep", "f"), filepath.Join(dir, "state", "link-out"), filepath.Join(dir, "dir-out")} {
		if got := owner(p); got != uid {
			t.Errorf("%s owned by %d, want %d", p, got, uid)
		}
	}
	if owner(alien) != 1000 {
		t.Fatal("another user's file was handed to the tenant")
	}
	if owner(outside) != 0 || owner(base) != 0 || owner(filepath.Join(dir, "state", "hardlink-out")) != 0 {
		t.Fatal("the chown followed a symlink out of the tenant directory")
	}
	// Already the tenant's: nothing to walk (a file given away stays so).
	os.Lchown(filepath.Join(dir, "state", "deep", "f"), 123, 123)
	if err := ChownTree(dir, uid, uid, func(int) bool { return false }); err != nil || owner(filepath.Join(dir, "state", "deep", "f")) != 123 {
		t.Fatalf("second run walked the tree: %v", err)
	}
	if err := ChownTree(filepath.Join(base, "missing"), uid, uid, nil); err != nil {
		t.Fatalf("missing dir: %v", err)
	}
	if err := ChownTree(filepath.Join(dir, "dir-out"), uid, uid, nil); err == nil {
		t.Fatal("a symlinked tenant directory was walked")
	}
}
