package runtime

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

// uidsPerAgent is how many tenant uids one agent cycles through before it
// reuses one (the oldest free).
const uidsPerAgent = 1024

// uidAlloc hands each tenant of this agent its own uid, kept in a root-only
// file so that it survives restarts: a tenant keeps its uid for as long as
// its data exists, and a uid is given to another tenant only once nothing of
// its previous holder is left (Purge). uids come from a window of
// uidsPerAgent numbers chosen by the agent's tag, in turn, so a freed uid is
// the last to be handed out again.
type uidAlloc struct {
	mu    sync.Mutex
	path  string
	first int
	state uidState
}

type uidState struct {
	Next     int            `json:"next"`     // offset tried first for the next tenant
	ByTenant map[string]int `json:"byTenant"` // tenant ID → uid
}

func newUIDAlloc(dataDir string, base int, tag uint32) (*uidAlloc, error) {
	a := &uidAlloc{path: filepath.Join(dataDir, ".tenant-uids.json"), first: base + int(tag)*uidsPerAgent}
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

// get returns the tenant's uid, allocating one if it has none.
func (a *uidAlloc) get(tenantID string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if uid, ok := a.state.ByTenant[tenantID]; ok {
		return uid, nil
	}
	used := map[int]bool{}
	for _, u := range a.state.ByTenant {
		used[u] = true
	}
	for i := range uidsPerAgent {
		off := (a.state.Next + i) % uidsPerAgent
		uid := a.first + off
		if used[uid] {
			continue
		}
		a.state.ByTenant[tenantID] = uid
		a.state.Next = (off + 1) % uidsPerAgent
		if err := a.save(); err != nil {
			delete(a.state.ByTenant, tenantID)
			return 0, err
		}
		return uid, nil
	}
	return 0, fmt.Errorf("tenant uids: all %d of this agent are taken", uidsPerAgent)
}

// release frees the tenant's uid (its data is gone).
func (a *uidAlloc) release(tenantID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.state.ByTenant[tenantID]; !ok {
		return nil
	}
	delete(a.state.ByTenant, tenantID)
	return a.save()
}

// all returns every allocated uid by tenant.
func (a *uidAlloc) all() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.state.ByTenant))
	for k, v := range a.state.ByTenant {
		out[k] = v
	}
	return out
}

// inRange reports whether uid is one tenant uids are taken from (any
// agent's window).
func inTenantRange(uid, base int) bool {
	return uid >= base && uid < base+(1<<16)*uidsPerAgent
}

func (a *uidAlloc) save() error {
	b, _ := json.Marshal(a.state)
	return atomicfile.WriteFile(a.path, b, 0o600)
}

// killUID kills every process running as uid (a tenant's daemons that left
// their gateway's process group), until none is left or 5 s passed.
func killUID(uid int) int {
	killed := 0
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := pidsOfUID(uid)
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

// pidsOfUID lists the processes whose real or effective uid is uid.
func pidsOfUID(uid int) []int {
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

// removeFilesOfUID removes what uid left directly in the shared temporary
// directories, so that the next holder of the uid finds nothing of it.
// RemoveAll does not follow symlinks; the uid's processes are gone.
func removeFilesOfUID(uid int) {
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
