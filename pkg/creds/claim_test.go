package creds

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNewClaimCode(t *testing.T) {
	printed := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)
	seen := map[string]bool{}
	counts := map[rune]int{}
	const n = 2000
	for range n {
		c := NewClaimCode()
		if !printed.MatchString(c) {
			t.Fatalf("claim code %q is not XXXX-XXXX-XXXX of Crockford's alphabet", c)
		}
		if seen[c] {
			t.Fatalf("claim code %q drawn twice", c)
		}
		seen[c] = true
		if got, err := NormalizeClaimCode(c); err != nil || got != c {
			t.Fatalf("normalize(%q) = %q, %v", c, got, err)
		}
		for _, r := range strings.ReplaceAll(c, "-", "") {
			counts[r]++
		}
	}
	// Every symbol is used, none far more than its share (24000/32 = 750).
	if len(counts) != 32 {
		t.Fatalf("%d symbols used, want 32", len(counts))
	}
	for r, k := range counts {
		if k < 550 || k > 950 {
			t.Errorf("symbol %c drawn %d times of %d", r, k, n*ClaimCodeSymbols)
		}
	}
	if ClaimCodeBits != 60 {
		t.Fatalf("ClaimCodeBits = %d", ClaimCodeBits)
	}
}

func TestNormalizeClaimCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ABCD-EFGH-JKMN", "ABCD-EFGH-JKMN"},
		{"abcdefghjkmn", "ABCD-EFGH-JKMN"},
		{" abcd efgh jkmn ", "ABCD-EFGH-JKMN"},
		{"0OoI-iLl1-2345", "0001-1111-2345"},
		{"ABCD-EFGH-JKMU", ""},  // U is not in the alphabet
		{"ABCD-EFGH-JKM", ""},   // short
		{"ABCD-EFGH-JKMNP", ""}, // long
		{"ABCD-EFGH-JKM\u00d1", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := NormalizeClaimCode(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("normalize(%q) = %q, %v; want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestClaimURL(t *testing.T) {
	if got := ClaimURL("https://cloud.example.com/", "dev_abcdefgh12345678", "ABCD-EFGH-JKMN"); got != "https://cloud.example.com/claim?d=dev_abcdefgh12345678&c=ABCD-EFGH-JKMN" {
		t.Fatalf("claim URL = %q", got)
	}
}

func TestValidateClaimCode(t *testing.T) {
	c := valid()
	c.ClaimCode = NewClaimCode()
	if err := c.Validate(); err != nil {
		t.Fatalf("valid claim code: %v", err)
	}
	for _, bad := range []string{"abcd-efgh-jkmn", "ABCDEFGHJKMN", "nope"} {
		c.ClaimCode = bad
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("claim code %q accepted: %v", bad, err)
		}
	}
}
