// Package hostfs makes and hands over tenants' directories on the host as
// root without being led astray by what a tenant put in them: no symlink is
// followed, no file of root or of another user is given away.
package hostfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// OpenNoFollow opens the regular file at path for reading without following
// a symlink in its place (O_NOFOLLOW) and without blocking on a FIFO or a
// device put there (O_NONBLOCK): the file lives in a directory a tenant can
// write to, and the agent reading it must neither be led elsewhere nor hang.
// Anything but a regular file is an error.
func OpenNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ErrTooLarge is wrapped by ReadFile's error for a file over its bound.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads the regular file at path (see OpenNoFollow), at most max
// bytes: a larger file is an error wrapping ErrTooLarge, so a tenant cannot
// make the agent read gigabytes.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := OpenNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", path, ErrTooLarge, max)
	}
	return b, nil
}

// MkdirNoFollow makes dir (parents must exist) unless it exists as a
// directory, and sets its owner when uid >= 0. A symlink in its place is
// an error.
func MkdirNoFollow(dir string, mode os.FileMode, uid, gid int) error {
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if uid >= 0 {
		return os.Lchown(dir, uid, gid)
	}
	return nil
}

// ChownTree gives dir and what in it belongs to its previous owner (or to
// an owner mayTake accepts) to uid/gid, when dir exists under another owner
// (a tenant directory from an agent that ran gateways as a shared user, or
// a tenant's kept data locked to root when it was removed). It runs as root
// over files an unprivileged user controlled, so it never leaves dir
// (os.Root refuses symlinks pointing outside it, even ones swapped in while
// it walks, and Lchown changes links, not targets) and hands over no file
// of root or of another user that found its way in (a hard link, a copy
// raced into the tree). dir itself is done last, so an interrupted walk is
// done again.
func ChownTree(dir string, uid, gid int, mayTake func(owner int) bool) error {
	if uid < 0 {
		return nil
	}
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	top, ok := st.Sys().(*syscall.Stat_t)
	if !ok || (int(top.Uid) == uid && int(top.Gid) == gid) {
		return nil
	}
	prev := int(top.Uid)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || name == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		s, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		owner := int(s.Uid)
		if owner == 0 || owner == uid || (owner != prev && !mayTake(owner)) {
			return nil
		}
		return root.Lchown(name, uid, gid)
	})
	if err != nil {
		return err
	}
	return root.Lchown(".", uid, gid)
}

// LockDir makes dir root's alone (0700) if it exists: a removed tenant's
// kept data, which no other tenant that later runs as its uid may enter.
func LockDir(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil || !st.IsDir() {
		return err
	}
	if err := os.Lchown(dir, 0, 0); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}
