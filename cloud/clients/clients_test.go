// Package clients_test checks the TypeScript client (typescript/) and the
// Next.js example (nextjs-example/) with node against a real cloud
// (cloud/servertest): the client is what docs/api.yaml generates, its types
// compile, and its calls work. The npm packages are installed once into a
// cache (install.sh). Without node or npm the tests skip, except in CI (CI
// set), where that is a failure.
package clients_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/cloud/sso/ssotest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// workspace is a copy of cloud/clients with the pinned packages in its
// node_modules (hard links into the cache made by install.sh), in which
// node runs and Next.js builds without touching the source tree.
func workspace(t *testing.T) string {
	t.Helper()
	cache := tstest.NPM(t, "install.sh", "the TypeScript client's tests")
	w := t.TempDir()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".next") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(w, path), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(w, path), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Hard links: Next.js refuses a node_modules that links out of its
	// root. The workspace links inside (node_modules/@clawfleet/client →
	// ../../typescript) are relative, so they name the copy.
	nm := filepath.Join(cache, "node_modules")
	if out, err := exec.Command("cp", "-al", nm, w).CombinedOutput(); err != nil {
		t.Logf("hard links into the cache failed (%v: %s); copying node_modules", err, out)
		if out, err := exec.Command("cp", "-a", nm, w).CombinedOutput(); err != nil {
			t.Fatalf("copy node_modules: %v: %s", err, out)
		}
	}
	return w
}

// run runs a command in dir, logs its output and fails the test if it
// fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The committed client is what docs/api.yaml generates: it cannot drift.
func TestClientGenerated(t *testing.T) {
	w := workspace(t)
	spec, err := filepath.Abs("../../docs/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(w, "generated.d.ts")
	run(t, w, []string{"SPEC=" + spec, "OUT=" + got}, "npm", "run", "--silent", "generate")
	want, err := os.ReadFile("typescript/schema.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	if gen, _ := os.ReadFile(got); !bytes.Equal(gen, want) {
		t.Fatal("cloud/clients/typescript/schema.d.ts is not what docs/api.yaml generates: run `make openapi-client` and commit the file")
	}
}

// The client's declarations and the generated types compile, strictly,
// and refuse what they should (typescript/typecheck.ts).
func TestClientTypes(t *testing.T) {
	w := workspace(t)
	run(t, w, nil, "node", "node_modules/typescript/bin/tsc", "-p", "typescript")
}

// The client against a real cloud: typescript/client.test.js, run with
// node --test.
func TestClientAgainstCloud(t *testing.T) {
	w := workspace(t)
	sso := ssotest.Start(t)
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags(sso.Flags()...))
	ag := c.AddHost("box-1")
	ag.AutoRun()
	lines := []string{`{"time":"2026-12-03T10:00:00Z","level":"info","msg":"gateway ready"}`, "plain line"}
	ag.SetLogs(lines...)
	logs, _ := json.Marshal(lines)
	nodeTest(t, filepath.Join(w, "typescript"), []string{
		"CLAWFLEET_URL=" + c.URL,
		"CLAWFLEET_SHARED_SECRET=" + servertest.SharedSecret,
		"CLAWFLEET_ADMIN_TOKEN=" + servertest.AdminToken,
		"CLAWFLEET_SSO_USER=sso-user",
		"CLAWFLEET_SSO_TOKEN=" + sso.Token(t, "sso-user", "sso@example.com", time.Hour),
		"CLAWFLEET_LOG_LINES=" + string(logs),
	}, "client.test.js")
}

// nodeTest runs node --test on a script, its report in the test's log.
func nodeTest(t *testing.T, dir string, env []string, script string) {
	t.Helper()
	cmd := exec.Command("node", "--test", "--test-reporter=spec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	if err != nil {
		t.Fatalf("node --test %s: %v (its report is above)", script, err)
	}
}
