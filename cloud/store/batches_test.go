package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

func boxRow(index int) store.BoxHost {
	id := creds.NewDeviceID()
	return store.BoxHost{
		Host: store.Host{ID: id, SecretHash: creds.Hash(creds.NewSecret())},
		Box:  store.Box{DeviceID: id, BatchIndex: index, ClaimCodeHash: creds.Hash(id), ClaimCodeAt: time.Now().UTC()},
	}
}

// TestBatches: registering a batch is idempotent by index, all or nothing,
// and a revoked batch takes nothing more.
func TestBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		if _, _, err := s.RegisterBoxes(ctx, "b1", []store.BoxHost{boxRow(0)}, nil); !errors.Is(err, store.ErrBatchNotFound) {
			t.Fatalf("register into a missing batch: %v", err)
		}
		if _, created, err := s.PutBatch(ctx, &store.Batch{ID: "b1", Model: "m1"}); err != nil || !created {
			t.Fatalf("put = %v, %v", created, err)
		}
		if b, created, err := s.PutBatch(ctx, &store.Batch{ID: "b1", Model: "m1"}); err != nil || created || b.Model != "m1" {
			t.Fatalf("put again = %+v, %v, %v", b, created, err)
		}
		if _, _, err := s.PutBatch(ctx, &store.Batch{ID: "b1", Model: "m2"}); !errors.Is(err, store.ErrBatchConflict) {
			t.Fatalf("put with another model: %v", err)
		}

		rows := []store.BoxHost{boxRow(0), boxRow(1), boxRow(2)}
		created, existing, err := s.RegisterBoxes(ctx, "b1", rows, &store.AuditEvent{Actor: "admin", Action: "batch.register", Target: "b1"})
		if err != nil || len(created) != 3 || existing != 0 {
			t.Fatalf("register = %d new, %d existing, %v", len(created), existing, err)
		}
		h, err := s.GetHost(ctx, rows[1].Host.ID)
		if err != nil || h.Kind != store.HostBox || h.Pool != "" || h.Status != store.HostPending {
			t.Fatalf("box host = %+v, %v", h, err)
		}
		// Again, with one more: only that one is new.
		again := append(rows[:3:3], boxRow(3))
		if created, existing, err := s.RegisterBoxes(ctx, "b1", again, nil); err != nil || len(created) != 1 || existing != 3 {
			t.Fatalf("register again = %d new, %d existing, %v", len(created), existing, err)
		}
		// A clash anywhere refuses the call, and its new devices too.
		clash := boxRow(1)
		fresh := boxRow(4)
		if _, _, err := s.RegisterBoxes(ctx, "b1", []store.BoxHost{fresh, clash}, nil); !errors.Is(err, store.ErrBatchConflict) ||
			!strings.Contains(err.Error(), "at index 1") {
			t.Fatalf("another device at a taken index: %v", err)
		}
		if _, err := s.GetHost(ctx, fresh.Host.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused call created a host: %v", err)
		}
		moved := rows[0]
		moved.Box.BatchIndex = 9
		if _, _, err := s.RegisterBoxes(ctx, "b1", []store.BoxHost{moved}, nil); !errors.Is(err, store.ErrBatchConflict) {
			t.Fatalf("a device at a second index: %v", err)
		}
		resecret := rows[2]
		resecret.Host.SecretHash = creds.Hash(creds.NewSecret())
		if _, _, err := s.RegisterBoxes(ctx, "b1", []store.BoxHost{resecret}, nil); !errors.Is(err, store.ErrBatchConflict) {
			t.Fatalf("a device with another secret: %v", err)
		}
		// A box whose host an operator deleted stays deleted.
		if err := s.DeleteHost(ctx, rows[2].Host.ID); err != nil {
			t.Fatal(err)
		}
		if created, existing, err := s.RegisterBoxes(ctx, "b1", rows, nil); err != nil || len(created) != 0 || existing != 3 {
			t.Fatalf("register after a deletion = %d new, %d existing, %v", len(created), existing, err)
		}
		if _, err := s.GetHost(ctx, rows[2].Host.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("registering again brought a deleted box back: %v", err)
		}
		if bs, err := s.BatchBoxes(ctx, "b1"); err != nil || len(bs) != 4 || bs[3].BatchIndex != 3 || bs[0].DeviceID != rows[0].Host.ID {
			t.Fatalf("boxes = %+v, %v", bs, err)
		}

		at := time.Now().UTC().Truncate(time.Second)
		if b, err := s.RevokeBatch(ctx, "b1", at); err != nil || b.RevokedAt == nil {
			t.Fatalf("revoke = %+v, %v", b, err)
		}
		if b, err := s.RevokeBatch(ctx, "b1", at.Add(time.Hour)); err != nil || !b.RevokedAt.Equal(at) {
			t.Fatalf("revoke again = %+v, %v", b, err)
		}
		if _, _, err := s.RegisterBoxes(ctx, "b1", []store.BoxHost{boxRow(5)}, nil); !errors.Is(err, store.ErrBatchRevoked) {
			t.Fatalf("register into a revoked batch: %v", err)
		}
		if _, _, err := s.PutBatch(ctx, &store.Batch{ID: "b1", Model: "m1"}); !errors.Is(err, store.ErrBatchRevoked) {
			t.Fatalf("put a revoked batch: %v", err)
		}
		if bs, err := s.ListBatches(ctx); err != nil || len(bs) != 1 {
			t.Fatalf("batches = %+v, %v", bs, err)
		}
	})
}
