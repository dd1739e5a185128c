package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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

// TestReadFileRefuses: what a tenant may put in place of a file the agent
// reads back (a FIFO, a symlink, a device, a huge file) is refused at once,
// never followed, blocked on or read whole.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.WriteFile(outside, []byte("root's secret"), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Should a read block on the FIFO after all, a writer releases it so
	// the test fails instead of hanging.
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	})
	link := filepath.Join(dir, "link")
	os.Symlink(outside, link)
	zero := filepath.Join(dir, "zero")
	os.Symlink("/dev/zero", zero)
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok")
	os.WriteFile(ok, []byte("1234\n"), 0o600)

	for _, tc := range []struct {
		name, path string
		want       string // "" when it must fail
	}{
		{"regular", ok, "1234\n"},
		{"fifo", fifo, ""},
		{"symlink", link, ""},
		{"symlink to a device", zero, ""},
		{"device", "/dev/zero", ""},
		{"directory", dir, ""},
		{"over the bound", big, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			var b []byte
			var err error
			go func() {
				defer close(done)
				b, err = ReadFile(tc.path, 1024)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFile blocked")
			}
			if tc.want == "" {
				if err == nil {
					t.Fatalf("read %q, want an error", b)
				}
				return
			}
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %q, %v", b, err)
			}
		})
	}
	if _, err := ReadFile(big, 1024); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big: %v", err)
	}
}
