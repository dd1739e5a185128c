package diskquota

import (
	"fmt"
	"log/slog"
	"os"
)

// Modes of the runtimes' DiskQuota option.
const (
	Auto = "auto" // loop images when the agent can, else none with a warning
	Loop = "loop" // required: the runtime fails to start without it
	Off  = "off"
)

// Start sets up disk quotas in mode (Auto, Loop, Off): nil, nil when they
// are off or, in auto mode, not possible here (logged). mountsSeenBy, when
// not empty, names a process that must see the agent's mounts (the docker
// runtime: dockerd binds the tenants' directories).
func Start(mode, dataDir, mountsSeenBy string, log *slog.Logger) (*Quota, error) {
	switch mode {
	case "", Auto, Loop:
		q, err := New(dataDir, mountsSeenBy, log)
		if err != nil {
			if mode == Loop {
				return nil, fmt.Errorf("disk quotas: %w", err)
			}
			log.Warn("no disk quotas for gateways (" + err.Error() + "): a tenant can fill the host's disk; run the agent as root with e2fsprogs and loop devices to enforce the plans' disk limits")
			return nil, nil
		}
		log.Info("enforcing the plans' disk limits with a loop-mounted ext4 image per tenant")
		return q, nil
	case Off:
		log.Warn("disk quotas disabled: a tenant can fill the host's disk")
		return nil, nil
	}
	return nil, fmt.Errorf("disk quota %q: use %s, %s or %s", mode, Auto, Loop, Off)
}

// Size decides whether a tenant's disk is an image, and its size: the
// plan's diskBytes, or the existing image's size when the plan sets none.
// A tenant whose image exists cannot run without quotas: it would start on
// the empty directory under it, its data hidden.
func Size(quotas bool, img string, planBytes int64) (int64, bool, error) {
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
