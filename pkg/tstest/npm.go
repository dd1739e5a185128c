package tstest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

type npmInstall struct {
	once sync.Once
	dir  string
	err  error
}

var (
	npmMu       sync.Mutex
	npmInstalls = map[string]*npmInstall{}
)

// NPM runs an install script of pinned npm packages (such as
// cloud/sso/testdata/npm/install.sh, which hands its files to npm-install.sh
// beside this file: it prints the directory holding their node_modules) once
// per test binary, and returns that directory. Without
// node or npm the test skips, except in CI (CI set), where that is a
// failure; what names the tests in those messages.
func NPM(t testing.TB, script, what string) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed for %s: %v", tool, what, err)
			}
			t.Skipf("%s not found: skipping %s", tool, what)
		}
	}
	npmMu.Lock()
	in := npmInstalls[script]
	if in == nil {
		in = &npmInstall{}
		npmInstalls[script] = in
	}
	npmMu.Unlock()
	in.once.Do(func() {
		var stderr bytes.Buffer
		cmd := exec.Command("bash", script)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			in.err = errors.New("install the npm packages (" + script + "): " + err.Error() + ": " + stderr.String())
			return
		}
		in.dir = strings.TrimSpace(string(out))
	})
	if in.err != nil {
		t.Fatal(in.err)
	}
	return in.dir
}
