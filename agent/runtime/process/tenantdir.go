//go:build linux

package process

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/clawfleet/clawfleet/agent/runtime/diskquota"
	"github.com/clawfleet/clawfleet/agent/runtime/gateway"
	"github.com/clawfleet/clawfleet/agent/runtime/hostfs"
	"github.com/clawfleet/clawfleet/agent/runtime/uids"
	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// perTenant marks Runtime.uid: each tenant gets its own identity.
const perTenant = -2

func runAsIDs(uid, gid int) (int, int) {
	switch {
	case uid == -1:
		return -1, -1
	case uid <= 0:
		return perTenant, perTenant
	}
	if gid <= 0 {
		gid = 65534
	}
	return uid, gid
}

// tenantIDs is the uid and gid a tenant's gateway runs as (-1: the agent's).
func (p *Runtime) tenantIDs(id string) (int, int, error) {
	if p.uid != perTenant {
		return p.uid, p.gid, nil
	}
	uid, err := p.uids.Get(id)
	return uid, uid, err
}

// mayTake reports whether chownTree may hand a file of owner to a tenant:
// one of the tenant uids or the shared user of older agents, never another
// user's file that found its way in.
func (p *Runtime) mayTake(owner int) bool {
	return owner == 65534 || uids.InRange(owner, p.uidBase)
}

func (p *Runtime) tenantDir(id string) string { return filepath.Join(p.opts.DataDir, id) }

// imagePath is the tenant's disk image (DiskQuota).
func (p *Runtime) imagePath(id string) string { return filepath.Join(p.opts.DataDir, id+".img") }

// prepareDir creates the tenant directory and writes its config file. The
// directory is owned by the tenant's uid (OpenClaw rewrites its config with
// a rename in that directory), so nothing here follows symlinks in it.
func (p *Runtime) prepareDir(spec proto.TenantSpec, o gateway.Options) error {
	dir := p.tenantDir(spec.ID)
	uid, gid, err := p.tenantIDs(spec.ID)
	if err != nil {
		return err
	}
	if size, ok, err := diskquota.Size(p.quota != nil, p.imagePath(spec.ID), spec.DiskBytes); err != nil {
		return err
	} else if ok {
		if err := p.quota.Ensure(dir, p.imagePath(spec.ID), size, max(uid, 0), max(gid, 0)); err != nil {
			return fmt.Errorf("disk quota: %w", err)
		}
	}
	if err := hostfs.ChownTree(dir, uid, gid, p.mayTake); err != nil {
		return fmt.Errorf("give the tenant directory to uid %d: %w", uid, err)
	}
	if err := hostfs.MkdirNoFollow(dir, 0o700, uid, gid); err != nil {
		return err
	}
	for _, sub := range []string{procStateDir, procHomeDir, procCacheDir, procTmpDir} {
		if err := hostfs.MkdirNoFollow(filepath.Join(dir, sub), 0o700, uid, gid); err != nil {
			return err
		}
	}
	_, err = gateway.Write(filepath.Join(dir, procConfigFile), spec, o, uid, gid)
	return err
}

// growDiskOffline stops t's gateway so that its disk can grow unmounted; the
// rest of Ensure starts it again. The caller holds t.op.
func (p *Runtime) growDiskOffline(t *procTenant, spec proto.TenantSpec, o gateway.Options) error {
	t.mu.Lock()
	run := t.run
	t.run = nil
	t.mu.Unlock()
	if run != nil {
		p.log.Info("stopping gateway to grow its disk", "tenant", spec.ID)
		p.stopRun(run)
	}
	if err := p.quota.GrowOffline(p.tenantDir(spec.ID), p.imagePath(spec.ID)); err != nil {
		return err
	}
	return p.prepareDir(spec, o)
}

func metaOf(spec proto.TenantSpec) []byte {
	b, _ := json.Marshal(procMeta{TenantID: spec.ID, Port: spec.Port, RestartGen: spec.RestartGen, State: spec.State})
	return b
}

func (p *Runtime) writeMeta(spec proto.TenantSpec) error {
	return atomicfile.WriteFile(filepath.Join(p.tenantDir(spec.ID), procMetaFile), metaOf(spec), 0o600)
}

// saveMeta writes t's instance file unless it holds spec already: Ensure
// runs every few seconds for every tenant, and each write is synced to disk.
func (p *Runtime) saveMeta(t *procTenant, spec proto.TenantSpec) error {
	b := metaOf(spec)
	t.mu.Lock()
	same := bytes.Equal(t.meta, b)
	t.mu.Unlock()
	if same {
		return nil
	}
	if err := p.writeMeta(spec); err != nil {
		return err
	}
	t.mu.Lock()
	t.meta = b
	t.mu.Unlock()
	return nil
}

// maxMetaBytes bounds instance.json as read back (the agent writes ~100
// bytes).
const maxMetaBytes = 4 << 10

// readMeta reads a tenant's instance.json. The directory is the tenant's:
// the file is read without following a symlink or blocking on a FIFO in its
// place, and bounded (hostfs.ReadFile).
func (p *Runtime) readMeta(id string) (procMeta, error) {
	var m procMeta
	b, err := hostfs.ReadFile(filepath.Join(p.tenantDir(id), procMetaFile), maxMetaBytes)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s of tenant %s: %w", procMetaFile, id, err)
	}
	return m, nil
}
