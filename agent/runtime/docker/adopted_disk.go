package docker

import (
	"context"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Disk use of adopted containers. Their state is on volumes and bind
// mounts the agent did not make and puts no quota on, so the runtime
// measures it: the blocks of every file under each mount (hard links
// counted once) plus the container's writable layer (the Engine's SizeRw),
// against the size of the filesystem that holds the first mount — the
// limit such a gateway really has. Walking a tree costs, so a figure is
// reused for diskEvery, and a walk stops at diskWalkMax.

var (
	diskEvery   = 5 * time.Minute
	diskWalkMax = 20 * time.Second
)

type diskFigure struct {
	at          time.Time
	used, total int64
}

type diskCache struct {
	mu      sync.Mutex
	m       map[string]diskFigure // by tenant
	walking map[string]bool       // measures under way
}

// adoptedDisk is the disk an adopted tenant's container uses and the size
// of the filesystem its state is on, as last measured (ok false before the
// first measure). A figure older than diskEvery is measured again in the
// background, so listing never waits for a walk.
func (d *Runtime) adoptedDisk(id string, r *adoptRecord) (used, total int64, ok bool) {
	d.disk.mu.Lock()
	defer d.disk.mu.Unlock()
	f, hit := d.disk.m[id]
	if (!hit || time.Since(f.at) >= diskEvery) && !d.disk.walking[id] {
		if d.disk.walking == nil {
			d.disk.walking = map[string]bool{}
		}
		d.disk.walking[id] = true
		go d.measureDisk(id, *r)
	}
	return f.used, f.total, hit && f.total > 0
}

func (d *Runtime) measureDisk(id string, r adoptRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), diskWalkMax)
	defer cancel()
	var used, total int64
	volumeSeen := false
	seen := map[[2]uint64]bool{}
	for _, m := range r.Mounts {
		dir := m.Source
		switch m.Type {
		case "volume":
			var v struct{ Mountpoint string }
			if _, err := d.c.Do(ctx, "GET", "/volumes/"+url.PathEscape(m.Source), nil, nil, &v); err != nil || v.Mountpoint == "" {
				d.log.Debug("adopted volume not measured", "tenant", id, "volume", m.Source, "err", err)
				continue
			}
			dir = v.Mountpoint
		case "bind":
			if systemPath(dir) {
				continue // the host's own tree, not the gateway's state
			}
		default:
			continue
		}
		n, err := treeBlocks(ctx, dir, seen)
		if err != nil {
			// Not this host's files (an agent in another mount namespace),
			// unreadable, or too big to walk in time: as far as it went.
			d.log.Debug("adopted mount measured in part", "tenant", id, "path", dir, "err", err)
		}
		used += n
		if total == 0 || m.Type == "volume" && !volumeSeen {
			// The filesystem of the state: a volume's first, else the
			// first bind-mounted directory's.
			volumeSeen = volumeSeen || m.Type == "volume"
			var st syscall.Statfs_t
			if syscall.Statfs(dir, &st) == nil {
				total = int64(st.Blocks) * int64(st.Bsize)
			}
		}
	}
	var ci struct{ SizeRw int64 }
	if _, err := d.c.Do(ctx, "GET", "/containers/"+r.Container+"/json", url.Values{"size": {"1"}}, nil, &ci); err == nil {
		used += ci.SizeRw
	}
	if total > 0 {
		used = min(used, total)
	}
	d.disk.mu.Lock()
	defer d.disk.mu.Unlock()
	delete(d.disk.walking, id)
	if d.disk.m == nil {
		d.disk.m = map[string]diskFigure{}
	}
	d.disk.m[id] = diskFigure{at: time.Now(), used: used, total: total}
}

// systemPath: a bind source that is the host's root or a system tree
// (walking it would measure the host, not the gateway).
func systemPath(p string) bool {
	p = filepath.Clean(p)
	if p == "/" {
		return true
	}
	for _, sys := range []string{"/proc", "/sys", "/dev", "/run", "/var/run", "/usr", "/etc", "/boot", "/var/lib/docker"} {
		if p == sys || strings.HasPrefix(p, sys+"/") {
			return true
		}
	}
	return false
}

// forgetDisk drops a removed tenant's figure.
func (d *Runtime) forgetDisk(id string) {
	d.disk.mu.Lock()
	delete(d.disk.m, id)
	d.disk.mu.Unlock()
}

// treeBlocks is the disk space of the files under dir (symlinks not
// followed, other filesystems' mount points included as they are), each
// inode once across calls sharing seen.
func treeBlocks(ctx context.Context, dir string, seen map[[2]uint64]bool) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // a file gone or unreadable meanwhile
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil {
			return nil
		}
		k := [2]uint64{uint64(st.Dev), st.Ino}
		if seen[k] {
			return nil
		}
		seen[k] = true
		n += int64(st.Blocks) * 512
		return nil
	})
	return n, err
}
