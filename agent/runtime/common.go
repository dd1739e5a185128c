package runtime

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
)

// Disk quota modes of ProcessOptions.DiskQuota and DockerOptions.DiskQuota.
const (
	DiskQuotaAuto = "auto" // loop images when the agent can, else none with a warning
	DiskQuotaLoop = "loop" // required: the runtime fails to start without it
	DiskQuotaOff  = "off"
)

// startDiskQuota sets up disk quotas in mode (DiskQuota*): nil, nil when
// they are off or, in auto mode, not possible here (logged).
// mountsSeenBy, when not empty, names a process that must see the agent's
// mounts (the docker runtime: dockerd binds the tenants' directories).
func startDiskQuota(mode, dataDir, mountsSeenBy string, log *slog.Logger) (*diskQuota, error) {
	switch mode {
	case "", DiskQuotaAuto, DiskQuotaLoop:
		q, err := newDiskQuota(dataDir, mountsSeenBy, log)
		if err != nil {
			if mode == DiskQuotaLoop {
				return nil, fmt.Errorf("disk quotas: %w", err)
			}
			log.Warn("no disk quotas for gateways (" + err.Error() + "): a tenant can fill the host's disk; run the agent as root with e2fsprogs and loop devices to enforce the plans' disk limits")
			return nil, nil
		}
		log.Info("enforcing the plans' disk limits with a loop-mounted ext4 image per tenant")
		return q, nil
	case DiskQuotaOff:
		log.Warn("disk quotas disabled: a tenant can fill the host's disk")
		return nil, nil
	}
	return nil, fmt.Errorf("disk quota %q: use %s, %s or %s", mode, DiskQuotaAuto, DiskQuotaLoop, DiskQuotaOff)
}

// diskSize decides whether a tenant's disk is an image, and its size: the
// plan's diskBytes, or the existing image's size when the plan sets none.
// A tenant whose image exists cannot run without quotas: it would start on
// the empty directory under it, its data hidden.
func diskSize(quotas bool, img string, planBytes int64) (int64, bool, error) {
	st, err := os.Stat(img)
	exists := err == nil
	switch {
	case !quotas && exists:
		return 0, false, fmt.Errorf("its disk image %s exists but disk quotas are off on this agent (--tenant-disk-quota): starting it would hide its data", img)
	case !quotas:
		return 0, false, nil
	case planBytes > 0:
		return planBytes, true, nil
	case exists:
		return st.Size(), true, nil
	}
	return 0, false, nil
}

// agentID is what tells this agent's things from another agent's on the
// same machine: a hash of its data dir. Names take a prefix of it (network
// namespaces 2 bytes, the tenant uid window 2 bytes, docker labels 6).
func agentID(dataDir string) [32]byte { return sha256.Sum256([]byte(dataDir)) }

// markerEnv is set in every gateway's environment to the tenant ID; it is
// how a leftover process of a previous agent is recognised.
const markerEnv = "CLAWFLEET_TENANT"

// ErrPortInUse is wrapped by Ensure's error when a tenant's port (or one
// derived from it) is taken by another process.
var ErrPortInUse = errors.New("port in use")

// mkdirNoFollow makes dir (parents must exist) unless it exists as a
// directory, and sets its owner when uid >= 0. A symlink in its place is
// an error.
func mkdirNoFollow(dir string, mode os.FileMode, uid, gid int) error {
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

// chownTree gives dir and what in it belongs to its previous owner (or to
// an owner mayTake accepts) to uid/gid, when dir exists under another owner
// (a tenant directory from an agent that ran gateways as a shared user, or
// a tenant's kept data locked to root when it was removed). It runs as root
// over files an unprivileged user controlled, so it never leaves dir
// (os.Root refuses symlinks pointing outside it, even ones swapped in while
// it walks, and Lchown changes links, not targets) and hands over no file
// of root or of another user that found its way in (a hard link, a copy
// raced into the tree). dir itself is done last, so an interrupted walk is
// done again.
func chownTree(dir string, uid, gid int, mayTake func(owner int) bool) error {
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

// lockDir makes dir root's alone (0700) if it exists: a removed tenant's
// kept data, which no other tenant that later runs as its uid may enter.
func lockDir(dir string) error {
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
