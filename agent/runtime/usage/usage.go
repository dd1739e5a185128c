// Package usage measures what a tenant's gateway uses of its host's CPU
// and memory, for the process runtime: from the tenant's cgroup v2 when it
// has one, else by adding up its process tree in /proc. (The docker
// runtime asks the engine for the container's stats.)
package usage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// FromCgroup reads the cgroup v2 directory dir: cpu.stat's usage_usec and
// memory.current less memory.stat's inactive_file (page cache the kernel
// reclaims first, as docker stats leaves it out).
func FromCgroup(dir string) (proto.TenantUsage, error) {
	var u proto.TenantUsage
	cpu, err := keyed(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return u, err
	}
	usec, ok := cpu["usage_usec"]
	if !ok {
		return u, fmt.Errorf("usage: %s/cpu.stat has no usage_usec", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "memory.current"))
	if err != nil {
		return u, fmt.Errorf("usage: %w", err)
	}
	mem, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return u, fmt.Errorf("usage: %s/memory.current: %w", dir, err)
	}
	if st, err := keyed(filepath.Join(dir, "memory.stat")); err == nil && st["inactive_file"] <= mem {
		mem -= st["inactive_file"]
	}
	return proto.TenantUsage{CPUUsec: usec, MemoryBytes: mem}, nil
}

// keyed reads a file of "key value" lines.
func keyed(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux ABI (sysconf(_SC_CLK_TCK) needs cgo to ask).
const clockTicks = 100

// procStat is what FromProcTree needs of /proc/<pid>/stat.
type procStat struct {
	ppid  int
	ticks int64 // utime+stime+cutime+cstime: its own and its reaped children's
	rss   int64 // pages
}

// readStat parses /proc/<pid>/stat under root (the command name, in
// parentheses, may hold spaces: the fields follow its last ')').
func readStat(root string, pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("usage: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17, rss 24.
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("usage: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	n := func(field int) int64 { v, _ := strconv.ParseInt(f[field-3], 10, 64); return v }
	return procStat{ppid: int(n(4)), ticks: n(14) + n(15) + n(16) + n(17), rss: n(24)}, nil
}

// FromProcTree adds up the process tree of pid (pid and every descendant
// still alive) in /proc: CPU time including reaped children's, and
// resident memory.
func FromProcTree(pid int) (proto.TenantUsage, error) { return fromProcTree("/proc", pid) }

func fromProcTree(root string, pid int) (proto.TenantUsage, error) {
	t, err := readTable(root)
	if err != nil {
		return proto.TenantUsage{}, err
	}
	return t.Tree(pid)
}

// Table is one reading of every process in /proc: the process trees of
// all tenants are added up from one walk of /proc, not one walk each (with
// 20 gateways starting, the walks per look at one of them were two fifths
// of the agent's CPU).
type Table struct {
	stats map[int]procStat
	at    time.Time
}

// ReadTable reads /proc.
func ReadTable() (*Table, error) { return readTable("/proc") }

func readTable(root string) (*Table, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	t := &Table{stats: make(map[int]procStat, len(entries)), at: time.Now()}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(root, p); err == nil { // gone meanwhile: not ours to count
			t.stats[p] = st
		}
	}
	return t, nil
}

// Has reports whether pid was alive when t was read.
func (t *Table) Has(pid int) bool {
	_, ok := t.stats[pid]
	return ok
}

// Tree adds up the process tree of pid as of t.
func (t *Table) Tree(pid int) (proto.TenantUsage, error) {
	if _, ok := t.stats[pid]; !ok {
		return proto.TenantUsage{}, fmt.Errorf("usage: process %d: not running", pid)
	}
	var ticks, pages int64
	for p, st := range t.stats {
		for q, hops := p, 0; hops < 64; hops++ { // is p in pid's tree?
			if q == pid {
				ticks += st.ticks
				pages += st.rss
				break
			}
			parent, ok := t.stats[q]
			if !ok || parent.ppid == q || parent.ppid == 0 {
				break
			}
			q = parent.ppid
		}
	}
	return proto.TenantUsage{CPUUsec: ticks * (1_000_000 / clockTicks), MemoryBytes: pages * int64(os.Getpagesize())}, nil
}

// TableCache hands out a reading of /proc up to maxAge old, read again
// for a process it does not have (one started since).
type TableCache struct {
	mu     sync.Mutex
	maxAge time.Duration
	t      *Table
}

// NewTableCache returns a cache of readings up to maxAge old.
func NewTableCache(maxAge time.Duration) *TableCache { return &TableCache{maxAge: maxAge} }

// Tree adds up pid's process tree from a recent reading.
func (c *TableCache) Tree(pid int) (proto.TenantUsage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil || time.Since(c.t.at) > c.maxAge || !c.t.Has(pid) {
		t, err := ReadTable()
		if err != nil {
			return proto.TenantUsage{}, err
		}
		c.t = t
	}
	u, err := c.t.Tree(pid)
	u.AtMs = c.t.at.UnixMilli() // up to maxAge before the report that carries it
	return u, err
}
