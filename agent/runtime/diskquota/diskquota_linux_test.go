package diskquota

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
)

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a/b`: "/a/b", `/a\040b`: "/a b", `/x\011y\134z`: "/x\ty\\z", `/bad\9`: `/bad\9`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSameMountNamespace: quotas for docker need dockerd to see the
// agent's mounts; a process in another mount namespace would not.
func TestSameMountNamespace(t *testing.T) {
	runtimetest.RequireRoot(t, "mount namespaces")
	dir := runtimetest.Dir(t) // the impostor below runs as another user
	bin := filepath.Join(dir, "cfnsprobe")
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	pidFile := filepath.Join(dir, "cfnsprobe.pid")
	if err := sameMountNamespace("cfnsprobe", []string{pidFile}); err == nil || !strings.Contains(err.Error(), "pid file") {
		t.Fatalf("no pid file: %v", err)
	}
	for _, tc := range []struct {
		argv []string
		ok   bool
	}{{[]string{bin, "30"}, true}, {[]string{"unshare", "-m", bin, "30"}, false}} {
		cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
		var err error
		for range 50 { // until unshare has exec'd the probe
			if err = sameMountNamespace("cfnsprobe", []string{pidFile}); err == nil || !strings.Contains(err.Error(), "pid file") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if (err == nil) != tc.ok {
			t.Errorf("%v: %v", tc.argv, err)
		}
	}
	// A process of another user with the right name is not the daemon.
	impostor := exec.Command(bin, "30")
	impostor.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	if err := impostor.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { impostor.Process.Kill(); impostor.Wait() }()
	os.WriteFile(pidFile, []byte(strconv.Itoa(impostor.Process.Pid)), 0o644)
	time.Sleep(50 * time.Millisecond)
	if err := sameMountNamespace("cfnsprobe", []string{pidFile}); err == nil {
		t.Fatal("a non-root process was taken for the daemon")
	}
}

// TestGrowOfflineWithALingeringLoop: the old mount's loop device can
// outlive umount a moment; growing must not mount the disk through it (at
// its old size).
func TestGrowOfflineWithALingeringLoop(t *testing.T) {
	q, data := newQuota(t)
	dir, img := filepath.Join(data, "ten_a"), filepath.Join(data, "ten_a.img")
	if err := q.Ensure(dir, img, 40<<20, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Release(dir); detachLoops(img) })
	before := fsBytes(dir)
	// A second loop device on the image, as the first one lingers.
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v %s", err, out)
	}
	if err := os.Truncate(img, 96<<20); err != nil {
		t.Fatal(err)
	}
	if err := q.GrowOffline(dir, img); err != nil {
		t.Fatal(err)
	}
	if after := fsBytes(dir); after < 80<<20 || after <= before {
		t.Fatalf("filesystem of %d bytes (was %d) after growing to 96 MiB", after, before)
	}
	if devs := loopsOf(img); len(devs) != 1 {
		t.Fatalf("loop devices on the image: %v", devs)
	}
}

// TestFreshDiskWritesLittle: a new tenant disk of 2 GiB takes about a
// megabyte of the host's disk, and mkfs has marked every inode table
// zeroed, so the kernel writes none after mounting it either (its journal
// and inode tables are holes of a fresh sparse file, which read as zeros).
func TestFreshDiskWritesLittle(t *testing.T) {
	q, data := newQuota(t)
	dir, img := filepath.Join(data, "ten_b"), filepath.Join(data, "ten_b.img")
	if err := q.Ensure(dir, img, 2<<30, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Release(dir); detachLoops(img) })
	var st syscall.Stat_t
	if err := syscall.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > 4<<20 {
		t.Errorf("a fresh 2 GiB disk takes %d KiB of the host's disk, want under 4 MiB", used>>10)
	}
	out, err := exec.Command("dumpe2fs", img).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v %s", err, out)
	}
	groups, zeroed := len(regexp.MustCompile(`(?m)^Group \d+:`).FindAllIndex(out, -1)), strings.Count(string(out), "ITABLE_ZEROED")
	if groups == 0 || zeroed != groups {
		t.Errorf("%d of %d block groups have their inode table marked zeroed", zeroed, groups)
	}
	var root syscall.Stat_t
	if err := syscall.Stat(dir, &root); err != nil || root.Uid != 1000 || root.Gid != 1000 {
		t.Errorf("the disk's root is owned by %d:%d (%v), want the tenant's 1000:1000", root.Uid, root.Gid, err)
	}
}

// TestAttachedAsMountAttaches: the agent's own loop mount is what
// `mount -o loop,nosuid,nodev,noatime` makes (ext4 from a loop device
// backed by the image, clearing itself on unmount); a second mount of an
// image already attached uses its device again, never a second device on
// one filesystem; released, the image holds no loop device.
func TestAttachedAsMountAttaches(t *testing.T) {
	q, data := newQuota(t)
	dir, img := filepath.Join(data, "ten_c"), filepath.Join(data, "ten_c.img")
	if err := q.Ensure(dir, img, 40<<20, 0, 0); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(data, "again")
	t.Cleanup(func() { q.Release(other); q.Release(dir); detachLoops(img) })
	devs := loopsOf(img)
	if len(devs) != 1 {
		t.Fatalf("loop devices on the image: %v", devs)
	}
	if ok, src := MountOf(dir); !ok || src != devs[0] {
		t.Fatalf("mounted %v from %q, want %s", ok, src, devs[0])
	}
	out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE,OPTIONS", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("findmnt: %v %s", err, out)
	}
	for _, want := range []string{"ext4", "nosuid", "nodev", "noatime"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("mount %q lacks %s", out, want)
		}
	}
	name := strings.TrimPrefix(devs[0], "/dev/")
	if b, err := os.ReadFile("/sys/block/" + name + "/loop/autoclear"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("autoclear of %s: %q %v", name, b, err)
	}
	if got := q.MountImages(map[string]string{img: other}); !got[other] {
		t.Fatal("the image not mounted a second time")
	}
	if again := loopsOf(img); len(again) != 1 || again[0] != devs[0] {
		t.Fatalf("loop devices on the image after a second mount: %v, want %v", again, devs)
	}
	if err := q.Release(other); err != nil {
		t.Fatal(err)
	}
	if err := q.Release(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(loopsOf(img)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("released, the image still has loop devices %v", loopsOf(img))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newQuota is a Quota on a fresh data directory (as root).
func newQuota(t *testing.T) (*Quota, string) {
	t.Helper()
	runtimetest.RequireRoot(t, "loop mounts")
	data := t.TempDir()
	q, err := New(data, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return q, data
}
