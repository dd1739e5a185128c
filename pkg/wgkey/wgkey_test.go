package wgkey_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
)

func TestGenerateAndPublic(t *testing.T) {
	a, err := wgkey.GeneratePrivate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := wgkey.GeneratePrivate()
	if a == b || a.IsZero() {
		t.Fatal("keys are not random")
	}
	if a[0]&7 != 0 || a[31]&128 != 0 || a[31]&64 == 0 {
		t.Fatalf("key not clamped: %x", a)
	}
	pa, err := wgkey.Public(a)
	if err != nil {
		t.Fatal(err)
	}
	pa2, _ := wgkey.Public(a)
	pb, _ := wgkey.Public(b)
	if pa != pa2 || pa == pb {
		t.Fatal("public key derivation is not deterministic or collides")
	}
	if err := proto.ValidateWGKey(pa.String()); err != nil {
		t.Fatalf("protocol rejects key: %v", err)
	}
}

func TestGeneratePair(t *testing.T) {
	priv, pub, err := wgkey.GeneratePair()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := wgkey.Public(priv); pub != want || priv.IsZero() {
		t.Fatalf("pair %x %x: the public key is not the private key's", priv, pub)
	}
}

// TestKnownVector checks derivation against RFC 7748 §6.1 (Alice).
func TestKnownVector(t *testing.T) {
	priv, err := wgkey.ParseHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := wgkey.Public(priv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pub.Hex(), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"; got != want {
		t.Fatalf("public = %s, want %s", got, want)
	}
}

func TestConversions(t *testing.T) {
	k, _ := wgkey.GeneratePrivate()
	h, err := wgkey.Base64ToHex(k.String())
	if err != nil || h != k.Hex() || len(h) != 64 {
		t.Fatalf("Base64ToHex = %q, %v", h, err)
	}
	b, err := wgkey.HexToBase64(h)
	if err != nil || b != k.String() || len(b) != 44 {
		t.Fatalf("HexToBase64 = %q, %v", b, err)
	}
	for _, bad := range []string{"", "abc", base64.StdEncoding.EncodeToString(make([]byte, 31)), "!!!!"} {
		if _, err := wgkey.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
		if _, err := wgkey.Base64ToHex(bad); err == nil {
			t.Errorf("Base64ToHex(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "zz", h[:62]} {
		if _, err := wgkey.HexToBase64(bad); err == nil {
			t.Errorf("HexToBase64(%q) accepted", bad)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "wg.key")
	k1, err := wgkey.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, err := wgkey.LoadOrCreate(path)
	if err != nil || k2 != k1 {
		t.Fatalf("reload = %v, %v; want the same key", k2, err)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("key dir holds %d entries, want 1", len(ents))
	}
	// A too-open file is tightened.
	os.Chmod(path, 0o644)
	if _, err := wgkey.LoadOrCreate(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after reload = %v, want 0600", fi.Mode().Perm())
	}
	// Garbage is an error, not silently replaced.
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("nope\n"), 0o600)
	if _, err := wgkey.LoadOrCreate(bad); err == nil {
		t.Fatal("garbage key file accepted")
	}
	if _, err := wgkey.LoadOrCreate(""); err == nil {
		t.Fatal("empty path accepted")
	}
}

// TestLoadOrCreatePair: the pair is the file's key and its public key,
// the same on every load; a file without a key is an error.
func TestLoadOrCreatePair(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wg.key")
	priv, pub, err := wgkey.LoadOrCreatePair(path)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := wgkey.Public(priv); pub != want || priv.IsZero() {
		t.Fatalf("pair %s, %s: the public key is not the private key's", priv, pub)
	}
	if loaded, _ := wgkey.LoadOrCreate(path); loaded != priv {
		t.Fatal("the pair's private key is not the one in the file")
	}
	if p2, pub2, err := wgkey.LoadOrCreatePair(path); err != nil || p2 != priv || pub2 != pub {
		t.Fatalf("reload = %s, %s, %v; want the same pair", p2, pub2, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("nope\n"), 0o600)
	if _, _, err := wgkey.LoadOrCreatePair(bad); err == nil {
		t.Fatal("garbage key file accepted")
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wg.key")
	var wg sync.WaitGroup
	keys := make([]wgkey.Key, 8)
	errs := make([]error, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = wgkey.LoadOrCreate(path)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || keys[i] != keys[0] {
			t.Fatalf("racer %d: %v, %v; want %v", i, keys[i], errs[i], keys[0])
		}
	}
}

func TestSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", "wg.key")
	k1, _ := wgkey.LoadOrCreate(path)
	k2, _ := wgkey.GeneratePrivate()
	if err := wgkey.Save(path, k2); err != nil {
		t.Fatal(err)
	}
	got, err := wgkey.LoadOrCreate(path)
	if err != nil || got != k2 || got == k1 {
		t.Fatalf("after Save: %v %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	if err := wgkey.Save(path, wgkey.Key{}); err == nil {
		t.Fatal("zero key saved")
	}
}
