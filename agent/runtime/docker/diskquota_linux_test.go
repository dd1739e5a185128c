package docker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/diskquota"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
)

// TestDockerDiskQuota: the docker runtime's state volume sits on the
// tenant's disk image, so the container's writes count against the plan.
func TestDockerDiskQuota(t *testing.T) {
	runtimetest.RequireRoot(t, "disk quotas")
	newTestDocker(t, filepath.Join(runtimetest.Dir(t), "image")) // builds the stand-in image
	dataDir := filepath.Join(runtimetest.Dir(t), "tenants")
	d, err := New(Options{DataDir: dataDir, StopTimeout: 2 * time.Second, DiskQuota: diskquota.Loop, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := runtimetest.Ctx(t)
	spec := runtimetest.Spec("ten_dockdisk01", runtimetest.FreeBase(t))
	spec.Image, spec.DiskBytes = runtimetest.StandinImage, 48<<20
	t.Cleanup(func() { d.Purge(runtimetest.Ctx(t), spec.ID) })
	if err := d.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitReady(t, runtimetest.Upstream(t, d, spec.ID), 30*time.Second)
	state := filepath.Join(dataDir, spec.ID, "state")
	if ok, src := diskquota.MountOf(state); !ok || !strings.HasPrefix(src, "/dev/loop") {
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
	runtimetest.WaitReady(t, runtimetest.Upstream(t, d, spec.ID), 30*time.Second)

	// A reboot: Docker starts the container again before the agent mounts
	// the disk. The next agent mounts it and recreates the container on it.
	before, _ := inspectRaw(ctx, d, spec.ID)
	if err := d.quota.Release(state); err != nil {
		t.Fatal(err)
	}
	d2, err := New(Options{DataDir: dataDir, StopTimeout: 2 * time.Second, DiskQuota: diskquota.Loop, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := diskquota.MountOf(state); !ok {
		t.Fatal("the next agent did not mount the disk")
	}
	if err := d2.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	after, _ := inspectRaw(ctx, d2, spec.ID)
	if before["Id"] == nil || before["Id"] == after["Id"] {
		t.Fatalf("container %v kept after its disk was mounted again", after["Id"])
	}
	if err := d2.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if again, _ := inspectRaw(ctx, d2, spec.ID); again["Id"] != after["Id"] {
		t.Fatal("container recreated on every Ensure")
	}
	runtimetest.WaitReady(t, runtimetest.Upstream(t, d2, spec.ID), 30*time.Second)

	if err := d.Remove(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := diskquota.MountOf(state); ok {
		t.Fatal("state still mounted after Remove")
	}
	if err := d.Purge(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dataDir, spec.ID)); !os.IsNotExist(err) {
		t.Fatalf("tenant dir left after Purge: %v", err)
	}
}
