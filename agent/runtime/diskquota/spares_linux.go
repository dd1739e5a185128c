package diskquota

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spare images: fresh, never mounted ext4 images made ahead of demand, so
// that a new tenant's disk is a rename instead of a mkfs.ext4 (17–58 ms
// each, its fsync included, in a burst of 20 creations on 2 cores). They
// are made at the size of the last disk made (a worker's tenants mostly
// share a plan), one at a time and only once no disk has been made for
// spareSettle, so a burst is never slowed by its own refill; a spare of
// another size is never used, and goes when the size changes.

// spareSettle is how long no disk must have been made before spares are.
var spareSettle = 2 * time.Second // shorter in tests

const (
	sparePrefix = ".spare-"     // .spare-<size>-<random>.img
	spareNew    = ".spare-new-" // being made; removed at start
)

type spares struct {
	q        *Quota
	dir      string
	want     int
	mu       sync.Mutex
	size     int64    // of the ready ones; 0 until a disk was made
	ready    []string // paths
	lastUse  time.Time
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// KeepSpares keeps up to n spare images in dir (on the tenants' images'
// filesystem), picking up those an earlier agent left there. n <= 0 keeps
// none (and removes any). Call once; Close stops it.
func (q *Quota) KeepSpares(dir string, n int) {
	s := &spares{q: q, dir: dir, want: n, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.load()
	q.spares = s
	go s.loop()
	s.wake()
}

// Close stops making spares (those made stay for the next start).
func (q *Quota) Close() {
	if s := q.spares; s != nil {
		s.stopOnce.Do(func() { close(s.stop) })
		<-s.done
	}
}

// load takes the spares of the newest one's size and removes the rest
// (other sizes, half-made ones).
func (s *spares) load() {
	entries, _ := os.ReadDir(s.dir)
	type found struct {
		path string
		size int64
		mod  time.Time
	}
	var all []found
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, sparePrefix) {
			continue
		}
		path := filepath.Join(s.dir, name)
		size, ok := spareSize(name)
		info, err := e.Info()
		if !ok || err != nil || !e.Type().IsRegular() || s.want <= 0 {
			os.Remove(path)
			continue
		}
		all = append(all, found{path, size, info.ModTime()})
	}
	slices.SortFunc(all, func(a, b found) int { return b.mod.Compare(a.mod) })
	for _, f := range all {
		if s.size == 0 {
			s.size = f.size
		}
		if f.size != s.size || len(s.ready) >= s.want {
			os.Remove(f.path)
			continue
		}
		s.ready = append(s.ready, f.path)
	}
}

// spareSize reads the size out of a spare's name (not a half-made one's).
func spareSize(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, sparePrefix)
	if !ok || strings.HasPrefix(name, spareNew) {
		return 0, false
	}
	sz, _, ok := strings.Cut(rest, "-")
	if !ok || !strings.HasSuffix(rest, ".img") {
		return 0, false
	}
	n, err := strconv.ParseInt(sz, 10, 64)
	return n, err == nil && n >= minQuotaBytes
}

// take renames a spare of size to path; false when there is none.
func (s *spares) take(size int64, path string) bool {
	defer s.wake() // refilled once the burst is over
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastUse = time.Now()
	for s.size == size && len(s.ready) > 0 {
		spare := s.ready[len(s.ready)-1]
		s.ready = s.ready[:len(s.ready)-1]
		if os.Rename(spare, path) == nil {
			return true
		}
		os.Remove(spare)
	}
	return false
}

// made notes a disk of size made without a spare: spares are of that size
// from now on.
func (s *spares) made(size int64) {
	s.mu.Lock()
	s.lastUse = time.Now()
	var old []string
	if size != s.size {
		old, s.ready, s.size = s.ready, nil, size
	}
	s.mu.Unlock()
	for _, p := range old {
		os.Remove(p)
	}
	s.wake()
}

func (s *spares) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *spares) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		for {
			s.mu.Lock()
			size, have, quiet := s.size, len(s.ready), time.Since(s.lastUse)
			s.mu.Unlock()
			if size == 0 || have >= s.want {
				break
			}
			if quiet < spareSettle {
				select {
				case <-s.stop:
					return
				case <-time.After(spareSettle - quiet):
				}
				continue
			}
			select {
			case <-s.stop: // Close does not wait for the pool to fill
				return
			default:
			}
			if !s.makeOne(size) {
				break // logged; the next disk made tries again
			}
		}
	}
}

// makeOne makes a spare of size under a temporary name and renames it
// into the pool once mkfs (which syncs it) is done.
func (s *spares) makeOne(size int64) bool {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	tmp := filepath.Join(s.dir, spareNew+tag+".img")
	if err := s.q.create(tmp, size, 0, 0); err != nil {
		s.q.log.Warn("cannot make a spare tenant disk image", "err", err)
		return false
	}
	path := filepath.Join(s.dir, sparePrefix+strconv.FormatInt(size, 10)+"-"+tag+".img")
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		s.q.log.Warn("cannot make a spare tenant disk image", "err", err)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size != size || len(s.ready) >= s.want { // the size changed meanwhile
		os.Remove(path)
		return true
	}
	s.ready = append(s.ready, path)
	return true
}
