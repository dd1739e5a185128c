package runtime

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcessDiskQuota: a plan's diskBytes is a hard limit for the gateway
// (ENOSPC), the agent can still write its own files, the limit grows with
// the plan, files from before quotas move in, and kept or purged data is
// handled like without quotas.
func TestProcessDiskQuota(t *testing.T) {
	requireRoot(t, "disk quotas")
	bin := standinBin(t)
	dataDir := filepath.Join(worldDir(t), "tenants")
	removeNetns(t, dataDir)
	os.MkdirAll(dataDir, 0o711)
	const id = "ten_diskquota1"
	dir := filepath.Join(dataDir, id)
	// A tenant directory from an agent without quotas, owned by the shared
	// user it used.
	os.MkdirAll(filepath.Join(dir, procStateDir), 0o700)
	os.WriteFile(filepath.Join(dir, procStateDir, "memory.md"), []byte("remember me"), 0o600)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	// An agent killed while moving them in left a half-made image.
	os.WriteFile(filepath.Join(dataDir, id+".img.new"), []byte("half"), 0o600)

	p, err := NewProcess(ProcessOptions{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, NetnsPool: testPool,
		DiskQuota: DiskQuotaLoop, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); p.quota.release(dir) })
	ctx := ctxT(t)
	spec := testSpec(id, freeBase(t))
	spec.DiskBytes = 48 << 20
	if err := p.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, upstream(t, p, id), 10*time.Second)
	uid, _, _ := p.tenantIDs(spec.ID)

	if ok, src := mountOf(dir); !ok || !strings.HasPrefix(src, "/dev/loop") {
		t.Fatalf("tenant dir mounted %v from %q", ok, src)
	}
	size := func() uint64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * uint64(st.Bsize)
	}
	if s := size(); s < 30<<20 || s > 48<<20 {
		t.Fatalf("filesystem of %d bytes for a 48 MiB plan", s)
	}
	old := filepath.Join(dir, procStateDir, "memory.md")
	if b, err := os.ReadFile(old); err != nil || string(b) != "remember me" {
		t.Fatalf("file from before quotas: %q %v", b, err)
	}
	if st, _ := os.Stat(old); int(st.Sys().(*syscall.Stat_t).Uid) != uid {
		t.Fatalf("moved file not the tenant's")
	}

	// The gateway's uid fills its disk: ENOSPC at the limit.
	fill := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(dir, procTmpDir, "fill"), "bs=1M", "count=100")
	fill.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
	if out, err := fill.CombinedOutput(); err == nil || !strings.Contains(string(out), "No space left") {
		t.Fatalf("100 MiB into a 48 MiB disk: %v %s", err, out)
	}
	// The runtime reports the disk as full.
	var in Instance
	if list, err := p.List(ctx); err == nil {
		for _, x := range list {
			if x.TenantID == id {
				in = x
			}
		}
	}
	if in.DiskTotalBytes < 30<<20 || in.DiskUsedBytes < in.DiskTotalBytes*9/10 {
		t.Fatalf("reported disk %d of %d after filling it", in.DiskUsedBytes, in.DiskTotalBytes)
	}
	// The agent (root) still writes the tenant's files in the reserve.
	if err := p.writeMeta(spec); err != nil {
		t.Fatalf("agent's meta on a full tenant disk: %v", err)
	}
	if host := hostFree(t, dataDir); host < 100<<20 {
		t.Fatalf("host disk nearly full: %d", host)
	}

	// A bigger plan grows the disk (online where the kernel allows, else
	// with a restart of the gateway), and the gateway runs on it.
	spec.DiskBytes = 96 << 20
	if err := p.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if s := size(); s < 80<<20 {
		t.Fatalf("filesystem of %d bytes after growing to 96 MiB", s)
	}
	waitReady(t, upstream(t, p, id), 10*time.Second)
	if b, err := os.ReadFile(old); err != nil || string(b) != "remember me" {
		t.Fatalf("data after growing: %q %v", b, err)
	}

	// Something else mounted on top of the disk (a tenant's FUSE mount,
	// say) is never taken for it: no grow on its device, no usage from it;
	// releasing takes both off.
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "cfontop", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount on top: %v %s", err, out)
	}
	if err := p.Ensure(ctx, spec); err == nil || !strings.Contains(err.Error(), "not the tenant's disk image") {
		t.Fatalf("Ensure with a foreign mount on top: %v", err)
	}
	if _, _, ok := p.quota.usage(dir, filepath.Join(dataDir, id+".img")); ok {
		t.Fatal("usage read from a foreign mount")
	}
	if err := p.quota.release(dir); err != nil {
		t.Fatal(err)
	}
	if ok, _ := mountOf(dir); ok {
		t.Fatal("mounts left after release")
	}
	if err := p.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, upstream(t, p, id), 10*time.Second)

	// Removed with its data kept: unmounted, the image stays; back again
	// with the data.
	if err := p.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := mountOf(dir); ok {
		t.Fatal("still mounted after Remove")
	}
	if _, err := os.Stat(filepath.Join(dataDir, id+".img")); err != nil {
		t.Fatalf("image gone after Remove: %v", err)
	}
	// An agent without quotas refuses to start it on the empty directory.
	off, err := NewProcess(ProcessOptions{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, NetnsPool: testPool,
		DiskQuota: DiskQuotaOff, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := off.Ensure(ctx, spec); err == nil || !strings.Contains(err.Error(), "disk quotas are off") {
		t.Fatalf("tenant with an image on an agent without quotas: %v", err)
	}
	off.Close()
	if err := p.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "remember me" {
		t.Fatalf("kept data after Remove and Ensure: %q %v", b, err)
	}
	// The agent stops: the disk is unmounted, and mounted again by the next.
	p.Close()
	if ok, _ := mountOf(dir); ok {
		t.Fatal("still mounted after Close")
	}
	if p, err = NewProcess(ProcessOptions{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, NetnsPool: testPool,
		DiskQuota: DiskQuotaLoop, Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := mountOf(dir); !ok {
		t.Fatal("not mounted by the next agent")
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "remember me" {
		t.Fatalf("data after an agent restart: %q %v", b, err)
	}
	// Purged: nothing left.
	if err := p.Purge(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, filepath.Join(dataDir, id+".img")} {
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Fatalf("%s left after Purge: %v", path, err)
		}
	}
}

func hostFree(t *testing.T, dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a/b`: "/a/b", `/a\040b`: "/a b", `/x\011y\134z`: "/x\ty\\z", `/bad\9`: `/bad\9`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDockerDiskQuota: the docker runtime's state volume sits on the
// tenant's disk image, so the container's writes count against the plan.
func TestDockerDiskQuota(t *testing.T) {
	requireRoot(t, "disk quotas")
	newTestDocker(t, filepath.Join(worldDir(t), "image")) // builds the stand-in image
	dataDir := filepath.Join(worldDir(t), "tenants")
	d, err := NewDocker(DockerOptions{DataDir: dataDir, StopTimeout: 2 * time.Second, DiskQuota: DiskQuotaLoop, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	spec := testSpec("ten_dockdisk01", freeBase(t))
	spec.Image, spec.DiskBytes = StandinImage, 48<<20
	t.Cleanup(func() { d.Purge(ctxT(t), spec.ID) })
	if err := d.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, upstream(t, d, spec.ID), 30*time.Second)
	state := filepath.Join(dataDir, spec.ID, "state")
	if ok, src := mountOf(state); !ok || !strings.HasPrefix(src, "/dev/loop") {
		t.Fatalf("state dir mounted %v from %q", ok, src)
	}
	// The container wrote into the image, not under it.
	if _, err := os.Stat(filepath.Join(state, "standin-started")); err != nil {
		t.Fatalf("the container's state is not on its disk: %v", err)
	}
	// (As root, from the host: the image user cannot traverse the agent's
	// directory outside the container; root meets the same end of the disk.)
	if out, err := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(state, "fill"), "bs=1M", "count=100").CombinedOutput(); err == nil || !strings.Contains(string(out), "No space left") {
		t.Fatalf("100 MiB into a 48 MiB disk: %v %s", err, out)
	}
	os.Remove(filepath.Join(state, "fill"))

	spec.DiskBytes = 96 << 20
	if err := d.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(state, &st); err != nil || st.Blocks*uint64(st.Bsize) < 80<<20 {
		t.Fatalf("disk after growing to 96 MiB: %d bytes, %v", st.Blocks*uint64(st.Bsize), err)
	}
	waitReady(t, upstream(t, d, spec.ID), 30*time.Second)

	// A reboot: Docker starts the container again before the agent mounts
	// the disk. The next agent mounts it and recreates the container on it.
	before, _ := d.InspectRaw(ctx, spec.ID)
	if err := d.quota.release(state); err != nil {
		t.Fatal(err)
	}
	d2, err := NewDocker(DockerOptions{DataDir: dataDir, StopTimeout: 2 * time.Second, DiskQuota: DiskQuotaLoop, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := mountOf(state); !ok {
		t.Fatal("the next agent did not mount the disk")
	}
	if err := d2.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after, _ := d2.InspectRaw(ctx, spec.ID)
	if before["Id"] == nil || before["Id"] == after["Id"] {
		t.Fatalf("container %v kept after its disk was mounted again", after["Id"])
	}
	if err := d2.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if again, _ := d2.InspectRaw(ctx, spec.ID); again["Id"] != after["Id"] {
		t.Fatal("container recreated on every Ensure")
	}
	waitReady(t, upstream(t, d2, spec.ID), 30*time.Second)

	if err := d.Remove(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := mountOf(state); ok {
		t.Fatal("state still mounted after Remove")
	}
	if err := d.Purge(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dataDir, spec.ID)); !os.IsNotExist(err) {
		t.Fatalf("tenant dir left after Purge: %v", err)
	}
}

// TestSameMountNamespace: quotas for docker need dockerd to see the
// agent's mounts; a process in another mount namespace would not.
func TestSameMountNamespace(t *testing.T) {
	requireRoot(t, "mount namespaces")
	dir := worldDir(t) // the impostor below runs as another user
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
