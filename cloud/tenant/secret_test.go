package tenant

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

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
