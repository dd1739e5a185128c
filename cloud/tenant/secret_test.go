package tenant

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 1
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.seal("token-123", "ten_a")
	if strings.Contains(sealed, "token-123") || sealed == s.seal("token-123", "ten_a") {
		t.Fatalf("sealed = %q", sealed)
	}
	if got, err := s.open(sealed, "ten_a"); err != nil || got != "token-123" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s.open(sealed, "ten_b"); err == nil {
		t.Fatal("opened with another tenant's associated data")
	}
	other, _ := newSealer(make([]byte, 32))
	if _, err := other.open(sealed, "ten_a"); err == nil {
		t.Fatal("opened with another key")
	}
	if _, err := s.open("garbage", "ten_a"); err == nil {
		t.Fatal("opened garbage")
	}
}

func TestLoadSecretKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadSecretKey("", dir)
	if err != nil || len(k1) != 32 {
		t.Fatal(k1, err)
	}
	st, err := os.Stat(filepath.Join(dir, SecretKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	k2, err := LoadSecretKey("", dir)
	if err != nil || !slices.Equal(k1, k2) {
		t.Fatal("key not reused")
	}
	if _, err := LoadSecretKey("c2hvcnQ=", dir); err == nil {
		t.Fatal("short key accepted")
	}
	k3, err := LoadSecretKey("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "")
	if err != nil || k3[0] != 1 || k3[31] != 32 {
		t.Fatal(k3, err)
	}
	os.WriteFile(filepath.Join(dir, SecretKeyFile), []byte("damaged"), 0o600)
	if _, err := LoadSecretKey("", dir); err == nil {
		t.Fatal("damaged key file accepted")
	}
}
