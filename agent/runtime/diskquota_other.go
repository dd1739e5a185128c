//go:build !linux

package runtime

import (
	"errors"
	"log/slog"
)

var errGrowOffline = errors.New("the disk must grow while unmounted")

var errNoQuota = errors.New("disk quotas need Linux")

// diskQuota is Linux only (loop-mounted ext4 images).
type diskQuota struct{}

func newDiskQuota(string, string, *slog.Logger) (*diskQuota, error) { return nil, errNoQuota }
func (*diskQuota) ensure(string, string, int64, int, int) error     { return errNoQuota }
func (*diskQuota) growOffline(string, string) error                 { return errNoQuota }
func (*diskQuota) release(string) error                             { return nil }
func (*diskQuota) mountImages(map[string]string) map[string]bool    { return nil }
func (*diskQuota) usage(string, string) (int64, int64, bool)        { return 0, 0, false }
func mountOf(string) (bool, string)                                 { return false, "" }
