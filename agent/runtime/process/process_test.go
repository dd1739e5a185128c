//go:build linux

package process

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/diskquota"
	"github.com/clawfleet/clawfleet/agent/runtime/gateway"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/agent/runtime/uids"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

func readPid(t *testing.T, dataDir, id string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, id, procPidFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func procUID(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Uid:") {
			return strings.Fields(l)[1]
		}
	}
	return ""
}

func TestProcessRuntime(t *testing.T) {
	oldMin := backoffMin
	backoffMin = 300 * time.Millisecond
	t.Cleanup(func() { backoffMin = oldMin })

	bin := runtimetest.Standin(t)
	dataDir := filepath.Join(runtimetest.Dir(t), "tenants")
	removeNetns(t, dataDir)
	newP := func() *Runtime {
		p, err := New(Options{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, NetnsPool: runtimetest.NetnsPool, Logger: runtimetest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := newP()
	closed := false
	t.Cleanup(func() {
		if !closed {
			p.Close()
		}
	})
	ctx := runtimetest.Ctx(t)
	if p.Name() != "process" {
		t.Fatal(p.Name())
	}

	portA := runtimetest.FreeBase(t)
	portB := runtimetest.FreeBase(t, portA)
	a, b := runtimetest.Spec("ten_alpha0001", portA), runtimetest.Spec("ten_bravo0002", portB)
	for _, s := range []proto.TenantSpec{a, b} {
		if err := p.Ensure(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	upA, upB := runtimetest.Upstream(t, p, a.ID), runtimetest.Upstream(t, p, b.ID)
	up := map[string]string{a.ID: upA, b.ID: upB}
	runtimetest.WaitReady(t, upA, 10*time.Second)
	runtimetest.WaitReady(t, upB, 10*time.Second)

	// Each running gateway's usage is measured (its cgroup, else its /proc tree).
	measured, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range measured {
		if in.Usage == nil || in.Usage.MemoryBytes <= 0 || in.Usage.CPUUsec < 0 {
			t.Fatalf("%s: usage %+v (cgroups %v)", in.TenantID, in.Usage, p.cg != nil)
		}
	}

	// Separate directories, config files, ports, identities.
	for _, s := range []proto.TenantSpec{a, b} {
		dir := filepath.Join(dataDir, s.ID)
		cfg, err := gateway.Read(filepath.Join(dir, procConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		wantBind := map[string]string{runtime.IsolationNetns: gateway.BindCustom, runtime.IsolationLoopback: gateway.BindLoopback}[p.Isolation()]
		if cfg.Gateway.Port != s.Port || cfg.Gateway.Bind != wantBind || cfg.Gateway.Auth.Mode != proto.GatewayAuthTrustedProxy || cfg.Gateway.Auth.Token != "" || cfg.Logging.File != filepath.Join(dir, procLogFile) {
			t.Fatalf("%s: config %+v", s.ID, cfg)
		}
		st, err := os.Stat(filepath.Join(dir, procConfigFile))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("config mode: %v %v", st.Mode(), err)
		}
		if _, err := os.Stat(filepath.Join(dir, procStateDir, "standin-started")); err != nil {
			t.Fatalf("%s: gateway did not use its state dir: %v", s.ID, err)
		}
		code, body, err := runtimetest.Get(up[s.ID], "/", runtimetest.Proxied...)
		if err != nil || code != 200 || !strings.Contains(body, "clawfleet stand-in gateway") || !strings.Contains(body, s.ID) {
			t.Fatalf("%s: / = %d %q %v", s.ID, code, body, err)
		}
		pid := readPid(t, dataDir, s.ID)
		if pid == 0 {
			t.Fatalf("%s: no pid file", s.ID)
		}
		if os.Geteuid() == 0 {
			want, _, _ := p.tenantIDs(s.ID)
			if uid := procUID(pid); uid != strconv.Itoa(want) || want < uids.DefaultBase {
				t.Fatalf("%s: gateway runs as uid %s, want its own %d", s.ID, uid, want)
			}
			if st, _ := os.Stat(dir); int(st.Sys().(*syscall.Stat_t).Uid) != want || st.Mode().Perm() != 0o700 {
				t.Fatalf("%s: tenant dir not the tenant uid's alone: %v", s.ID, st.Mode())
			}
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if !strings.Contains(string(env), "OPENCLAW_STATE_DIR="+filepath.Join(dir, procStateDir)+"\x00") || strings.Contains(string(env), "GOROOT=") {
			t.Fatalf("%s: unexpected environment %q", s.ID, env)
		}
	}
	if os.Geteuid() == 0 {
		// One tenant's identity cannot read, list or write the other's files.
		uidA, _, _ := p.tenantIDs(a.ID)
		uidB, _, _ := p.tenantIDs(b.ID)
		if uidA == uidB {
			t.Fatalf("tenants share uid %d", uidA)
		}
		dirA := filepath.Join(dataDir, a.ID)
		for _, probe := range [][]string{
			{"cat", filepath.Join(dirA, procConfigFile)},
			{"ls", filepath.Join(dirA, procStateDir)},
			{"touch", filepath.Join(dirA, "planted")},
		} {
			cmd := exec.Command(probe[0], probe[1:]...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uidB), Gid: uint32(uidB), Groups: []uint32{}}}
			if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
				t.Fatalf("tenant B's uid ran %v on A's files: %v %s", probe, err, out)
			}
		}
	}
	list, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in, ok := runtimetest.Find(list, a.ID); !ok || in.State != proto.TenantStarting || in.Port != portA || in.StartedAtMs == 0 || in.Restarts != 0 || in.Isolation != p.Isolation() {
		t.Fatalf("List: %+v", list)
	}

	// kill -9 → restarted with backoff, Restarts counts it.
	pidA := readPid(t, dataDir, a.ID)
	if err := syscall.Kill(pidA, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tstest.AwaitErr(t, "restart after kill -9", 10*time.Second, func() error {
		list, _ := p.List(ctx)
		in, _ := runtimetest.Find(list, a.ID)
		if in.Restarts != 1 {
			return fmt.Errorf("restarts %d", in.Restarts)
		}
		if np := readPid(t, dataDir, a.ID); np == 0 || np == pidA {
			return fmt.Errorf("pid %d", np)
		}
		return nil
	})
	runtimetest.WaitReady(t, upA, 10*time.Second)
	list, _ = p.List(ctx)
	if in, _ := runtimetest.Find(list, a.ID); in.State != proto.TenantStarting {
		t.Fatalf("after one crash: %+v", in)
	}

	// RestartGen bump → new process.
	pidB := readPid(t, dataDir, b.ID)
	b.RestartGen = 7
	if err := p.Ensure(ctx, b); err != nil {
		t.Fatal(err)
	}
	if np := readPid(t, dataDir, b.ID); np == pidB || np == 0 {
		t.Fatalf("restartGen bump: pid %d → %d", pidB, np)
	}
	runtimetest.WaitReady(t, upB, 10*time.Second)
	list, _ = p.List(ctx)
	if in, _ := runtimetest.Find(list, b.ID); in.RestartGen != 7 || in.Restarts != 0 {
		t.Fatalf("after restartGen bump: %+v", in)
	}
	// Same spec again: nothing happens, not even a (synced) rewrite of its
	// instance file.
	pidB = readPid(t, dataDir, b.ID)
	meta := filepath.Join(dataDir, b.ID, procMetaFile)
	before, err := os.Stat(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ensure(ctx, b); err != nil || readPid(t, dataDir, b.ID) != pidB {
		t.Fatalf("idempotent Ensure restarted the gateway: %v", err)
	}
	if after, err := os.Stat(meta); err != nil || !os.SameFile(before, after) {
		t.Fatalf("idempotent Ensure rewrote %s: %v", procMetaFile, err)
	}

	// Logs: own lines only.
	logsA, err := p.Logs(ctx, a.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(logsA, "\n")
	if !strings.Contains(joined, "GET /readyz") || !strings.Contains(joined, a.ID) || strings.Contains(joined, b.ID) || !strings.Contains(joined, "stdout| ") {
		t.Fatalf("logs of A: %q", logsA)
	}
	if l, _ := p.Logs(ctx, a.ID, 3); len(l) != 3 {
		t.Fatalf("tail 3 returned %d lines", len(l))
	}
	if _, err := p.Logs(ctx, "ten_unknown00", 10); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("logs of unknown tenant: %v", err)
	}

	// Busy port (loopback: the host's port; netns: another tenant's
	// network): a clear error, reported as failed.
	var c proto.TenantSpec
	if p.Isolation() == runtime.IsolationLoopback {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		c = runtimetest.Spec("ten_charlie003", busy.Addr().(*net.TCPAddr).Port)
	} else {
		c = runtimetest.Spec("ten_charlie003", portA+1) // same /30 as A
	}
	err = p.Ensure(ctx, c)
	if !errors.Is(err, runtime.ErrPortInUse) || !strings.Contains(err.Error(), "already") {
		t.Fatalf("busy port: %v", err)
	}
	list, _ = p.List(ctx)
	if in, _ := runtimetest.Find(list, c.ID); in.State != proto.TenantFailed || !strings.Contains(in.Error, "in use") {
		t.Fatalf("busy port instance: %+v", in)
	}

	// Stop.
	a.State = proto.TenantStopped
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitDown(t, upA, 5*time.Second)
	if processAlive(readPid(t, dataDir, a.ID)) {
		t.Fatal("pid file still names a live process after stop")
	}
	list, _ = p.List(ctx)
	if in, _ := runtimetest.Find(list, a.ID); in.State != proto.TenantStopped {
		t.Fatalf("stopped: %+v", in)
	}

	// Agent restart: a new Process finds the tenants from their directories.
	p.Close()
	closed = true
	runtimetest.WaitDown(t, upB, 5*time.Second)
	p = newP()
	closed = false
	list, err = p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []proto.TenantSpec{a, b, c} {
		in, ok := runtimetest.Find(list, s.ID)
		if !ok || in.State != proto.TenantStopped || in.Port != s.Port {
			t.Fatalf("after agent restart, %s: %+v (list %+v)", s.ID, in, list)
		}
	}
	if in, _ := runtimetest.Find(list, b.ID); in.RestartGen != 7 {
		t.Fatalf("restartGen not persisted: %+v", in)
	}
	if err := p.Ensure(ctx, b); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, upB, 10*time.Second)

	// Remove keeps data but forgets the instance; Purge deletes the data.
	if err := p.Remove(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitDown(t, upB, 5*time.Second)
	if p.Isolation() == runtime.IsolationNetns {
		// Its namespace is gone, and its address stays on this machine.
		host, _, _ := net.SplitHostPort(upB)
		def, _ := exec.Command("ip", "route", "show", "default").Output()
		if f := strings.Fields(string(def)); len(f) > 4 && f[3] == "dev" {
			if out, _ := exec.Command("ip", "route", "get", host).CombinedOutput(); strings.Contains(string(out), " dev "+f[4]+" ") {
				t.Fatalf("a removed tenant's address would leave the machine: %s", out)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, b.ID, procStateDir)); err != nil {
		t.Fatal("Remove deleted data")
	}
	if err := p.Purge(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, a.ID)); !os.IsNotExist(err) {
		t.Fatalf("Purge left the dir: %v", err)
	}
	if err := p.Purge(ctx, "ten_neverexisted"); err != nil {
		t.Fatalf("purge unknown: %v", err)
	}
	list, _ = p.List(ctx)
	for _, id := range []string{a.ID, b.ID} {
		if _, ok := runtimetest.Find(list, id); ok {
			t.Fatalf("%s still listed: %+v", id, list)
		}
	}
}

// TestProcessCrashLoop: a gateway that keeps exiting is reported failed
// with its exit error, and still retried.
func TestProcessCrashLoop(t *testing.T) {
	oldMin, oldMax := backoffMin, backoffMax
	backoffMin, backoffMax = 20*time.Millisecond, 40*time.Millisecond
	t.Cleanup(func() { backoffMin, backoffMax = oldMin, oldMax })
	dir := runtimetest.Dir(t)
	bin := filepath.Join(dir, "crash")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho crashing on purpose >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	removeNetns(t, filepath.Join(dir, "tenants"))
	p, err := New(Options{OpenClawBin: bin, DataDir: filepath.Join(dir, "tenants"), NetnsPool: runtimetest.NetnsPool, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := runtimetest.Ctx(t)
	s := runtimetest.Spec("ten_crashy0001", runtimetest.FreeBase(t))
	if err := p.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	tstest.AwaitErr(t, "failed state", 10*time.Second, func() error {
		list, _ := p.List(ctx)
		in, _ := runtimetest.Find(list, s.ID)
		if in.State != proto.TenantFailed || !strings.Contains(in.Error, "exited with code 3") {
			return fmt.Errorf("%+v", in)
		}
		return nil
	})
	logs, _ := p.Logs(ctx, s.ID, 10)
	if !strings.Contains(strings.Join(logs, "\n"), "crashing on purpose") {
		t.Fatalf("logs: %q", logs)
	}
}

// TestProcessKillsLeftovers: a gateway left by a previous agent (pid file +
// marker variable) is killed by New; an unrelated process named by a
// pid file is not.
func TestProcessKillsLeftovers(t *testing.T) {
	dir := runtimetest.Dir(t)
	dataDir := filepath.Join(dir, "tenants")
	start := func(id string, marker bool) *exec.Cmd {
		if err := os.MkdirAll(filepath.Join(dataDir, id), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sleep", "60")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if marker {
			cmd.Env = append(cmd.Env, runtime.MarkerEnv+"="+id)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		os.WriteFile(filepath.Join(dataDir, id, procPidFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
		return cmd
	}
	ours := start("ten_leftover01", true)
	other := start("ten_leftover02", false)
	done := make(chan error, 1)
	go func() { done <- ours.Wait() }()
	removeNetns(t, dataDir)
	p, err := New(Options{OpenClawBin: runtimetest.Standin(t), DataDir: dataDir, StopTimeout: 2 * time.Second, NetnsPool: runtimetest.NetnsPool, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("leftover gateway not killed")
	}
	if !processAlive(other.Process.Pid) {
		t.Fatal("an unrelated process was killed")
	}
}

// TestProcessTenantFilesTrap: a tenant controls its directory, so it may
// put a FIFO, a symlink or a huge file where the agent later reads its pid
// and instance files. A new agent must still start (killLeftovers), list
// (List) and place other tenants (netCollision) promptly, follow nothing,
// and leave the file it refused no longer in the way.
func TestProcessTenantFilesTrap(t *testing.T) {
	dir := runtimetest.Dir(t)
	dataDir := filepath.Join(dir, "tenants")
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte(`{"tenantId":"ten_trapsym0001","port":1}`), 0o600)
	var fifos []string
	mk := func(id string, plant func(path string) error, files ...string) {
		if err := os.MkdirAll(filepath.Join(dataDir, id), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			path := filepath.Join(dataDir, id, f)
			if err := plant(path); err != nil {
				t.Fatal(err)
			}
		}
	}
	fifo := func(path string) error {
		fifos = append(fifos, path)
		return syscall.Mkfifo(path, 0o600)
	}
	// Should the agent block on a FIFO after all, writers release it at the
	// end, so the test fails instead of hanging.
	t.Cleanup(func() {
		for _, f := range fifos {
			if w, err := os.OpenFile(f, os.O_RDWR, 0); err == nil {
				w.Close()
			}
		}
	})
	mk("ten_trapfifo001", fifo, procPidFile, procMetaFile)
	mk("ten_trapsym0001", func(path string) error { return os.Symlink(secret, path) }, procPidFile, procMetaFile)
	mk("ten_trapzero001", func(path string) error { return os.Symlink("/dev/zero", path) }, procPidFile, procMetaFile)
	mk("ten_trapbig0001", func(path string) error { return os.WriteFile(path, make([]byte, 1<<20), 0o600) }, procPidFile, procMetaFile)

	removeNetns(t, dataDir)
	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("%s blocked on a file a tenant planted", what)
		}
	}
	var p *Runtime
	within("New", func() {
		var err error
		p, err = New(Options{OpenClawBin: runtimetest.Standin(t), DataDir: dataDir, StopTimeout: 2 * time.Second, NetnsPool: runtimetest.NetnsPool,
			DiskQuota: diskquota.Off, Logger: runtimetest.Logger(t)})
		if err != nil {
			t.Error(err)
		}
	})
	if p == nil {
		t.FailNow()
	}
	defer p.Close()
	ctx := runtimetest.Ctx(t)
	within("List", func() {
		list, err := p.List(ctx)
		if err != nil {
			t.Error(err)
		}
		if in, ok := runtimetest.Find(list, "ten_trapsym0001"); ok && in.Port == 1 {
			t.Errorf("List followed the symlinked instance file: %+v", in)
		}
	})
	within("Ensure", func() {
		s := runtimetest.Spec("ten_trapnext001", runtimetest.FreeBase(t))
		if err := p.Ensure(ctx, s); err != nil {
			t.Error(err)
		}
	})
	for _, id := range []string{"ten_trapfifo001", "ten_trapsym0001", "ten_trapzero001", "ten_trapbig0001"} {
		if _, err := os.Lstat(filepath.Join(dataDir, id, procPidFile)); !os.IsNotExist(err) {
			t.Errorf("%s: the refused pid file is still there: %v", id, err)
		}
	}
	if b, _ := os.ReadFile(secret); !strings.Contains(string(b), "ten_trapsym0001") {
		t.Fatal("the symlink's target was changed")
	}
}

// TestProcessRefusesUnreachableDirs: a root agent whose state dir (or
// OpenClaw) sits under a directory other users cannot enter (a 0700 home or
// `mktemp -d`) would start per-tenant-uid gateways that exit with EACCES in
// a loop. New refuses, naming the directory and what to change; once it is
// traversable, gateways start.
func TestProcessRefusesUnreachableDirs(t *testing.T) {
	runtimetest.RequireRoot(t, "per-tenant uids")
	bin := runtimetest.Standin(t)
	private, err := os.MkdirTemp("", "clawfleet-private-") // as `mktemp -d`: 0700, root's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(private) })
	if st, _ := os.Stat(private); st.Mode().Perm() != 0o700 {
		t.Fatalf("want a 0700 directory, have %v", st.Mode())
	}
	dataDir := filepath.Join(private, "state", "tenants")
	removeNetns(t, dataDir)
	open := func(bin string) (*Runtime, error) {
		return New(Options{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 2 * time.Second, NetnsPool: runtimetest.NetnsPool,
			DiskQuota: diskquota.Off, Logger: runtimetest.Logger(t)})
	}
	p, err := open(bin)
	if err == nil {
		p.Close()
		t.Fatal("New accepted a data dir under a 0700 directory")
	}
	for _, want := range []string{private + " (mode 0700", "chmod o+x " + private, "--state-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	os.Chmod(private, 0o711)
	hidden := filepath.Join(runtimetest.Dir(t), "private")
	os.Mkdir(hidden, 0o700)
	b, _ := os.ReadFile(bin)
	os.WriteFile(filepath.Join(hidden, "openclaw"), b, 0o755)
	if p, err := open(filepath.Join(hidden, "openclaw")); err == nil || !strings.Contains(err.Error(), "OpenClaw executable") || !strings.Contains(err.Error(), "chmod o+x "+hidden) {
		if p != nil {
			p.Close()
		}
		t.Fatalf("OpenClaw under a 0700 directory: %v", err)
	}

	p, err = open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := runtimetest.Ctx(t)
	s := runtimetest.Spec("ten_reachable01", runtimetest.FreeBase(t))
	if err := p.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Purge(runtimetest.Ctx(t), s.ID) })
	runtimetest.WaitReady(t, runtimetest.Upstream(t, p, s.ID), 10*time.Second)
}

// TestTenantUIDLifecycle: a tenant keeps its uid across agent restarts;
// removing it kills what it left running and in /tmp and locks its kept
// data; purging frees the uid, which goes out again last.
func TestTenantUIDLifecycle(t *testing.T) {
	runtimetest.RequireRoot(t, "tenant uids")
	bin := runtimetest.Standin(t)
	dataDir := filepath.Join(runtimetest.Dir(t), "tenants")
	removeNetns(t, dataDir)
	open := func() *Runtime {
		p, err := New(Options{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, NetnsPool: runtimetest.NetnsPool,
			DiskQuota: diskquota.Off, Logger: runtimetest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := open()
	t.Cleanup(func() { p.Close() })
	ctx := runtimetest.Ctx(t)
	a := runtimetest.Spec("ten_uidalpha01", runtimetest.FreeBase(t))
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, runtimetest.Upstream(t, p, a.ID), 10*time.Second)
	uidA, _, _ := p.tenantIDs(a.ID)
	p.Close()
	p = open()
	if again, _, _ := p.tenantIDs(a.ID); again != uidA {
		t.Fatalf("uid %d after an agent restart, was %d", again, uidA)
	}
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, runtimetest.Upstream(t, p, a.ID), 10*time.Second)

	// The tenant's gateway leaves a daemon (its own session) and a file.
	daemon := exec.Command("setsid", "sleep", "300")
	daemon.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uidA), Gid: uint32(uidA), Groups: []uint32{}}}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	go daemon.Wait()
	tmpFile := filepath.Join("/tmp", "cf-uid-test-"+strconv.Itoa(uidA))
	os.WriteFile(tmpFile, []byte("left behind"), 0o600)
	os.Lchown(tmpFile, uidA, uidA)

	if err := p.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if pids := uids.PIDs(uidA); len(pids) != 0 {
		t.Fatalf("processes of the removed tenant's uid still run: %v", pids)
	}
	if _, err := os.Lstat(tmpFile); !os.IsNotExist(err) {
		t.Fatalf("the removed tenant's file in /tmp: %v", err)
	}
	st, _ := os.Stat(filepath.Join(dataDir, a.ID))
	if st.Sys().(*syscall.Stat_t).Uid != 0 || st.Mode().Perm() != 0o700 {
		t.Fatalf("kept data not locked: uid %d mode %v", st.Sys().(*syscall.Stat_t).Uid, st.Mode())
	}
	// Back again: same uid, its files its own again.
	if err := p.Ensure(ctx, a); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, runtimetest.Upstream(t, p, a.ID), 10*time.Second)
	if st, _ := os.Stat(filepath.Join(dataDir, a.ID, procStateDir, "standin-started")); st == nil || int(st.Sys().(*syscall.Stat_t).Uid) != uidA {
		t.Fatal("the returning tenant's files are not its own")
	}
	// Purged: the uid is free, and the next tenant gets another one.
	if err := p.Purge(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	b := runtimetest.Spec("ten_uidbravo02", runtimetest.FreeBase(t))
	if err := p.Ensure(ctx, b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Purge(runtimetest.Ctx(t), b.ID) })
	if uidB, _, _ := p.tenantIDs(b.ID); uidB == uidA {
		t.Fatalf("a freed uid went out again at once: %d", uidB)
	}
}

// TestProcessCrashLoopSettles: the stand-in made to exit at once settles
// in one failed state that says why, how often, when the next try is and
// what to do, and stays there while the supervisor keeps trying at a pace
// slower than backoffMax, even once its early crashes leave failWindow
// (it used to flip back to starting at every retry). A restart tries
// again at once.
func TestProcessCrashLoopSettles(t *testing.T) {
	// The window must hold failCrashes+1 crashes however slow a loaded
	// machine makes each (one took up to 400 ms under make check's -race
	// with other builds running; a 300 ms window then never filled).
	oldMin, oldMax, oldLoop, oldWindow, oldCrashes := backoffMin, backoffMax, loopBackoffMax, failWindow, failCrashes
	backoffMin, backoffMax, loopBackoffMax, failWindow, failCrashes = 10*time.Millisecond, 20*time.Millisecond, 250*time.Millisecond, 2*time.Second, 3
	t.Cleanup(func() {
		backoffMin, backoffMax, loopBackoffMax, failWindow, failCrashes = oldMin, oldMax, oldLoop, oldWindow, oldCrashes
	})
	dir := runtimetest.Dir(t)
	removeNetns(t, filepath.Join(dir, "tenants"))
	p, err := New(Options{OpenClawBin: runtimetest.Standin(t), DataDir: filepath.Join(dir, "tenants"), NetnsPool: runtimetest.NetnsPool,
		Env: []string{"STANDIN_EXIT=3"}, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := runtimetest.Ctx(t)
	s := runtimetest.Spec("ten_crashy0002", runtimetest.FreeBase(t))
	if err := p.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	get := func() runtime.Instance {
		list, _ := p.List(ctx)
		in, _ := runtimetest.Find(list, s.ID)
		return in
	}
	settled := func(in runtime.Instance) error {
		for _, want := range []string{"crash loop: gateway exited with code 3", "restarts", "retrying in the background", "restart the tenant"} {
			if in.State != proto.TenantFailed || !strings.Contains(in.Error, want) {
				return fmt.Errorf("want failed with %q: %+v", want, in)
			}
		}
		if !strings.Contains(in.Error, "next try at ") && !strings.Contains(in.Error, "trying again now") {
			return fmt.Errorf("no next try in %q", in.Error)
		}
		return nil
	}
	tstest.AwaitErr(t, "the crash loop's failed state", 10*time.Second, func() error { return settled(get()) })

	// Watch for well over failWindow: always failed, and still retried,
	// at the crash loop's pace rather than backoffMax's.
	first := get().Restarts
	watch := failWindow + time.Second
	for end := time.Now().Add(watch); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if err := settled(get()); err != nil {
			t.Fatalf("the crash loop's state changed: %v", err)
		}
	}
	tries := get().Restarts - first
	if tries < 2 {
		t.Fatalf("%d tries in %s: the crash loop is not retried", tries, watch)
	}
	if tries > int(watch/backoffMax/2) {
		t.Fatalf("%d tries in %s: retried at backoffMax's pace (%s), not the crash loop's (%s)", tries, watch, backoffMax, loopBackoffMax)
	}
	logs, _ := p.Logs(ctx, s.ID, 20)
	if !strings.Contains(strings.Join(logs, "\n"), "exiting at once with code 3") {
		t.Fatalf("the gateway's logs do not show why: %q", logs)
	}

	// A restart is a fresh try: not failed until it loops again.
	s.RestartGen++
	if err := p.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	if in := get(); in.State != proto.TenantStarting {
		t.Fatalf("right after a restart: %+v, want starting", in)
	}
	tstest.AwaitErr(t, "failed again", 10*time.Second, func() error { return settled(get()) })
}
