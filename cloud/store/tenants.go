package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Tenant statuses. pending, starting, running, stopped and failed match the
// proto.Tenant* states; deleting is the cloud's own, while a deletion is
// being recorded.
const (
	TenantPending  = "pending"
	TenantStarting = "starting"
	TenantRunning  = "running"
	TenantStopped  = "stopped"
	TenantFailed   = "failed"
	TenantDeleting = "deleting"
)

// TenantStatuses lists every status, for metrics.
var TenantStatuses = []string{TenantPending, TenantStarting, TenantRunning, TenantStopped, TenantFailed, TenantDeleting}

// Tenant is one customer's gateway, placed on a host. Deleting a tenant
// removes its row, so its owner, slug and port become free at once; the
// audit log keeps its history.
type Tenant struct {
	ID   string `gorm:"primaryKey;size:80"`
	Slug string `gorm:"size:63;not null;uniqueIndex"`
	// OwnerID is the user the gateway signs in (proto.TenantSpec.Owner):
	// for the seed API's tenant (Shared false) its one owner, of whom it is
	// the only such tenant (idx_tenants_owner_personal); for a team's
	// tenant (Shared true) the member who created it, which grants nothing.
	OwnerID    string `gorm:"size:128;not null"`
	OwnerEmail string `gorm:"size:254"`
	// TeamID is the team that owns the tenant: the owner's personal team
	// for the seed API's tenants ("" for one made before its owner was a
	// user, on a cloud without accounts).
	TeamID string `gorm:"size:40;not null;default:'';index"`
	// Shared marks a tenant created on a team's routes: not its creator's
	// /api/tenants/me, and only the team's roles grant anything on it.
	Shared bool   `gorm:"not null;default:false"`
	Name   string `gorm:"size:255"`
	Plan   string `gorm:"size:32;not null"`
	Status string `gorm:"size:16;not null;index"`
	// DesiredState is running or stopped.
	DesiredState string `gorm:"size:16;not null"`
	RestartGen   int64  `gorm:"not null;default:0"`
	// HostID and Port are unique among placed tenants; an unplaced tenant
	// (its host was deleted and no other had room) has "" and 0, and there
	// may be any number of those.
	HostID string `gorm:"size:80;not null;uniqueIndex:idx_tenants_placed_port,priority:1,where:host_id <> ''"`
	Port   int    `gorm:"not null;uniqueIndex:idx_tenants_placed_port,priority:2,where:host_id <> ''"`
	// GatewayTokenEnc is the gateway token sealed with the cloud's secret
	// key (AES-256-GCM); the agent needs it in plain text, so it cannot be
	// hashed. Never returned by the API.
	GatewayTokenEnc string `gorm:"size:512;not null"`
	CPUMillis       int    `gorm:"not null"`
	MemoryBytes     int64  `gorm:"not null"`
	DiskBytes       int64  `gorm:"not null"`
	PidsLimit       int    `gorm:"not null"`
	Image           string `gorm:"size:255"`
	// Container is the Docker container ID of an adopted gateway (one made
	// before clawfleet, e.g. by Portainer, that its host's agent manages in
	// place; proto.TenantSpec.Container), "" for the cloud's own; unique
	// per host among adopted tenants (idx_tenants_host_container).
	Container string `gorm:"size:64;not null;default:''"`
	// Auth is the gateway's auth mode (proto.TenantSpec.Auth): "" is the
	// cloud's trusted-proxy; an adopted gateway keeps its token ("token").
	Auth string `gorm:"size:16;not null;default:''"`
	// PublishedRev is the host's desired revision that first carried this
	// tenant; an acknowledgement of it or a later one means the host has
	// taken the tenant on.
	PublishedRev int64  `gorm:"not null;default:0"`
	LastError    string `gorm:"size:2048"`
	// RunningAt is when the tenant first reported running (nil before).
	RunningAt *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// HostDesired is the persisted desired-state bookkeeping of one host: the
// revision counter and the tenants whose data it must purge.
type HostDesired struct {
	HostID string `gorm:"primaryKey;size:80"`
	// Revision is the newest revision published (or about to be: it is
	// stored before publishing, so it never goes back after a crash).
	Revision int64 `gorm:"not null;default:0"`
	// AckedRevision is the newest revision the host acknowledged.
	AckedRevision int64 `gorm:"not null;default:0"`
	// Purge lists deleted tenants whose data the host has not yet reported
	// purged.
	Purge     []string `gorm:"serializer:json"`
	UpdatedAt time.Time
}

// ErrUnknownRevision is returned for an acknowledgement of a desired
// revision that was never published.
var ErrUnknownRevision = errors.New("revision was never published")

// HostUsage is what the tenants placed on one host reserve.
type HostUsage struct {
	HostID      string
	Tenants     int
	CPUMillis   int64
	MemoryBytes int64
}

// CreateTenant inserts a tenant. A taken owner, slug or host port is
// ErrConflict.
func CreateTenant(tx *gorm.DB, t *Tenant) error {
	if err := tx.Create(t).Error; err != nil {
		return fmt.Errorf("store: create tenant %s: %w", t.ID, mapErr(err))
	}
	return nil
}

// CreateTenant inserts a tenant.
func (s *Store) CreateTenant(ctx context.Context, t *Tenant) error {
	return CreateTenant(s.db.WithContext(ctx), t)
}

// GetTenant returns one tenant or ErrNotFound.
func GetTenant(tx *gorm.DB, id string) (*Tenant, error) {
	var t Tenant
	if err := tx.Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("store: get tenant %s: %w", id, mapErr(err))
	}
	return &t, nil
}

// GetTenant returns one tenant or ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (*Tenant, error) {
	return GetTenant(s.db.WithContext(ctx), id)
}

// GetTenantByOwner returns the owner's own tenant (the seed API's, not a
// team's it created) or ErrNotFound.
func (s *Store) GetTenantByOwner(ctx context.Context, ownerID string) (*Tenant, error) {
	var t Tenant
	if err := s.db.WithContext(ctx).Where("owner_id = ? AND shared = ?", ownerID, false).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("store: tenant of owner: %w", mapErr(err))
	}
	return &t, nil
}

// SlugTaken reports whether a tenant uses slug.
func (s *Store) SlugTaken(ctx context.Context, slug string) (bool, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Tenant{}).Where("slug = ?", slug).Count(&n).Error; err != nil {
		return false, fmt.Errorf("store: slug lookup: %w", err)
	}
	return n > 0, nil
}

// ListTenants returns every tenant, oldest first.
func (s *Store) ListTenants(ctx context.Context) ([]Tenant, error) {
	var ts []Tenant
	if err := s.db.WithContext(ctx).Order("created_at, id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("store: list tenants: %w", err)
	}
	return ts, nil
}

// ListTeamTenants returns a team's tenants, oldest first.
func (s *Store) ListTeamTenants(ctx context.Context, teamID string) ([]Tenant, error) {
	var ts []Tenant
	if err := s.db.WithContext(ctx).Where("team_id = ?", teamID).Order("created_at, id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("store: tenants of team %s: %w", teamID, err)
	}
	return ts, nil
}

// CountTeamTenants returns how many tenants of plan (any plan when plan is
// "") a team has.
func CountTeamTenants(tx *gorm.DB, teamID, plan string) (int, error) {
	q := tx.Model(&Tenant{}).Where("team_id = ?", teamID)
	if plan != "" {
		q = q.Where("plan = ?", plan)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count tenants of team %s: %w", teamID, err)
	}
	return int(n), nil
}

// ListHostTenants returns the tenants placed on one host, by port.
func ListHostTenants(tx *gorm.DB, hostID string) ([]Tenant, error) {
	var ts []Tenant
	if err := tx.Where("host_id = ?", hostID).Order("port").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("store: list tenants of host %s: %w", hostID, err)
	}
	return ts, nil
}

// ListHostTenants returns the tenants placed on one host, by port.
func (s *Store) ListHostTenants(ctx context.Context, hostID string) ([]Tenant, error) {
	return ListHostTenants(s.db.WithContext(ctx), hostID)
}

// UpdateTenant sets the given columns of a tenant (and updated_at). It
// returns ErrNotFound when the tenant does not exist.
func UpdateTenant(tx *gorm.DB, id string, fields map[string]any) error {
	if _, ok := fields["updated_at"]; !ok {
		fields["updated_at"] = time.Now().UTC()
	}
	res := tx.Model(&Tenant{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return fmt.Errorf("store: update tenant %s: %w", id, mapErr(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: update tenant %s: %w", id, ErrNotFound)
	}
	return nil
}

// UpdateTenant sets the given columns of a tenant.
func (s *Store) UpdateTenant(ctx context.Context, id string, fields map[string]any) error {
	return UpdateTenant(s.db.WithContext(ctx), id, fields)
}

// DeleteTenant removes a tenant's row; its owner, slug and port are free
// again afterwards.
func DeleteTenant(tx *gorm.DB, id string) error {
	res := tx.Where("id = ?", id).Delete(&Tenant{})
	if res.Error != nil {
		return fmt.Errorf("store: delete tenant %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: delete tenant %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteTenant removes a tenant's row.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	return DeleteTenant(s.db.WithContext(ctx), id)
}

// TenantCounts returns the number of tenants by status.
func (s *Store) TenantCounts(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Status string
		N      int
	}
	if err := s.db.WithContext(ctx).Model(&Tenant{}).Select("status, count(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: count tenants: %w", err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// HostUsages returns, per host that has tenants, their number and the
// resources they reserve.
func (s *Store) HostUsages(ctx context.Context) (map[string]HostUsage, error) {
	var rows []HostUsage
	err := s.db.WithContext(ctx).Model(&Tenant{}).
		Select("host_id, count(*) AS tenants, coalesce(sum(cpu_millis), 0) AS cpu_millis, coalesce(sum(memory_bytes), 0) AS memory_bytes").
		Group("host_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: host usage: %w", err)
	}
	out := make(map[string]HostUsage, len(rows))
	for _, r := range rows {
		out[r.HostID] = r
	}
	return out, nil
}

// GetHostDesired returns a host's desired-state bookkeeping, or ErrNotFound
// when nothing was ever published to it.
func GetHostDesired(tx *gorm.DB, hostID string) (*HostDesired, error) {
	var d HostDesired
	if err := tx.Where("host_id = ?", hostID).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("store: desired of host %s: %w", hostID, mapErr(err))
	}
	return &d, nil
}

// GetHostDesired returns a host's desired-state bookkeeping or ErrNotFound.
func (s *Store) GetHostDesired(ctx context.Context, hostID string) (*HostDesired, error) {
	return GetHostDesired(s.db.WithContext(ctx), hostID)
}

// ListHostDesired returns every host's desired-state bookkeeping.
func (s *Store) ListHostDesired(ctx context.Context) ([]HostDesired, error) {
	var ds []HostDesired
	if err := s.db.WithContext(ctx).Order("host_id").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("store: list desired: %w", err)
	}
	return ds, nil
}

// BumpDesired increments a host's desired revision (creating its row at
// revision 1), adds addPurge to and removes removePurge from its purge list,
// and returns the new state. Run it in the transaction that changes the
// host's tenants, before publishing, so a published revision is always
// stored.
func BumpDesired(tx *gorm.DB, hostID string, addPurge, removePurge []string) (*HostDesired, error) {
	var d HostDesired
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("host_id = ?", hostID).Take(&d).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		d = HostDesired{HostID: hostID}
	case err != nil:
		return nil, fmt.Errorf("store: desired of host %s: %w", hostID, err)
	}
	purge := make([]string, 0, len(d.Purge)+len(addPurge))
	for _, id := range d.Purge {
		if !slices.Contains(removePurge, id) {
			purge = append(purge, id)
		}
	}
	for _, id := range addPurge {
		if !slices.Contains(purge, id) && !slices.Contains(removePurge, id) {
			purge = append(purge, id)
		}
	}
	d.Purge = purge
	d.Revision++
	d.UpdatedAt = time.Now().UTC()
	if d.Revision == 1 {
		if err := tx.Create(&d).Error; err != nil {
			return nil, fmt.Errorf("store: create desired of host %s: %w", hostID, mapErr(err))
		}
		return &d, nil
	}
	res := tx.Model(&HostDesired{}).Where("host_id = ? AND revision = ?", hostID, d.Revision-1).
		Updates(map[string]any{"revision": d.Revision, "purge": jsonValue(d.Purge), "updated_at": d.UpdatedAt})
	if res.Error != nil {
		return nil, fmt.Errorf("store: bump desired of host %s: %w", hostID, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("store: bump desired of host %s: %w: revision changed concurrently", hostID, ErrConflict)
	}
	return &d, nil
}

// BumpDesired runs BumpDesired in its own transaction.
func (s *Store) BumpDesired(ctx context.Context, hostID string, addPurge, removePurge []string) (*HostDesired, error) {
	var d *HostDesired
	err := s.Write(ctx, func(tx *gorm.DB) error {
		var err error
		d, err = BumpDesired(tx, hostID, addPurge, removePurge)
		return err
	})
	return d, err
}

// AckDesired records that a host acknowledged revision rev (the acked
// revision only moves forward). It returns ErrNotFound when the host has
// no desired state and ErrUnknownRevision when rev is newer than any
// published revision.
func (s *Store) AckDesired(ctx context.Context, hostID string, rev int64) error {
	return s.Write(ctx, func(tx *gorm.DB) error {
		d, err := GetHostDesired(tx, hostID)
		if err != nil {
			return err
		}
		if rev > d.Revision {
			return fmt.Errorf("store: host %s acknowledged revision %d, newest is %d: %w", hostID, rev, d.Revision, ErrUnknownRevision)
		}
		if rev <= d.AckedRevision {
			return nil
		}
		return tx.Model(&HostDesired{}).Where("host_id = ?", hostID).
			Updates(map[string]any{"acked_revision": rev, "updated_at": time.Now().UTC()}).Error
	})
}
