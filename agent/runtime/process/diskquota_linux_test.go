package process

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/diskquota"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
)

// TestProcessDiskQuota: a plan's diskBytes is a hard limit for the gateway
// (ENOSPC), the agent can still write its own files, the limit grows with
// the plan, files from before quotas move in, and kept or purged data is
// handled like without quotas.
func TestProcessDiskQuota(t *testing.T) {
	runtimetest.RequireRoot(t, "disk quotas")
	bin := runtimetest.Standin(t)
	dataDir := filepath.Join(runtimetest.Dir(t), "tenants")
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

	p, err := New(Options{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, NetnsPool: runtimetest.NetnsPool,
		DiskQuota: diskquota.Loop, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); p.quota.Release(dir) })
	ctx := runtimetest.Ctx(t)
	spec := runtimetest.Spec(id, runtimetest.FreeBase(t))
	spec.DiskBytes = 48 << 20
	if err := p.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, runtimetest.Upstream(t, p, id), 10*time.Second)
	uid, _, _ := p.tenantIDs(spec.ID)

	if ok, src := diskquota.MountOf(dir); !ok || !strings.HasPrefix(src, "/dev/loop") {
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
	var in runtime.Instance
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
	runtimetest.WaitReady(t, runtimetest.Upstream(t, p, id), 10*time.Second)
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
	if _, _, ok := p.quota.Usage(dir, filepath.Join(dataDir, id+".img")); ok {
		t.Fatal("usage read from a foreign mount")
	}
	if err := p.quota.Release(dir); err != nil {
		t.Fatal(err)
	}
	if ok, _ := diskquota.MountOf(dir); ok {
		t.Fatal("mounts left after release")
	}
	if err := p.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, runtimetest.Upstream(t, p, id), 10*time.Second)

	// Removed with its data kept: unmounted, the image stays; back again
	// with the data.
	if err := p.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := diskquota.MountOf(dir); ok {
		t.Fatal("still mounted after Remove")
	}
	if _, err := os.Stat(filepath.Join(dataDir, id+".img")); err != nil {
		t.Fatalf("image gone after Remove: %v", err)
	}
	// An agent without quotas refuses to start it on the empty directory.
	off, err := New(Options{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, NetnsPool: runtimetest.NetnsPool,
		DiskQuota: diskquota.Off, Logger: runtimetest.Logger(t)})
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
	if ok, _ := diskquota.MountOf(dir); ok {
		t.Fatal("still mounted after Close")
	}
	if p, err = New(Options{OpenClawBin: bin, DataDir: dataDir, StopTimeout: 3 * time.Second, NetnsPool: runtimetest.NetnsPool,
		DiskQuota: diskquota.Loop, Logger: runtimetest.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := diskquota.MountOf(dir); !ok {
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
