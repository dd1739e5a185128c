// Package uids gives each tenant of a process-runtime agent its own uid (and
// gid) for as long as its data exists, and clears what a uid left behind
// before it goes to another tenant.
package uids

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/pkg/atomicfile"
)

// DefaultBase is the first per-tenant uid: above the ranges distributions
// hand to users (< 60000) and to the first subordinate id ranges of user
// namespaces (100000 + 65536 per user).
const DefaultBase = 1_500_000

// perAgent is how many tenant uids one agent cycles through before it
// reuses one (the oldest free).
const perAgent = 1024

// Alloc hands each tenant of this agent its own uid, kept in a root-only
// file so that it survives restarts: a tenant keeps its uid for as long as
// its data exists, and a uid is given to another tenant only once nothing of
// its previous holder is left (Purge). uids come from a window of
// perAgent numbers chosen by the agent's tag, in turn, so a freed uid is
// the last to be handed out again.
type Alloc struct {
	mu    sync.Mutex
	path  string
	first int
	state state
}

type state struct {
	Next     int            `json:"next"`     // offset tried first for the next tenant
	ByTenant map[string]int `json:"byTenant"` // tenant ID → uid
}

// New loads the allocation of the agent with dataDir: uids from base +
// tag*1024, tag being a number from the agent's data dir (0-65535).
func New(dataDir string, base int, tag uint32) (*Alloc, error) {
	a := &Alloc{path: filepath.Join(dataDir, ".tenant-uids.json"), first: base + int(tag)*perAgent}
	b, err := os.ReadFile(a.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("tenant uids: %w", err)
	default:
		if err := json.Unmarshal(b, &a.state); err != nil {
			return nil, fmt.Errorf("tenant uids %s: %w", a.path, err)
		}
	}
	if a.state.ByTenant == nil {
		a.state.ByTenant = map[string]int{}
	}
	return a, nil
}

// Get returns the tenant's uid, allocating one if it has none.
func (a *Alloc) Get(tenantID string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if uid, ok := a.state.ByTenant[tenantID]; ok {
		return uid, nil
	}
	used := map[int]bool{}
	for _, u := range a.state.ByTenant {
		used[u] = true
	}
	for i := range perAgent {
		off := (a.state.Next + i) % perAgent
		uid := a.first + off
		if used[uid] {
			continue
		}
		a.state.ByTenant[tenantID] = uid
		a.state.Next = (off + 1) % perAgent
		if err := a.save(); err != nil {
			delete(a.state.ByTenant, tenantID)
			return 0, err
		}
		return uid, nil
	}
	return 0, fmt.Errorf("tenant uids: all %d of this agent are taken", perAgent)
}

// Release frees the tenant's uid (its data is gone).
func (a *Alloc) Release(tenantID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.state.ByTenant[tenantID]; !ok {
		return nil
	}
	delete(a.state.ByTenant, tenantID)
	return a.save()
}

// All returns every allocated uid by tenant.
func (a *Alloc) All() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.state.ByTenant))
	for k, v := range a.state.ByTenant {
		out[k] = v
	}
	return out
}

// InRange reports whether uid is one tenant uids are taken from (any
// agent's window above base).
func InRange(uid, base int) bool {
	return uid >= base && uid < base+(1<<16)*perAgent
}

func (a *Alloc) save() error {
	b, _ := json.Marshal(a.state)
	return atomicfile.WriteFile(a.path, b, 0o600)
}

// Kill kills every process running as uid (a tenant's daemons that left
// their gateway's process group), until none is left or 5 s passed.
func Kill(uid int) int {
	killed := 0
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := PIDs(uid)
		if len(pids) == 0 || time.Now().After(deadline) {
			return killed
		}
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PIDs lists the processes whose real or effective uid is uid.
func PIDs(uid int) []int {
	want := strconv.Itoa(uid)
	dirs, _ := filepath.Glob("/proc/[0-9]*/status")
	var pids []int
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "Uid:"); ok {
				if fs := strings.Fields(rest); len(fs) >= 2 && (fs[0] == want || fs[1] == want) {
					if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
						pids = append(pids, pid)
					}
				}
				break
			}
		}
	}
	return pids
}

// sharedTmpDirs are world-writable places a gateway can leave files in
// outside its own directory.
var sharedTmpDirs = []string{"/tmp", "/var/tmp", "/dev/shm"}

// RemoveFiles removes what uid left directly in the shared temporary
// directories, so that the next holder of the uid finds nothing of it.
// RemoveAll does not follow symlinks; the uid's processes are gone.
func RemoveFiles(uid int) {
	for _, d := range sharedTmpDirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			st, err := os.Lstat(p)
			if err != nil {
				continue
			}
			if s, ok := st.Sys().(*syscall.Stat_t); ok && int(s.Uid) == uid {
				_ = os.RemoveAll(p)
			}
		}
	}
}
