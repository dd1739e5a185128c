//go:build linux

package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/hostfs"
	"github.com/clawfleet/clawfleet/agent/runtime/uids"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// maxPidFileBytes bounds gateway.pid as read back: a number and a newline.
const maxPidFileBytes = 32

// killLeftovers kills gateways a previous agent left running: processes
// named by a tenant's gateway.pid that carry that tenant's marker variable.
func (p *Runtime) killLeftovers() {
	if p.uids != nil {
		// Whatever runs as a tenant uid is a leftover of the last agent
		// (gateways follow their agent; daemons they started may not).
		for id, uid := range p.uids.All() {
			if n := uids.Kill(uid); n > 0 {
				p.log.Warn("killed processes a tenant left running under the previous agent", "tenant", id, "uid", uid, "processes", n)
			}
		}
	}
	entries, err := os.ReadDir(p.opts.DataDir)
	if err != nil {
		return
	}
	var pids []int
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || proto.ValidateTenantID(id) != nil {
			continue
		}
		pidFile := filepath.Join(p.opts.DataDir, id, procPidFile)
		b, err := hostfs.ReadFile(pidFile, maxPidFileBytes)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				p.log.Warn("ignoring a tenant's pid file that is not what the agent wrote", "tenant", id, "err", err)
				_ = os.Remove(pidFile)
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 1 && hasMarker(pid, id) {
			p.log.Warn("killing a gateway left running by a previous agent", "tenant", id, "pid", pid)
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			_ = syscall.Kill(pid, syscall.SIGTERM)
			pids = append(pids, pid)
		}
		_ = os.Remove(pidFile)
	}
	deadline := time.Now().Add(p.opts.StopTimeout)
	for _, pid := range pids {
		for time.Now().Before(deadline) && processAlive(pid) {
			time.Sleep(100 * time.Millisecond)
		}
		if processAlive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// hasMarker reports whether process pid has CLAWFLEET_TENANT=id in its
// environment.
func hasMarker(pid int, id string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	want := runtime.MarkerEnv + "=" + id
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv == want {
			return true
		}
	}
	return false
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}
