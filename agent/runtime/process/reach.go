//go:build linux

package process

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// gatewaysReach checks, as New starts, that gateways running as another
// user than the agent can reach their directories and the OpenClaw
// executable.
func (p *Runtime) gatewaysReach() error {
	uid, gid := p.uid, p.gid
	if uid == perTenant {
		uid, gid = -1, -1
	}
	if err := reachable(p.opts.DataDir, uid, gid, 0o1, "tenant data dir",
		"use a state dir outside it (--state-dir or CLAWFLEET_STATE_DIR, e.g. /var/lib/clawfleet)"); err != nil {
		return err
	}
	// exec follows symlinks: both the path and what it leads to count (npm
	// installs link into a package's directory).
	elsewhere := "install OpenClaw outside it (e.g. under /opt, as firmware/openclaw/install.sh does)"
	if err := reachable(p.opts.OpenClawBin, uid, gid, 0o5, "OpenClaw executable", elsewhere); err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(p.opts.OpenClawBin); err == nil && real != p.opts.OpenClawBin {
		return reachable(real, uid, gid, 0o5, "OpenClaw executable", elsewhere)
	}
	return nil
}

// reachable fails, saying what to change, when a gateway running as uid:gid
// (uid < 0: a tenant uid of its own, in no group of the host) cannot reach
// path: every directory above it must let it pass (x), and path itself
// grant want (mode bits of the owner, group or others, as they apply; ACLs
// are not consulted). A root agent whose state dir is under a home
// directory or a `mktemp -d` (0700) would otherwise start gateways that
// exit with EACCES, over and over. what names path for the operator and
// elsewhere says how to move it out.
func reachable(path string, uid, gid int, want os.FileMode, what, elsewhere string) error {
	who := "other users"
	if uid >= 0 {
		who = fmt.Sprintf("uid %d", uid)
	}
	check := func(p string, bits os.FileMode) error {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, path, err)
		}
		s, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm, shift := st.Mode().Perm(), 0 // others
		switch {
		case uid >= 0 && int(s.Uid) == uid:
			shift = 6
		case gid >= 0 && int(s.Gid) == gid:
			shift = 3
		}
		if perm>>shift&bits == bits {
			return nil
		}
		doing, fix := "pass through it", fmt.Sprintf("chmod o+x %s, which lets them pass without listing it", p)
		if p == path {
			doing, fix = "use it", fmt.Sprintf("chmod o+%s %s", rwx(bits), p)
		}
		return fmt.Errorf("the gateways run as their own users, and the %s %s is out of their reach: %s (mode %04o, owner uid %d) does not let %s %s; %s, or %s",
			what, path, p, perm, s.Uid, who, doing, elsewhere, fix)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if err := check(dir, 1); err != nil {
			return err
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	return check(path, want)
}

// rwx spells mode bits (of one class) as chmod takes them.
func rwx(bits os.FileMode) string {
	s := ""
	for i, c := range "rwx" {
		if bits&(4>>i) != 0 {
			s += string(c)
		}
	}
	return s
}
