package factory_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/factory"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/fleet/fleettest"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

func newService(t *testing.T, key []byte) (*factory.Service, *store.Store, *fleet.Fleet) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := fleet.New(st, fleettest.NewBus(), fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := factory.New(st, f, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, st, f
}

// TestClaimCodes: only a keyed hash of each claim code is stored, and a code
// is checked against it in any form a person may type it.
func TestClaimCodes(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, 32)
	s, st, f := newService(t, key)
	if _, _, err := s.CreateBatch(ctx, "b1", "OpenClaw Box v1", "admin"); err != nil {
		t.Fatal(err)
	}
	code := creds.NewClaimCode()
	a, b := creds.NewDeviceID(), creds.NewDeviceID()
	secret := creds.NewSecret()
	devs := []factory.Device{
		{Index: 0, DeviceID: a, SecretHash: creds.Hash(secret), ClaimCode: strings.ToLower(strings.ReplaceAll(code, "-", ""))},
		{Index: 1, DeviceID: b, SecretHash: creds.Hash(creds.NewSecret()), ClaimCode: code}, // the same code on another box
	}
	if r, err := s.Register(ctx, "b1", devs, "admin"); err != nil || r.New != 2 {
		t.Fatalf("register = %+v, %v", r, err)
	}
	// The fleet knows the new hosts at once.
	if !f.Authenticate(ctx, a, secret) {
		t.Fatal("a registered box cannot authenticate")
	}

	boxA, _ := st.GetBox(ctx, a)
	boxB, _ := st.GetBox(ctx, b)
	for _, leak := range []string{code, creds.Hash(code), creds.Hash(strings.ReplaceAll(code, "-", ""))} {
		if boxA.ClaimCodeHash == leak {
			t.Fatalf("stored claim code hash is %q", leak)
		}
	}
	if boxA.ClaimCodeHash == boxB.ClaimCodeHash {
		t.Fatal("the same code hashes alike on two boxes: the hash is not bound to the device")
	}
	other, _, _ := newService(t, bytes.Repeat([]byte{8}, 32))
	if other.ClaimHash(a, code) == boxA.ClaimCodeHash {
		t.Fatal("the claim hash does not depend on the cloud's secret key")
	}

	for _, typed := range []string{code, strings.ToLower(code), strings.ReplaceAll(code, "-", " ")} {
		got, err := s.CheckClaimCode(ctx, a, typed)
		if err != nil || got.DeviceID != a || got.BatchID != "b1" || got.ClaimedAt != nil {
			t.Fatalf("check %q = %+v, %v", typed, got, err)
		}
	}
	wrong := creds.NewClaimCode()
	for _, tc := range []struct{ device, code string }{{a, wrong}, {"dev_unknown000000", code}} {
		if _, err := s.CheckClaimCode(ctx, tc.device, tc.code); !errors.Is(err, factory.ErrWrongClaimCode) {
			t.Errorf("check %s %s = %v, want ErrWrongClaimCode", tc.device, tc.code, err)
		}
	}
	if _, err := s.CheckClaimCode(ctx, a, "nope"); !errors.Is(err, factory.ErrBadRequest) {
		t.Errorf("check of a malformed code = %v", err)
	}
}
