//go:build !linux

package diskquota

import (
	"errors"
	"log/slog"
)

// ErrGrowOffline: see the Linux implementation.
var ErrGrowOffline = errors.New("the disk must grow while unmounted")

var errNoQuota = errors.New("disk quotas need Linux")

// Quota is Linux only (loop-mounted ext4 images).
type Quota struct{}

// New fails: disk quotas need Linux.
func New(string, string, *slog.Logger) (*Quota, error) { return nil, errNoQuota }

func (*Quota) Ensure(string, string, int64, int, int) error  { return errNoQuota }
func (*Quota) GrowOffline(string, string) error              { return errNoQuota }
func (*Quota) Release(string) error                          { return nil }
func (*Quota) MountAll(string)                               {}
func (*Quota) MountImages(map[string]string) map[string]bool { return nil }
func (*Quota) Usage(string, string) (int64, int64, bool)     { return 0, 0, false }
func (*Quota) ReleaseAll(string)                             {}

// MountOf reports no mounts: there are no tenant disks off Linux.
func MountOf(string) (bool, string) { return false, "" }
