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
	top, err := readStat(root, pid)
	if err != nil {
		return proto.TenantUsage{}, fmt.Errorf("usage: process %d: %w", pid, err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return proto.TenantUsage{}, fmt.Errorf("usage: %w", err)
	}
	stats := map[int]procStat{pid: top}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if st, err := readStat(root, p); err == nil { // gone meanwhile: not ours to count
			stats[p] = st
		}
	}
	var ticks, pages int64
	for p, st := range stats {
		for q, hops := p, 0; hops < 64; hops++ { // is p in pid's tree?
			if q == pid {
				ticks += st.ticks
				pages += st.rss
				break
			}
			parent, ok := stats[q]
			if !ok || parent.ppid == q || parent.ppid == 0 {
				break
			}
			q = parent.ppid
		}
	}
	return proto.TenantUsage{CPUUsec: ticks * (1_000_000 / clockTicks), MemoryBytes: pages * int64(os.Getpagesize())}, nil
}
