package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// names lists dir's entries, so a test sees a temporary file left behind.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		before  func(t *testing.T, path string) // what is at path first
		perm    fs.FileMode
		want    string // content at path afterwards
		wantErr bool
	}{
		{name: "new file", perm: 0o600, want: "new"},
		{name: "perm not reduced by the umask", perm: 0o666, want: "new"},
		{name: "replaces a file, with its own perm", perm: 0o640, want: "new", before: func(t *testing.T, p string) {
			os.WriteFile(p, []byte("old"), 0o644)
		}},
		{name: "replaces a symlink, not its target", perm: 0o600, want: "new", before: func(t *testing.T, p string) {
			target := filepath.Join(t.TempDir(), "target")
			os.WriteFile(target, []byte("target"), 0o600)
			os.Symlink(target, p)
			t.Cleanup(func() {
				if b, _ := os.ReadFile(target); string(b) != "target" {
					t.Errorf("wrote through the symlink: target holds %q", b)
				}
			})
		}},
		{name: "a directory in the way stays", perm: 0o600, wantErr: true, before: func(t *testing.T, p string) {
			os.Mkdir(p, 0o700)
			os.WriteFile(filepath.Join(p, "inside"), []byte("x"), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if tc.before != nil {
				tc.before(t, path)
			}
			err := WriteFile(path, []byte("new"), tc.perm)
			if got := names(t, dir); !slices.Equal(got, []string{"f.json"}) {
				t.Errorf("directory holds %v, want only f.json", got)
			}
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if st, err := os.Lstat(path); err != nil || !st.IsDir() {
					t.Fatalf("what was in the way changed: %v %v", st, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Lstat(path)
			if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != tc.perm {
				t.Fatalf("file %v (%v), want a regular file with %v", st.Mode(), err, tc.perm)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.want {
				t.Fatalf("content %q, want %q", b, tc.want)
			}
		})
	}
}

// TestFailedWriteKeepsOld: a write that fails before the rename (here the
// sync, as on a full or failing disk) leaves the old file as it was.
func TestFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	syncFile = func(*os.File) error { return syscall.EIO }
	t.Cleanup(func() { syncFile = (*os.File).Sync })
	for _, write := range []func() error{
		func() error { return WriteFile(path, []byte("new"), 0o644) },
		func() error { return WriteFileOwned(path, []byte("new"), 0o644, -1, -1) },
	} {
		if err := write(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("error %v, want the sync's", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "old" {
			t.Fatalf("old file now holds %q", b)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Fatalf("old file's mode changed to %v", st.Mode())
		}
		if got := names(t, dir); !slices.Equal(got, []string{"f"}) {
			t.Fatalf("directory holds %v", got)
		}
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "no", "f"), []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v, want not-exist", err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("created %v", got)
	}
}

func TestWriteFileOwned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFileOwned(path, []byte("x"), 0o600, 65534, 65533); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 65534 || s.Gid != 65533 {
		t.Fatalf("owned by %d:%d", s.Uid, s.Gid)
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := Create(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Create(path, []byte("second"), 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v, want exist", err)
	}
	st, _ := os.Stat(path)
	if b, _ := os.ReadFile(path); string(b) != "first" || st.Mode().Perm() != 0o600 {
		t.Fatalf("after a second Create: %q %v", b, st.Mode())
	}
	if got := names(t, dir); !slices.Equal(got, []string{"key"}) {
		t.Fatalf("directory holds %v", got)
	}
}

func TestRename(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "img.new"), filepath.Join(dir, "img")
	os.WriteFile(from, []byte("image"), 0o600)
	os.WriteFile(to, []byte("old"), 0o600)
	if err := Rename(from, to); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(to); string(b) != "image" {
		t.Fatalf("%s holds %q", to, b)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"img"}) {
		t.Fatalf("directory holds %v", got)
	}
	if err := Rename(from, to); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("renaming a missing file: %v", err)
	}
	// Its data not synced: nothing is renamed.
	os.WriteFile(from, []byte("image 2"), 0o600)
	syncFile = func(*os.File) error { return syscall.EIO }
	t.Cleanup(func() { syncFile = (*os.File).Sync })
	if err := Rename(from, to); !errors.Is(err, syscall.EIO) {
		t.Fatalf("error %v, want the sync's", err)
	}
	if b, _ := os.ReadFile(to); string(b) != "image" {
		t.Fatalf("%s holds %q after a failed rename", to, b)
	}
}
