package login

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func newTestFlows(t *testing.T) (*SealedFlows, *time.Time) {
	t.Helper()
	s, err := NewSealedFlows(testSecret(1))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	return s, &now
}

func TestSealedFlowsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, now := newTestFlows(t)
	f, err := NewFlow("oidc", "/console?x=1", *now, FlowTTL)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.State) != 43 || len(f.Nonce) != 43 || len(f.Verifier) != 43 || f.State == f.Nonce {
		t.Fatalf("flow secrets are not 256-bit random values: %+v", f)
	}
	v, err := s.Save(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{f.State, f.Nonce, f.Verifier, "/console"} {
		if strings.Contains(v, secret) {
			t.Fatalf("the flow value shows %q in the clear", secret)
		}
	}
	if len(v) > 600 {
		t.Errorf("the flow value is %d bytes; a cookie should stay small", len(v))
	}
	got, err := s.Take(ctx, v, f.State)
	if err != nil {
		t.Fatal(err)
	}
	if got != f {
		t.Fatalf("Take = %+v, want %+v", got, f)
	}
}

func TestSealedFlowsRefuse(t *testing.T) {
	ctx := context.Background()
	s, now := newTestFlows(t)
	other, err := NewSealedFlows(testSecret(2))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := NewFlow("github", "/", *now, FlowTTL)
	v, _ := s.Save(ctx, f)
	foreign, _ := other.Save(ctx, f)

	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(v, flowValuePrefix))
	flipped := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return flowValuePrefix + base64.RawURLEncoding.EncodeToString(b)
	}
	for _, c := range []struct {
		name, value, state string
		want               error
	}{
		{"empty value", "", f.State, ErrFlowInvalid},
		{"not ours", "f1.bm90IGEgZmxvdw", f.State, ErrFlowInvalid},
		{"other prefix", "f0." + strings.TrimPrefix(v, flowValuePrefix), f.State, ErrFlowInvalid},
		{"nonce changed", flipped(0), f.State, ErrFlowInvalid},
		{"ciphertext changed", flipped(30), f.State, ErrFlowInvalid},
		{"tag changed", flipped(len(raw) - 1), f.State, ErrFlowInvalid},
		{"sealed by another key", foreign, f.State, ErrFlowInvalid},
		{"huge", flowValuePrefix + strings.Repeat("A", maxFlowValue), f.State, ErrFlowInvalid},
		{"forged state", v, "forged", ErrFlowInvalid},
		{"no state", v, "", ErrFlowInvalid},
		{"state prefix", v, f.State[:20], ErrFlowInvalid},
	} {
		if _, err := s.Take(ctx, c.value, c.state); !errors.Is(err, c.want) {
			t.Errorf("%s: Take = %v, want %v", c.name, err, c.want)
		}
	}
	// None of that used the real flow up.
	if _, err := s.Take(ctx, v, f.State); err != nil {
		t.Fatalf("the real flow after forged callbacks: %v", err)
	}
	if _, err := s.Take(ctx, v, f.State); !errors.Is(err, ErrFlowUsed) {
		t.Fatalf("replayed flow: %v, want ErrFlowUsed", err)
	}
	// Still refused as used until it expires, then as expired.
	*now = now.Add(FlowTTL - time.Second)
	if _, err := s.Take(ctx, v, f.State); !errors.Is(err, ErrFlowUsed) {
		t.Fatalf("replayed flow just before expiry: %v, want ErrFlowUsed", err)
	}
	*now = now.Add(time.Second)
	if _, err := s.Take(ctx, v, f.State); !errors.Is(err, ErrFlowExpired) {
		t.Fatalf("replayed flow after expiry: %v, want ErrFlowExpired", err)
	}
}

func TestSealedFlowsExpiry(t *testing.T) {
	ctx := context.Background()
	s, now := newTestFlows(t)
	f, _ := NewFlow("wechat", "/", *now, FlowTTL)
	v, _ := s.Save(ctx, f)
	*now = now.Add(FlowTTL)
	if _, err := s.Take(ctx, v, f.State); !errors.Is(err, ErrFlowExpired) {
		t.Fatalf("Take after %s = %v, want ErrFlowExpired", FlowTTL, err)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := replayCache{max: 3, m: map[[16]byte]time.Time{}}
	for _, k := range []string{"a", "b", "c"} {
		if err := c.add(k, now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	// Full of live entries: refuse rather than forget one (a replay).
	if err := c.add("d", now.Add(time.Minute), now); !errors.Is(err, ErrBusy) {
		t.Fatalf("add to a full cache = %v, want ErrBusy", err)
	}
	if err := c.add("a", now.Add(time.Minute), now); !errors.Is(err, ErrFlowUsed) {
		t.Fatalf("re-add = %v, want ErrFlowUsed", err)
	}
	// Once they expire there is room again.
	later := now.Add(time.Minute)
	if err := c.add("d", later.Add(time.Minute), later); err != nil {
		t.Fatalf("add after expiry: %v", err)
	}
	if len(c.m) != 1 {
		t.Fatalf("cache holds %d entries after the sweep, want 1", len(c.m))
	}
}

func TestNewSealedFlowsShortSecret(t *testing.T) {
	if _, err := NewSealedFlows(make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte secret was accepted")
	}
}

func TestNewFlowChecksReturnTo(t *testing.T) {
	if _, err := NewFlow("oidc", "//evil.example", time.Now(), FlowTTL); !errors.Is(err, ErrReturnTo) {
		t.Fatalf("NewFlow with an open redirect = %v, want ErrReturnTo", err)
	}
}
