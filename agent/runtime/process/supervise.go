//go:build linux

package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/netns"
	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Supervision parameters (variables for tests).
var (
	backoffMin      = time.Second
	backoffMax      = 60 * time.Second
	backoffResetAge = 60 * time.Second // an instance up this long restarts after backoffMin again
	failWindow      = 2 * time.Minute  // more than failCrashes crashes within failWindow: a crash loop
	failCrashes     = 5
	// loopBackoffMax paces a crash loop: the delay keeps doubling up to it
	// instead of backoffMax, so a gateway that cannot start costs little.
	loopBackoffMax = 5 * time.Minute
	maxStdoutBytes = int64(1 << 20) // stdout.log is rotated to stdout.log.1 beyond this at a (re)start
)

// procRun is one supervised run: successive processes until stopped.
type procRun struct {
	stopCh chan struct{}
	done   chan struct{}
	exits  chan exitEvent // one per process, from its waiter

	mu       sync.Mutex
	stopping bool
	pid      int
	started  time.Time
}

func (p *Runtime) env(spec proto.TenantSpec) []string {
	dir := p.tenantDir(spec.ID)
	own := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"HOME=" + filepath.Join(dir, procHomeDir),
		"XDG_CACHE_HOME=" + filepath.Join(dir, procCacheDir),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, procHomeDir, ".config"),
		"TMPDIR=" + filepath.Join(dir, procTmpDir),
		"OPENCLAW_STATE_DIR=" + filepath.Join(dir, procStateDir),
		"OPENCLAW_CONFIG_PATH=" + filepath.Join(dir, procConfigFile),
		runtime.MarkerEnv + "=" + spec.ID,
	}
	if p.cg == nil && spec.MemoryBytes > 0 {
		mib := spec.MemoryBytes * 3 / 4 >> 20
		if mib < 64 {
			mib = 64
		}
		own = append(own, fmt.Sprintf("NODE_OPTIONS=--max-old-space-size=%d", mib))
	}
	seen := map[string]bool{}
	for _, kv := range own {
		seen[kv[:strings.IndexByte(kv, '=')]] = true
	}
	env := append([]string(nil), own...)
	for _, kv := range p.opts.Env {
		if i := strings.IndexByte(kv, '='); i > 0 && !seen[kv[:i]] {
			env = append(env, kv)
		}
	}
	return env
}

// spawn starts one gateway process of run.
func (p *Runtime) spawn(t *procTenant, spec proto.TenantSpec, run *procRun) error {
	dir := p.tenantDir(spec.ID)
	out, err := openStdout(filepath.Join(dir, procStdoutFile))
	if err != nil {
		return fmt.Errorf("stdout log: %w", err)
	}
	defer out.Close()
	argv := []string{p.opts.OpenClawBin, "gateway", "--port", strconv.Itoa(spec.Port)}
	tn, _, _, err := p.network(spec)
	if err != nil {
		return err
	}
	uid, gid, err := p.tenantIDs(spec.ID)
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Join(dir, procHomeDir)
	cmd.Env = p.env(spec)
	cmd.Stdout, cmd.Stderr = out, out
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if uid >= 0 {
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	if p.cg != nil {
		cgDir, err := p.cg.Setup(spec.ID, spec)
		if err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		fd, err := os.Open(cgDir)
		if err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		defer fd.Close()
		attr.UseCgroupFD, attr.CgroupFD = true, int(fd.Fd())
	}
	cmd.SysProcAttr = attr

	run.mu.Lock()
	defer run.mu.Unlock()
	if run.stopping {
		return errors.New("stopping")
	}
	where := "on 127.0.0.1"
	if tn != nil {
		where = "in network namespace " + tn.NS + " on " + tn.Gateway.String()
	}
	fmt.Fprintf(out, "--- clawfleet: starting %s gateway --port %d %s at %s\n", p.opts.OpenClawBin, spec.Port, where, time.Now().UTC().Format(time.RFC3339))
	// Forked from the one spawner thread (netns.Spawn: a gateway's
	// parent-death signal follows the thread that forked it), inside the
	// tenant's namespace when it has one: no nsenter or setpriv in front.
	nsPath := ""
	if tn != nil {
		nsPath = tn.Path()
	}
	if err := netns.Spawn(nsPath, cmd); err != nil {
		fmt.Fprintf(out, "--- clawfleet: start failed: %v\n", err)
		return err
	}
	if p.cg == nil {
		var nproc uint64
		if p.uid == perTenant && spec.PidsLimit > 0 {
			nproc = uint64(spec.PidsLimit)
		}
		setFallbackRlimits(cmd.Process.Pid, nproc)
	}
	run.pid, run.started = cmd.Process.Pid, time.Now()
	_ = atomicfile.WriteFile(filepath.Join(dir, procPidFile), []byte(strconv.Itoa(run.pid)+"\n"), 0o600)
	go func() {
		err := cmd.Wait()
		run.mu.Lock()
		exited := run.pid
		run.mu.Unlock()
		p.exited(t, spec, run, exited, err)
	}()
	return nil
}

// exitEvent carries one process exit to its supervisor.
type exitEvent struct {
	pid int
	err error
}

func (p *Runtime) exited(t *procTenant, spec proto.TenantSpec, run *procRun, pid int, err error) {
	// Kill whatever the gateway left in its process group (and cgroup).
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if p.cg != nil {
		p.cg.Kill(spec.ID)
	}
	run.exits <- exitEvent{pid: pid, err: err}
}

// supervise restarts run's gateway whenever it exits, with exponential
// backoff, until run is stopped.
func (p *Runtime) supervise(t *procTenant, spec proto.TenantSpec, run *procRun) {
	defer close(run.done)
	exits := run.exits
	delay := backoffMin
	for {
		var ev exitEvent
		select {
		case ev = <-exits:
		case <-run.stopCh:
			// stopRun signals the process; wait for it to go.
			ev = <-exits
			_ = os.Remove(filepath.Join(p.tenantDir(spec.ID), procPidFile))
			return
		}
		run.mu.Lock()
		stopping, started := run.stopping, run.started
		run.pid = 0
		run.mu.Unlock()
		if stopping {
			_ = os.Remove(filepath.Join(p.tenantDir(spec.ID), procPidFile))
			return
		}
		if time.Since(started) >= backoffResetAge {
			delay = backoffMin
			t.mu.Lock()
			t.looping, t.crashes = false, nil // it ran: whatever looped is over
			t.mu.Unlock()
		}
		msg := describeExit(ev.err)
		if t.crashed(msg, delay) {
			p.log.Warn("gateway in a crash loop; retrying slowly", "tenant", spec.ID, "pid", ev.pid, "err", msg, "in", delay)
		} else {
			p.log.Warn("gateway exited; restarting", "tenant", spec.ID, "pid", ev.pid, "err", msg, "in", delay)
		}
		for {
			select {
			case <-run.stopCh:
				_ = os.Remove(filepath.Join(p.tenantDir(spec.ID), procPidFile))
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, t.backoffLimit())
			err := p.spawn(t, spec, run)
			if err == nil {
				t.mu.Lock()
				t.nextTry = time.Time{}
				t.mu.Unlock()
				break
			}
			run.mu.Lock()
			stopping := run.stopping
			run.mu.Unlock()
			if stopping {
				return
			}
			t.crashed("start: "+err.Error(), delay)
			p.log.Warn("gateway restart failed", "tenant", spec.ID, "err", err, "in", delay)
		}
	}
}

// crashed records an exit (or a failed start) with the reason msg, to be
// retried after delay, and reports whether t is in a crash loop: more than
// failCrashes within failWindow. A crash loop lasts until a gateway stays
// up for backoffResetAge or a new run starts (Ensure: a restart, a new
// configuration), whatever the window says later, so the tenant does not
// flip between failed and starting at every slow retry.
func (t *procTenant) crashed(msg string, delay time.Duration) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.restarts++
	t.lastErr = msg
	t.crashes = append(pruneCrashes(t.crashes, now), now)
	if len(t.crashes) > failCrashes {
		t.looping = true
	}
	t.nextTry = now.Add(delay)
	return t.looping
}

// backoffLimit is the longest wait between two tries: loopBackoffMax in a
// crash loop, else backoffMax.
func (t *procTenant) backoffLimit() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.looping {
		return loopBackoffMax
	}
	return backoffMax
}

// loopError tells a crash-looping tenant's user what happened, how often,
// when the next try is and what to do. The caller holds t.mu.
func (t *procTenant) loopError() string {
	next := "trying again now"
	if !t.nextTry.IsZero() {
		next = "next try at " + t.nextTry.UTC().Format("15:04:05") + " UTC"
	}
	return fmt.Sprintf("crash loop: %s (%d restarts, %d within %s); retrying in the background at most every %s, %s. "+
		"The gateway's logs show why it exits; restart the tenant to try again at once",
		t.lastErr, t.restarts, len(t.crashes), failWindow, loopBackoffMax, next)
}

func pruneCrashes(c []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(c) && now.Sub(c[i]) > failWindow {
		i++
	}
	return append(c[:0], c[i:]...)
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "gateway killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("gateway exited with code %d", ee.ExitCode())
	}
	if err == nil {
		return "gateway exited with code 0"
	}
	return "gateway: " + err.Error()
}

// stopRun stops run's gateway: SIGTERM to its process group, SIGKILL after
// StopTimeout, and waits for its supervisor to finish.
func (p *Runtime) stopRun(run *procRun) {
	run.mu.Lock()
	if run.stopping {
		run.mu.Unlock()
		<-run.done
		return
	}
	run.stopping = true
	pid := run.pid
	run.mu.Unlock()
	close(run.stopCh)
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-run.done:
			return
		case <-time.After(p.opts.StopTimeout):
			p.log.Warn("gateway did not stop in time; killing it", "pid", pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	<-run.done
}

// openStdout opens the captured-output file for appending, rotating it when
// large. It never follows a symlink (the directory is the tenant's).
func openStdout(path string) (*os.File, error) {
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() && st.Size() > maxStdoutBytes {
		_ = os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, nil
}

// fallbackRlimits are applied to a gateway when cgroup v2 is not usable.
var fallbackRlimits = []struct {
	resource int
	value    uint64
}{
	{syscall.RLIMIT_CORE, 0},
	{syscall.RLIMIT_NOFILE, 65536},
}

// rlimitNproc is RLIMIT_NPROC (not in package syscall).
const rlimitNproc = 6

// setFallbackRlimits sets fallbackRlimits on a started process (prlimit),
// and RLIMIT_NPROC = nproc when nproc > 0: it counts every task of the
// uid, so it is a pids limit only where the uid is the tenant's own.
func setFallbackRlimits(pid int, nproc uint64) {
	limits := fallbackRlimits
	if nproc > 0 {
		limits = append(slices.Clone(limits), struct {
			resource int
			value    uint64
		}{rlimitNproc, nproc})
	}
	for _, l := range limits {
		lim := syscall.Rlimit{Cur: l.value, Max: l.value}
		_, _, _ = syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(l.resource), uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	}
}
