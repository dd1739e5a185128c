package seal

import (
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 1
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("token-123", "ten_a")
	if strings.Contains(sealed, "token-123") || sealed == s.Seal("token-123", "ten_a") {
		t.Fatalf("sealed = %q", sealed)
	}
	if got, err := s.Open(sealed, "ten_a"); err != nil || got != "token-123" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "ten_b"); err == nil {
		t.Fatal("opened with another tenant's associated data")
	}
	other, _ := New(make([]byte, 32))
	if _, err := other.Open(sealed, "ten_a"); err == nil {
		t.Fatal("opened with another key")
	}
	if _, err := s.Open("garbage", "ten_a"); err == nil {
		t.Fatal("opened garbage")
	}
}
