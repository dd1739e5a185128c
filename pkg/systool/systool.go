// Package systool finds the system tools (ip, nsenter, setpriv…) the agent
// and the hub drive, also when PATH lacks the sbin directories (systemd
// units and cron often run with a short PATH).
package systool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Look returns the path of an executable named name: from PATH, else from
// the usual system directories.
func Look(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or the system directories", name)
}
