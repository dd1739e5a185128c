//go:build linux

// Package cgroup limits each tenant's processes with a cgroup v2 of its
// own: memory (no swap), CPU and pids from the plan.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Cgroups manages one cgroup v2 per tenant under parent.
type Cgroups struct {
	parent string
}

var cgroupControllers = []string{"cpu", "memory", "pids"}

// New checks that parent's cgroup v2 hierarchy is usable and
// delegates the cpu, memory and pids controllers down to parent's children.
func New(parent string) (*Cgroups, error) {
	parent = filepath.Clean(parent)
	up := filepath.Dir(parent)
	if _, err := os.Stat(filepath.Join(up, "cgroup.subtree_control")); err != nil {
		return nil, fmt.Errorf("no cgroup v2 hierarchy at %s: %w", up, err)
	}
	have, err := os.ReadFile(filepath.Join(up, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	avail := strings.Fields(string(have))
	for _, c := range cgroupControllers {
		if !contains(avail, c) {
			return nil, fmt.Errorf("cgroup controller %q not available in %s (have %q)", c, up, strings.TrimSpace(string(have)))
		}
	}
	enable := "+cpu +memory +pids"
	if err := enableControllers(up, enable); err != nil {
		return nil, err
	}
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := enableControllers(parent, enable); err != nil {
		return nil, err
	}
	return &Cgroups{parent: parent}, nil
}

func enableControllers(dir, enable string) error {
	cur, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	missing := false
	for _, c := range cgroupControllers {
		if !contains(strings.Fields(string(cur)), c) {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(enable), 0o644); err != nil {
		return fmt.Errorf("enabling %s in %s: %w", enable, dir, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Cgroups) dir(id string) string { return filepath.Join(c.parent, id) }

// Dir is the tenant's cgroup directory (for reading its usage).
func (c *Cgroups) Dir(id string) string { return c.dir(id) }

// Setup creates the tenant's cgroup (if missing) and sets its limits.
func (c *Cgroups) Setup(id string, spec proto.TenantSpec) (string, error) {
	d := c.dir(id)
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	return d, c.SetLimits(id, spec)
}

// cgroupLimits returns the files and values for spec's limits.
func cgroupLimits(spec proto.TenantSpec) [][2]string {
	mem, cpu, pids := "max", "max 100000", "max"
	if spec.MemoryBytes > 0 {
		mem = strconv.FormatInt(spec.MemoryBytes, 10)
	}
	if spec.CPUMillis > 0 {
		// cpuMillis/1000 CPUs per 100 ms period.
		quota := int64(spec.CPUMillis) * 100
		if quota < 1000 {
			quota = 1000
		}
		cpu = fmt.Sprintf("%d 100000", quota)
	}
	if spec.PidsLimit > 0 {
		pids = strconv.Itoa(spec.PidsLimit)
	}
	return [][2]string{{"memory.max", mem}, {"memory.swap.max", "0"}, {"cpu.max", cpu}, {"pids.max", pids}}
}

func (c *Cgroups) SetLimits(id string, spec proto.TenantSpec) error {
	d := c.dir(id)
	for _, kv := range cgroupLimits(spec) {
		err := os.WriteFile(filepath.Join(d, kv[0]), []byte(kv[1]), 0o644)
		if err != nil && !(kv[0] == "memory.swap.max" && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("%s: %w", kv[0], err)
		}
	}
	return nil
}

// Kill kills every process in the tenant's cgroup.
func (c *Cgroups) Kill(id string) {
	d := c.dir(id)
	if err := os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0o644); err == nil {
		return
	}
	b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Remove kills what is left in the tenant's cgroup and deletes it.
func (c *Cgroups) Remove(id string) {
	d := c.dir(id)
	if _, err := os.Stat(d); err != nil {
		return
	}
	c.Kill(id)
	for i := 0; i < 20; i++ {
		if err := syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
