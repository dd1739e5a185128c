package usage

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// burnerEnv makes the test binary a child that holds memory and burns CPU
// until its stdin closes (a real process for FromProcTree to measure).
const burnerEnv = "CLAWFLEET_USAGE_BURNER"

const burnerBytes = 48 << 20

func TestMain(m *testing.M) {
	if os.Getenv(burnerEnv) == "1" {
		burn()
		return
	}
	os.Exit(m.Run())
}

var sink []byte

func burn() {
	sink = make([]byte, burnerBytes)
	for i := range sink { // touch every page, so it is resident
		sink[i] = byte(i)
	}
	done := make(chan struct{})
	go func() { _, _ = os.Stdin.Read(make([]byte, 1)); close(done) }()
	x := 0
	for {
		select {
		case <-done:
			return
		default:
		}
		for i := 0; i < 1_000_000; i++ {
			x += i * int(sink[i%len(sink)])
		}
	}
}

// TestFromProcTreeRealProcess: a shell whose child (the burner) holds 48
// MiB and burns CPU: the shell's tree counts the grandchild's memory, and
// its CPU time grows.
func TestFromProcTreeRealProcess(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `"$0" -test.run=none; :`, self)
	cmd.Env = append(os.Environ(), burnerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })

	deadline := time.Now().Add(30 * time.Second)
	first, err := FromProcTree(cmd.Process.Pid)
	for err == nil && first.MemoryBytes < burnerBytes && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		first, err = FromProcTree(cmd.Process.Pid)
	}
	if err != nil || first.MemoryBytes < burnerBytes {
		t.Fatalf("the tree's memory: %+v, %v (want ≥ %d: the grandchild's)", first, err, burnerBytes)
	}
	later := first
	for err == nil && later.CPUUsec <= first.CPUUsec && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		later, err = FromProcTree(cmd.Process.Pid)
	}
	if err != nil || later.CPUUsec <= first.CPUUsec {
		t.Fatalf("cpu did not grow: %+v then %+v, %v", first, later, err)
	}
	if _, err := FromProcTree(1 << 30); err == nil {
		t.Error("a pid that does not exist: no error")
	}
}

// TestFromCgroupFiles parses a fake cgroup v2 directory.
func TestFromCgroupFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpu.stat", "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\nnr_periods 0\n")
	write("memory.current", "10485760\n")
	write("memory.stat", "anon 6291456\nfile 4194304\ninactive_file 2097152\nactive_file 2097152\n")
	u, err := FromCgroup(dir)
	if err != nil || u.CPUUsec != 123456 || u.MemoryBytes != 10485760-2097152 {
		t.Fatalf("got %+v, %v", u, err)
	}
	// No memory.stat: memory.current as it is.
	os.Remove(filepath.Join(dir, "memory.stat"))
	if u, err := FromCgroup(dir); err != nil || u.MemoryBytes != 10485760 {
		t.Fatalf("without memory.stat: %+v, %v", u, err)
	}
	write("memory.current", "lots\n")
	if _, err := FromCgroup(dir); err == nil || !strings.Contains(err.Error(), "memory.current") {
		t.Errorf("junk memory.current: %v", err)
	}
	write("cpu.stat", "user_usec 1\n")
	if _, err := FromCgroup(dir); err == nil || !strings.Contains(err.Error(), "usage_usec") {
		t.Errorf("cpu.stat without usage_usec: %v", err)
	}
	if _, err := FromCgroup(filepath.Join(dir, "gone")); err == nil {
		t.Error("a missing cgroup: no error")
	}
}

// TestFromCgroupReal reads this test's own cgroup, where cgroup v2 is
// mounted and its controllers' files are there.
func TestFromCgroupReal(t *testing.T) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip("no /proc/self/cgroup")
	}
	path, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "0::")
	dir := filepath.Join("/sys/fs/cgroup", path)
	if _, err := os.Stat(filepath.Join(dir, "memory.current")); !ok || err != nil {
		t.Skipf("no cgroup v2 memory controller here (%q)", b)
	}
	u, err := FromCgroup(dir)
	if err != nil || u.CPUUsec <= 0 || u.MemoryBytes <= 0 {
		t.Fatalf("own cgroup %s: %+v, %v", dir, u, err)
	}
}

// TestTableCache: the trees of processes alive at one reading of /proc are
// added up from that reading while it is recent; a process started since is
// read again for; a reading too old is replaced (a process gone is then an
// error).
func TestTableCache(t *testing.T) {
	start := func() *exec.Cmd {
		cmd := exec.Command("sleep", "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	a, b := start(), start()
	c := NewTableCache(time.Hour)
	if _, err := c.Tree(a.Process.Pid); err != nil {
		t.Fatal(err)
	}
	first := c.t
	if _, err := c.Tree(b.Process.Pid); err != nil || c.t != first {
		t.Fatalf("a process of the same reading read /proc again (or failed: %v)", err)
	}
	later := start()
	if u, err := c.Tree(later.Process.Pid); err != nil || c.t == first || u.MemoryBytes <= 0 {
		t.Fatalf("a process started since the reading: %+v %v (read again: %v)", u, err, c.t != first)
	}
	if u, _ := c.Tree(b.Process.Pid); u.AtMs != c.t.at.UnixMilli() || u.AtMs > time.Now().UnixMilli() {
		t.Fatalf("a figure from a reading is not dated by it: %d, reading at %d", u.AtMs, c.t.at.UnixMilli())
	}
	a.Process.Kill()
	a.Wait()
	if _, err := c.Tree(a.Process.Pid); err != nil {
		t.Fatalf("a recent reading not used: %v", err)
	}
	c.maxAge = 0
	if _, err := c.Tree(a.Process.Pid); err == nil {
		t.Fatal("a process gone, counted from a reading too old")
	}
}
