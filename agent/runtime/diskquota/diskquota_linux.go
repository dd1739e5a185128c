// Package diskquota gives each tenant a disk of its plan's size: a
// loop-mounted ext4 image on its directory (Linux, as root, with e2fsprogs).
package diskquota

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/systool"
)

// quotaReserve is the share of each image's blocks ext4 keeps for root: the
// gateway gets ENOSPC first, while the agent (root) can still write the
// tenant's meta, pid and log files.
const quotaReservePercent = "2"

// minQuotaBytes is the smallest image made: ext4's own metadata needs room.
const minQuotaBytes = 32 << 20

// Quota enforces a plan's diskBytes on a tenant: its directory (the process
// runtime's tenant directory, the docker runtime's state directory behind
// the volume) is an ext4 filesystem in a sparse image file of that size,
// loop-mounted (nosuid, nodev) on the directory. Writes beyond the limit
// fail with ENOSPC inside the gateway. (A process-runtime gateway can still
// write to the host's /tmp, /var/tmp and /dev/shm, and a container to its
// writable layer; those are not part of the tenant's disk.)
// The image lives where no tenant can reach it, 0600 in a directory of the
// agent: <data dir>/<tenant id>.img (process), <data dir>/<id>/state.img
// (docker).
type Quota struct {
	mkfs, mount, umount, resize2fs, e2fsck, cp string
	spares                                     *spares // nil: none kept
	log                                        *slog.Logger
}

// ErrGrowOffline is returned by Ensure when a mounted filesystem could not
// grow online (some kernels and sandboxes refuse the resize ioctl): the
// caller stops the gateway and calls GrowOffline.
var ErrGrowOffline = errors.New("the disk must grow while unmounted")

// New checks that images can be made and mounted here, by doing so
// once in dataDir.
func New(dataDir, mountsSeenBy string, log *slog.Logger) (*Quota, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the agent is not root")
	}
	if mountsSeenBy != "" {
		if err := sameMountNamespace(mountsSeenBy, daemonPidFiles[mountsSeenBy]); err != nil {
			return nil, err
		}
	}
	q := &Quota{log: log}
	for _, t := range []struct {
		p    *string
		name string
	}{{&q.mkfs, "mkfs.ext4"}, {&q.mount, "mount"}, {&q.umount, "umount"}, {&q.resize2fs, "resize2fs"}, {&q.e2fsck, "e2fsck"}, {&q.cp, "cp"}} {
		var err error
		if *t.p, err = systool.Look(t.name); err != nil {
			return nil, err
		}
	}
	probe := filepath.Join(dataDir, ".quota-probe")
	// An agent killed during its probe leaves it behind.
	_ = q.Release(probe)
	_ = os.Remove(probe + ".img")
	defer os.RemoveAll(probe)
	defer os.Remove(probe + ".img")
	if err := q.create(probe+".img", minQuotaBytes, 0, 0); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(probe, 0o700); err != nil {
		return nil, err
	}
	if err := q.attach(probe+".img", probe); err != nil {
		return nil, fmt.Errorf("loop-mount a test image: %w", err)
	}
	return q, q.Release(probe)
}

// Ensure makes dir the mount of an image of size bytes owned by uid/gid,
// creating the image (moving what dir already holds into it) or growing it
// as needed. It is a no-op when all is in place.
func (q *Quota) Ensure(dir, img string, size int64, uid, gid int) error {
	size = max(size, minQuotaBytes)
	mounted, dev := MountOf(dir)
	if mounted && !q.isImage(dev, img) {
		// Not ours on top (a tenant's FUSE mount, say): never act on it,
		// nor resize whatever device it names.
		return fmt.Errorf("%s has a mount that is not the tenant's disk image on top (%s); unmount it", dir, dev)
	}
	st, err := os.Stat(img)
	chownRoot := false
	switch {
	case errors.Is(err, os.ErrNotExist):
		if mounted {
			return fmt.Errorf("%s is a mount point of something else (%s)", dir, dev)
		}
		// Made under another name and renamed once it holds everything: an
		// agent killed while copying leaves the directory as it was.
		tmpImg := img + ".new"
		os.Remove(tmpImg)
		if q.spares != nil && isEmptyDir(dir) && q.spares.take(size, tmpImg) {
			// Made for no one in particular: its root is root's until
			// mounted below.
			chownRoot = true
		} else {
			if err := q.create(tmpImg, size, uid, gid); err != nil {
				return err
			}
			if q.spares != nil {
				q.spares.made(size)
			}
		}
		if err := q.adopt(dir, tmpImg, img); err != nil {
			os.Remove(tmpImg)
			return err
		}
	case err != nil:
		return err
	case st.Size() < size:
		// A bigger plan: grow the file, then the filesystem (online).
		if err := os.Truncate(img, size); err != nil {
			return fmt.Errorf("grow disk image: %w", err)
		}
		if mounted {
			if err := q.grow(dir, dev); err != nil {
				q.log.Warn("could not grow a tenant's disk online; it grows while its gateway restarts", "dir", dir, "err", err)
				return ErrGrowOffline
			}
		}
	case st.Size() > size:
		q.log.Warn("the tenant's plan has less disk than its image holds; ext4 cannot shrink online, the larger limit stays", "dir", dir,
			"imageBytes", st.Size(), "planBytes", size)
	}
	if mounted { // nothing above mounts or unmounts it
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := q.attach(img, dir); err != nil {
		return err
	}
	if chownRoot {
		if err := os.Lchown(dir, uid, gid); err != nil {
			return fmt.Errorf("give the tenant its disk: %w", err)
		}
	}
	if st != nil && st.Size() < size {
		_, dev := MountOf(dir)
		if err := q.grow(dir, dev); err != nil {
			q.log.Warn("could not grow a tenant's disk online; it grows while its gateway restarts", "dir", dir, "err", err)
			return ErrGrowOffline
		}
	}
	return nil
}

// GrowOffline unmounts dir (its gateway stopped), grows the filesystem to
// fill its image and mounts it again.
func (q *Quota) GrowOffline(dir, img string) error {
	// Never lazily: checking and resizing a filesystem that a lingering
	// process still uses would corrupt it. Failing here retries later.
	before := fsBytes(dir)
	if ok, _ := MountOf(dir); ok {
		if out, err := q.run(q.umount, dir); err != nil {
			return fmt.Errorf("umount %s to grow it (still in use?): %v: %s", dir, err, out)
		}
	}
	// The loop device of the old mount goes away a moment after umount.
	// mount would reuse one still there, cached blocks (the old superblock)
	// and all, and so mount the disk at its old size.
	if err := detachLoops(img); err != nil {
		return err
	}
	// resize2fs insists on a freshly checked filesystem when unmounted.
	if out, err := q.run(q.e2fsck, "-f", "-y", img); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 { // 1: errors corrected
			return fmt.Errorf("e2fsck %s: %v: %s", img, err, out)
		}
	}
	if out, err := q.run(q.resize2fs, img); err != nil {
		return fmt.Errorf("resize2fs %s: %v: %s", img, err, out)
	}
	if err := q.attach(img, dir); err != nil {
		return err
	}
	if after := fsBytes(dir); after <= before {
		return fmt.Errorf("%s was mounted again at its old size (%d bytes, was %d); it grows on the next try", dir, after, before)
	}
	q.log.Info("grew a tenant's disk", "dir", dir)
	return nil
}

// fsBytes is the size of the filesystem mounted on dir (0 if unknown).
func fsBytes(dir string) uint64 {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return 0
	}
	return st.Blocks * uint64(st.Bsize)
}

// detachLoops detaches every loop device backed by img and waits, up to
// five seconds, until none is left.
func detachLoops(img string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		devs := loopsOf(img)
		if len(devs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loop devices %v still hold %s; is something using the tenant's disk?", devs, img)
		}
		for _, dev := range devs {
			if f, err := os.Open(dev); err == nil {
				const loopClrFd = 0x4C01
				_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), loopClrFd, 0) // ENXIO once gone
				f.Close()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loopsOf lists the loop devices backed by img.
func loopsOf(img string) []string {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var devs []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == img {
			devs = append(devs, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(f))))
		}
	}
	return devs
}

// isEmptyDir reports whether dir holds nothing (or is not there).
func isEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// create makes a sparse image of size bytes with an ext4 filesystem whose
// root directory belongs to uid/gid.
func (q *Quota) create(img string, size int64, uid, gid int) error {
	f, err := os.OpenFile(img, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(img)
		return fmt.Errorf("disk image: %w", err)
	}
	// One inode per 8 KiB (twice mkfs's default): node_modules trees are
	// many small files. The image is a fresh sparse file, which reads as
	// zeros where nothing was written, so neither the inode tables nor
	// the journal need zeroing (lazy_*_init): that was 32 MiB written per
	// tenant disk, which a burst of starts then waited for in every fsync.
	// mkfs's discard of the file (holes punched in holes) is what lets it
	// mark the inode tables zeroed, so the kernel does not write them after
	// mounting either (dumpe2fs: ITABLE_ZEROED in every group; with
	// nodiscard, in none).
	if out, err := q.run(q.mkfs, "-q", "-F", "-m", quotaReservePercent, "-i", "8192",
		"-E", fmt.Sprintf("root_owner=%d:%d,lazy_itable_init=1,lazy_journal_init=1", uid, gid), img); err != nil {
		os.Remove(img)
		return fmt.Errorf("mkfs.ext4 %s: %v: %s", img, err, out)
	}
	return nil
}

// adopt moves what dir already holds (a tenant from before quotas) into
// the fresh image tmpImg and renames that to img; dir is left empty for the
// mount.
func (q *Quota) adopt(dir, tmpImg, img string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) == 0 {
		return atomicfile.Rename(tmpImg, img)
	}
	tmp := dir + ".quota-new"
	_ = q.Release(tmp) // left mounted by an agent killed while copying
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := q.attach(tmpImg, tmp); err != nil {
		return err
	}
	// cp -a keeps owners, modes, times and symlinks as they are (never
	// following them), and reports a copy that did not fit.
	// No 2-minute bound here: a big tenant takes longer to copy.
	out, err := q.runFor(6*time.Hour, q.cp, "-a", "--no-dereference", dir+"/.", tmp+"/")
	if rerr := q.Release(tmp); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("move the tenant's files into its disk image (is the plan's disk smaller than what it holds?): %v: %s", err, out)
	}
	// Durably: the old files go next.
	if err := atomicfile.Rename(tmpImg, img); err != nil {
		return err
	}
	// From here the image is the tenant's data; the old files go.
	old := dir + ".pre-quota"
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	q.log.Info("moved a tenant's files into its disk image", "dir", dir, "image", img)
	return os.RemoveAll(old)
}

func (q *Quota) attach(img, dir string) error {
	if err := mountLoop(img, dir); !errors.Is(err, errUseMount) {
		return err
	}
	if out, err := q.run(q.mount, "-t", "ext4", "-o", "loop,nosuid,nodev,noatime", img, dir); err != nil {
		return fmt.Errorf("mount %s on %s: %v: %s", img, dir, err, out)
	}
	return nil
}

func (q *Quota) grow(dir, dev string) error {
	if !strings.HasPrefix(dev, "/dev/loop") {
		return fmt.Errorf("%s is mounted from %q, not a loop device", dir, dev)
	}
	// The loop device keeps the old size until told to re-read it.
	if err := loopSetCapacity(dev); err != nil {
		return fmt.Errorf("loop device %s: %w", dev, err)
	}
	if out, err := q.run(q.resize2fs, dev); err != nil {
		return fmt.Errorf("resize2fs %s: %v: %s", dev, err, out)
	}
	q.log.Info("grew a tenant's disk", "dir", dir)
	return nil
}

// Release unmounts dir if it is a mount point (lazily when busy: a process
// still in it keeps the filesystem until it leaves).
func (q *Quota) Release(dir string) error {
	// Mounts stacked on the disk (a tenant's own, on its directory) come
	// off first; a few rounds at most.
	for range 4 {
		if ok, _ := MountOf(dir); !ok {
			return nil
		}
		if _, err := q.run(q.umount, dir); err == nil {
			continue
		}
		if out, err := q.run(q.umount, "-l", dir); err != nil {
			return fmt.Errorf("umount %s: %v: %s", dir, err, out)
		}
	}
	if ok, _ := MountOf(dir); ok {
		return fmt.Errorf("umount %s: still mounted after 4 rounds", dir)
	}
	return nil
}

// isImage reports whether dev is a loop device backed by img.
func (q *Quota) isImage(dev, img string) bool {
	name, ok := strings.CutPrefix(dev, "/dev/")
	if !ok || !strings.HasPrefix(name, "loop") || strings.ContainsAny(name, "/.") {
		return false
	}
	b, err := os.ReadFile("/sys/block/" + name + "/loop/backing_file")
	return err == nil && strings.TrimSpace(string(b)) == img
}

// MountAll mounts every process-runtime image in dataDir whose directory
// is not mounted (after a reboot), so that the runtime sees its tenants as
// before.
func (q *Quota) MountAll(dataDir string) {
	imgs, _ := filepath.Glob(filepath.Join(dataDir, "ten_*.img"))
	pairs := map[string]string{}
	for _, img := range imgs {
		pairs[img] = strings.TrimSuffix(img, ".img")
	}
	q.MountImages(pairs)
}

// MountImages mounts each image (key) on its directory (value) unless
// that is mounted already, and returns the directories it mounted.
func (q *Quota) MountImages(pairs map[string]string) map[string]bool {
	done := map[string]bool{}
	for img, dir := range pairs {
		if ok, _ := MountOf(dir); ok {
			continue
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			q.log.Warn("cannot mount a tenant's disk image", "image", img, "err", err)
			continue
		}
		if err := q.attach(img, dir); err != nil {
			q.log.Warn("cannot mount a tenant's disk image", "image", img, "err", err)
			continue
		}
		done[dir] = true
	}
	return done
}

// Usage reports the used and total bytes of the disk mounted on dir when
// its image exists (ok false otherwise: dir is then on the host's disk).
func (q *Quota) Usage(dir, img string) (used, total int64, ok bool) {
	if _, err := os.Stat(img); err != nil {
		return 0, 0, false
	}
	// Only our image: not the host's disk under an unmounted dir, and not a
	// mount the tenant put on top (whose statfs could hang the agent).
	if mounted, dev := MountOf(dir); !mounted || !q.isImage(dev, img) {
		return 0, 0, false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	bsize := int64(st.Bsize) // int32 on 32-bit ARM
	total = int64(st.Blocks) * bsize
	used = total - int64(st.Bfree)*bsize
	return used, total, total > 0 && used >= 0
}

// ReleaseAll unmounts every tenant disk in dataDir.
func (q *Quota) ReleaseAll(dataDir string) {
	imgs, _ := filepath.Glob(filepath.Join(dataDir, "ten_*.img"))
	for _, img := range imgs {
		if err := q.Release(strings.TrimSuffix(img, ".img")); err != nil {
			q.log.Warn("cannot unmount a tenant's disk", "image", img, "err", err)
		}
	}
}

func (q *Quota) run(bin string, args ...string) ([]byte, error) {
	return q.runFor(2*time.Minute, bin, args...)
}

func (q *Quota) runFor(d time.Duration, bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return out, err
}

// daemonPidFiles are where daemons that must see the agent's mounts write
// their pid.
var daemonPidFiles = map[string][]string{"dockerd": {"/run/docker.pid", "/var/run/docker.pid"}}

// sameMountNamespace checks that the process named comm runs in the
// agent's mount namespace, so that it sees the agent's mounts. Under a
// systemd unit with PrivateTmp=, ProtectSystem= or ProtectHome= the agent
// has a namespace of its own, and mounts made there never reach dockerd.
func sameMountNamespace(comm string, pidFiles []string) error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return err
	}
	// The daemon is found by its pid file, not by name: a tenant's process
	// (in a container, say) may call itself dockerd too.
	pid := 0
	for _, f := range pidFiles {
		if b, err := os.ReadFile(f); err == nil {
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				break
			}
		}
	}
	proc := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(proc + "/comm")
	if pid <= 0 || err != nil || strings.TrimSpace(string(b)) != comm || !ownedByRoot(proc) {
		return fmt.Errorf("no %s process found by its pid file, so the agent cannot tell whether %s would see the tenants' disk mounts", comm, comm)
	}
	ns, err := os.Readlink(proc + "/ns/mnt")
	if err != nil {
		return err
	}
	if ns != self {
		return fmt.Errorf("%s runs in another mount namespace than the agent (a systemd unit with PrivateTmp=, ProtectSystem= or ProtectHome=?), so it would not see the tenants' disk mounts", comm)
	}
	return nil
}

func ownedByRoot(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && s.Uid == 0
}

// MountOf reports whether dir is a mount point, and of which source.
func MountOf(dir string) (bool, string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, ""
	}
	defer f.Close()
	want := filepath.Clean(dir)
	var found bool
	var src string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || unescapeMount(fields[4]) != want {
			continue
		}
		for i := 6; i < len(fields)-2; i++ {
			if fields[i] == "-" {
				found, src = true, fields[i+2] // the last mount on top wins
				break
			}
		}
	}
	return found, src
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// loopSetCapacity makes a loop device re-read its backing file's size
// (LOOP_SET_CAPACITY).
func loopSetCapacity(dev string) error {
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	const loopSetCapacityIoctl = 0x4C07
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), loopSetCapacityIoctl, 0); errno != 0 {
		return errno
	}
	return nil
}
