package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"gorm.io/gorm"
)

// ErrPoolExhausted reports that a tunnel prefix has no never-used address left.
var ErrPoolExhausted = errors.New("tunnel address pool exhausted")

// TunnelAddress is one host's WireGuard tunnel address. Rows are never
// deleted: releasing an address sets ReleasedAt and keeps the row, so an
// address, once handed out, is never handed to another host (a stale peer,
// log line or firewall rule can never point at a different host).
type TunnelAddress struct {
	ID          uint       `gorm:"primaryKey" json:"-"`
	HostID      string     `gorm:"size:80;not null;uniqueIndex" json:"hostId"`
	Address     string     `gorm:"size:64;not null;uniqueIndex" json:"address"`
	AllocatedAt time.Time  `gorm:"not null" json:"allocatedAt"`
	ReleasedAt  *time.Time `gorm:"index" json:"releasedAt,omitempty"`
}

// Addr parses Address (the zero Addr if the row is corrupt).
func (t TunnelAddress) Addr() netip.Addr {
	a, _ := netip.ParseAddr(t.Address)
	return a
}

// allocateRetries bounds the insert retries when concurrent allocations
// (several cloud replicas on one PostgreSQL) pick the same address.
const allocateRetries = 32

// AllocateTunnelAddress returns hostID's tunnel address in prefix, allocating
// the lowest never-used one on first call. It is idempotent per host. It
// skips the prefix's network address, hubAddr and (IPv4, prefixes up to /30)
// the broadcast address. A host whose address was released gets that same
// address back (it was only ever this host's); no address is ever handed to
// a second host. It returns ErrPoolExhausted when the prefix has no
// never-used address left, and an error if the host's existing address lies
// outside prefix (the prefix was changed).
//
// It is safe for concurrent use, across processes: the unique indexes on
// host_id and address arbitrate, and a losing insert re-reads and retries.
func (s *Store) AllocateTunnelAddress(ctx context.Context, hostID string, prefix netip.Prefix, hubAddr netip.Addr) (netip.Addr, error) {
	if hostID == "" {
		return netip.Addr{}, errors.New("store: allocate tunnel address: empty host id")
	}
	if !prefix.IsValid() {
		return netip.Addr{}, fmt.Errorf("store: allocate tunnel address: invalid prefix %v", prefix)
	}
	prefix = prefix.Masked()
	db := s.db.WithContext(ctx)
	for range allocateRetries {
		// The host's own row, active or released.
		var cur TunnelAddress
		err := db.Where("host_id = ?", hostID).Take(&cur).Error
		switch {
		case err == nil:
			a := cur.Addr()
			if !a.IsValid() || !prefix.Contains(a) {
				return netip.Addr{}, fmt.Errorf("store: host %s holds tunnel address %q outside %v", hostID, cur.Address, prefix)
			}
			if cur.ReleasedAt != nil {
				if err := db.Model(&TunnelAddress{}).Where("id = ?", cur.ID).Update("released_at", nil).Error; err != nil {
					return netip.Addr{}, fmt.Errorf("store: reactivate tunnel address of %s: %w", hostID, err)
				}
			}
			return a, nil
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return netip.Addr{}, fmt.Errorf("store: tunnel address of %s: %w", hostID, err)
		}

		var used []string
		if err := db.Model(&TunnelAddress{}).Pluck("address", &used).Error; err != nil {
			return netip.Addr{}, fmt.Errorf("store: list tunnel addresses: %w", err)
		}
		a, ok := lowestFree(prefix, hubAddr, used)
		if !ok {
			return netip.Addr{}, fmt.Errorf("store: allocate tunnel address for %s in %v: %w", hostID, prefix, ErrPoolExhausted)
		}
		row := TunnelAddress{HostID: hostID, Address: a.String(), AllocatedAt: time.Now().UTC()}
		err = db.Create(&row).Error
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, gorm.ErrDuplicatedKey) && !isUniqueViolation(err) {
			return netip.Addr{}, fmt.Errorf("store: allocate tunnel address for %s: %w", hostID, err)
		}
		// Lost a race on the address (pick again) or on the host (the
		// next round returns the winner's row).
		if err := ctx.Err(); err != nil {
			return netip.Addr{}, err
		}
	}
	return netip.Addr{}, fmt.Errorf("store: allocate tunnel address for %s: too much contention: %w", hostID, ErrConflict)
}

// lowestFree returns the lowest address of prefix that is not reserved and
// not in used.
func lowestFree(prefix netip.Prefix, hub netip.Addr, used []string) (netip.Addr, bool) {
	taken := make(map[netip.Addr]struct{}, len(used)+3)
	for _, u := range used {
		if a, err := netip.ParseAddr(u); err == nil {
			taken[a.Unmap()] = struct{}{}
		}
	}
	network := prefix.Addr()
	taken[network] = struct{}{}
	if hub.IsValid() {
		taken[hub.Unmap()] = struct{}{}
	}
	var broadcast netip.Addr
	if network.Is4() && prefix.Bits() <= 30 {
		b := network.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v |= 1<<(32-prefix.Bits()) - 1
		broadcast = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		taken[broadcast] = struct{}{}
	}
	for a := network; a.IsValid() && prefix.Contains(a); a = a.Next() {
		if _, ok := taken[a]; !ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// ReleaseTunnelAddress marks a host's tunnel address released (at is the
// release time), inside tx, e.g. in the transaction that deletes the host.
// The row is kept, so the address is never given to another host. Releasing
// a host without an active address is not an error.
func ReleaseTunnelAddress(tx *gorm.DB, hostID string, at time.Time) error {
	if err := tx.Model(&TunnelAddress{}).Where("host_id = ? AND released_at IS NULL", hostID).Update("released_at", at).Error; err != nil {
		return fmt.Errorf("store: release tunnel address of %s: %w", hostID, err)
	}
	return nil
}

// ReleaseTunnelAddress marks a host's tunnel address released; see the
// package function.
func (s *Store) ReleaseTunnelAddress(ctx context.Context, hostID string) error {
	return ReleaseTunnelAddress(s.db.WithContext(ctx), hostID, time.Now().UTC())
}

// TunnelAddresses returns the active (not released) tunnel addresses, to
// load the hub's peers, ordered by allocation.
func (s *Store) TunnelAddresses(ctx context.Context) ([]TunnelAddress, error) {
	var out []TunnelAddress
	if err := s.db.WithContext(ctx).Where("released_at IS NULL").Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: list tunnel addresses: %w", err)
	}
	return out, nil
}
