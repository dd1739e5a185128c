//go:build linux

package tstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// RunWithout runs tests (names of this test binary's tests) in a mount
// namespace of their own where the executables names are hidden (/dev/null
// bound over them, wherever PATH or the system directories have them), as
// on a machine without them, and fails t unless each of them passes there.
// It needs root and unshare(1).
func RunWithout(t *testing.T, tests []string, names ...string) {
	t.Helper()
	var hide []string
	for _, n := range names {
		for _, d := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin") {
			p, err := filepath.EvalSymlinks(filepath.Join(d, n))
			if err == nil && !slices.Contains(hide, p) {
				hide = append(hide, p)
			}
		}
	}
	var sh strings.Builder
	sh.WriteString("set -e\n")
	for _, p := range hide {
		fmt.Fprintf(&sh, "mount --bind /dev/null '%s'\n", p)
	}
	for _, n := range names {
		fmt.Fprintf(&sh, "if command -v %s >/dev/null 2>&1; then echo 'still found: %s'; exit 97; fi\n", n, n)
	}
	sh.WriteString(`exec "$0" -test.count=1 -test.v -test.run "$1"` + "\n")
	run := "^(" + strings.Join(tests, "|") + ")$"
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", sh.String(), os.Args[0], run)
	out, err := cmd.CombinedOutput()
	for _, name := range tests {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			err = fmt.Errorf("%s did not pass (%v)", name, err)
		}
	}
	if err != nil {
		tail := string(out)
		if len(tail) > 8000 {
			tail = tail[len(tail)-8000:]
		}
		t.Fatalf("without %s: %v\n%s", strings.Join(names, ", "), err, tail)
	}
	t.Logf("passed without %s (hidden: %s)", strings.Join(names, ", "), strings.Join(hide, " "))
}
