// Package atomicfile replaces files so that a crash or a power loss leaves
// either the old content or the new one at a path, never a torn or empty
// file: the one way clawfleet writes its state, credentials and keys.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile writes data to path durably and atomically: a temporary file in
// path's directory (which must exist) gets the data and perm (not reduced by
// the umask), is synced, and is renamed over path; then the directory is
// synced, so that the rename survives a power loss too. The temporary file
// is created exclusively and the rename replaces a symlink at path instead of
// writing through it, so this is safe in a directory another user can write
// to. On error path is as it was and no temporary file is left.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, -1, -1, false)
}

// WriteFileOwned is WriteFile with the file given to uid:gid before it takes
// path's place (uid < 0: left to the caller's identity).
func WriteFileOwned(path string, data []byte, perm fs.FileMode, uid, gid int) error {
	return write(path, data, perm, uid, gid, false)
}

// Create is WriteFile for a file that must not exist yet: when path exists it
// fails with an error matching fs.ErrExist and leaves it alone, so processes
// racing to create path agree on one content (the temporary file is
// hard-linked into place). On a filesystem without hard links it falls back
// to a rename, which cannot tell that another process won the race.
func Create(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, -1, -1, true)
}

// Rename puts a complete file made by other means (a disk image another
// program filled) at newpath durably: its data is synced, it is renamed, and
// the directory is synced, so that once Rename returns a crash leaves the
// file at newpath with all its data (and what it replaced is gone).
func Rename(oldpath, newpath string) error {
	f, err := os.Open(oldpath)
	if err != nil {
		return fmt.Errorf("rename %s: %w", oldpath, err)
	}
	err = syncFile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(oldpath, newpath)
	}
	if err != nil {
		return fmt.Errorf("rename %s: %w", oldpath, err)
	}
	if err := syncDir(filepath.Dir(newpath)); err != nil {
		return fmt.Errorf("rename %s: sync the directory of %s: %w", oldpath, newpath, err)
	}
	return nil
}

// syncFile is (*os.File).Sync; tests make it fail.
var syncFile = (*os.File).Sync

func write(path string, data []byte, perm fs.FileMode, uid, gid int, exclusive bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after a rename; the extra name after a link
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && uid >= 0 {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if exclusive {
		err = os.Link(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", path, err)
		}
	}
	if !exclusive || err != nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: sync its directory: %w", path, err)
	}
	return nil
}

// syncDir makes the directory's entries durable (the rename or link just
// made). A filesystem that cannot sync a directory makes no promise about
// it anyway.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}
