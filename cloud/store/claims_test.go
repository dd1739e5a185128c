package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/store"
)

// TestClaimBox: a box has one owner at a time; the owner's repeated claim
// changes nothing; a release frees it (with a new code when asked), and
// another user can claim it then.
func TestClaimBox(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		row := addBox(t, s)
		id := row.Box.DeviceID
		at := time.Now().UTC().Truncate(time.Second)
		b, already, err := s.ClaimBox(ctx, id, "u1", "team1", at, &store.AuditEvent{Actor: "user:u1", Action: "box.claim", Target: id})
		if err != nil || already || b.ClaimedBy != "u1" || b.OwnerTeamID != "team1" || b.ClaimedAt == nil {
			t.Fatalf("claim = %+v, %v, %v", b, already, err)
		}
		if b, already, err := s.ClaimBox(ctx, id, "u1", "", at.Add(time.Minute), nil); err != nil || !already || b.OwnerTeamID != "team1" || !b.ClaimedAt.Equal(at) {
			t.Fatalf("claim again = %+v, %v, %v", b, already, err)
		}
		if _, _, err := s.ClaimBox(ctx, id, "u2", "", at, nil); !errors.Is(err, store.ErrBoxClaimed) {
			t.Fatalf("claim by another user: %v", err)
		}
		if b, _ := s.GetBox(ctx, id); b.ClaimedBy != "u1" {
			t.Fatalf("after a refused claim: %+v", b)
		}
		if bs, err := s.OwnedBoxes(ctx, "u1"); err != nil || len(bs) != 1 || bs[0].DeviceID != id {
			t.Fatalf("owned boxes = %+v, %v", bs, err)
		}
		if _, _, err := s.ClaimBox(ctx, "dev_nosuchbox0", "u1", "", at, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("claim of a missing box: %v", err)
		}

		old, err := s.ReleaseBox(ctx, id, "ffff", "", at, nil)
		if err != nil || old.ClaimedBy != "u1" {
			t.Fatalf("release = %+v, %v", old, err)
		}
		b, _ = s.GetBox(ctx, id)
		if b.ClaimedBy != "" || b.OwnerTeamID != "" || b.ClaimedAt != nil || b.ClaimCodeHash != "ffff" {
			t.Fatalf("released box %+v", b)
		}
		if bs, _ := s.OwnedBoxes(ctx, "u1"); len(bs) != 0 {
			t.Fatalf("released box still owned: %+v", bs)
		}
		if b, already, err := s.ClaimBox(ctx, id, "u2", "", at, nil); err != nil || already || b.ClaimedBy != "u2" {
			t.Fatalf("claim after release = %+v, %v, %v", b, already, err)
		}
		if err := s.SetClaimCode(ctx, id, "eeee", "", at, nil); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.GetBox(ctx, id); b.ClaimCodeHash != "eeee" || b.ClaimedBy != "u2" {
			t.Fatalf("after a new code: %+v", b)
		}
		if err := s.SetClaimCode(ctx, "dev_nosuchbox0", "eeee", "", at, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("new code for a missing box: %v", err)
		}
	})
}

// TestPendingClaimCode: a reissued code's sealed copy is kept through
// releases and reprints until the box is claimed, and never by a release
// without a new code.
func TestPendingClaimCode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ store.Config, s *store.Store) {
		ctx := context.Background()
		row := addBox(t, s)
		id, at := row.Box.DeviceID, time.Now().UTC()
		pending := func() string {
			b, err := s.GetBox(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return b.PendingClaimCode
		}
		if p := pending(); p != "" {
			t.Fatalf("a factory box has pending code %q", p)
		}
		if err := s.SetClaimCode(ctx, id, "eeee", "v1:sealed-1", at, nil); err != nil {
			t.Fatal(err)
		}
		if p := pending(); p != "v1:sealed-1" {
			t.Fatalf("after a reprint: pending %q", p)
		}
		if _, err := s.ReleaseBox(ctx, id, "", "", at, nil); err != nil {
			t.Fatal(err)
		}
		if p := pending(); p != "v1:sealed-1" {
			t.Fatalf("a release without a new code dropped the pending one: %q", p)
		}
		if _, err := s.ReleaseBox(ctx, id, "dddd", "v1:sealed-2", at, nil); err != nil {
			t.Fatal(err)
		}
		if p := pending(); p != "v1:sealed-2" {
			t.Fatalf("after a reset with a fresh code: pending %q", p)
		}
		if _, _, err := s.ClaimBox(ctx, id, "u1", "", at, nil); err != nil {
			t.Fatal(err)
		}
		if p := pending(); p != "" {
			t.Fatalf("a claimed box keeps pending code %q", p)
		}
	})
}

// addBox registers one box of a new batch b1.
func addBox(t *testing.T, s *store.Store) store.BoxHost {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.PutBatch(ctx, &store.Batch{ID: "b1", Model: "m1"}); err != nil {
		t.Fatal(err)
	}
	row := boxRow(0)
	if _, _, err := s.RegisterBoxes(ctx, "b1", []store.BoxHost{row}, nil); err != nil {
		t.Fatal(err)
	}
	return row
}
