package login

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// testArgon2 is cheap, for tests that are not about cost.
var testArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testArgon2, 2)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") || len(strings.Split(enc, "$")) != 6 {
		t.Fatalf("PHC string %q", enc)
	}
	again, _ := h.Hash(ctx, "correct horse battery staple")
	if again == enc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, c := range []struct {
		pw string
		ok bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"Correct horse battery staple", false},
		{"correct horse battery staple ", false},
		{"", false},
	} {
		ok, rehash, err := h.Verify(ctx, enc, c.pw)
		if err != nil || ok != c.ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", c.pw, ok, rehash, err, c.ok)
		}
	}
	// Unicode: composed and decomposed é, full-width digits are one password.
	nfc, _ := h.Hash(ctx, "café au lait 2024 et croissants")
	for _, pw := range []string{"cafe\u0301 au lait 2024 et croissants", "café au lait ２０２４ et croissants"} {
		if ok, _, _ := h.Verify(ctx, nfc, pw); !ok {
			t.Errorf("%q does not verify against its NFKC equal", pw)
		}
	}
	// A hash made with other parameters verifies and asks to be redone.
	old := NewHasher(Argon2Params{Memory: 32, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 16}, 1)
	oldEnc, _ := old.Hash(ctx, "an old password of mine")
	if ok, rehash, err := h.Verify(ctx, oldEnc, "an old password of mine"); !ok || !rehash || err != nil {
		t.Fatalf("old parameters: %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	if ok, rehash, _ := h.Verify(ctx, oldEnc, "wrong"); ok || rehash {
		t.Fatal("a wrong password asks for a rehash")
	}
}

func TestVerifyRefusesBadHashes(t *testing.T) {
	h := NewHasher(testArgon2, 1)
	for _, enc := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=300$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", // 5-byte hash
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, _, err := h.Verify(context.Background(), enc, "x"); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want an error", enc, ok, err)
		}
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	h := NewHasher(testArgon2, 1)
	h.sem <- struct{}{} // the one slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "waits for its turn"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash with no free slot = %v, want the context's deadline", err)
	}
	<-h.sem
	if _, err := h.Hash(context.Background(), "now it runs"); err != nil {
		t.Fatal(err)
	}
}

// TestHashTime measures the default parameters (the figure in
// docs/sign-in.md), and checks that a verification for an unknown account
// (Decoy) does the same work as a real one: the same parameters. Timings
// on a shared machine are logged, not asserted.
func TestHashTime(t *testing.T) {
	if testing.Short() {
		t.Skip("measures argon2id at its real cost")
	}
	ctx := context.Background()
	h := NewHasher(DefaultArgon2, 2)
	enc, err := h.Hash(ctx, "a password of fifteen+")
	if err != nil {
		t.Fatal(err)
	}
	verify, decoy := time.Hour, time.Hour
	for range 3 {
		start := time.Now()
		_, _, _ = h.Verify(ctx, enc, "a password of fifteen+")
		verify = min(verify, time.Since(start))
		start = time.Now()
		_ = h.Decoy(ctx, "a password of fifteen+")
		decoy = min(decoy, time.Since(start))
	}
	t.Logf("argon2id m=%d KiB t=%d p=%d: verify %v, decoy %v (best of 3)", DefaultArgon2.Memory, DefaultArgon2.Time, DefaultArgon2.Threads, verify, decoy)
	if p, _, _, err := parsePHC(h.decoy); err != nil || p != DefaultArgon2 {
		t.Fatalf("the decoy hash has parameters %+v (%v), want %+v", p, err, DefaultArgon2)
	}
}

func TestPasswordPolicy(t *testing.T) {
	p := DefaultPasswordPolicy
	for _, c := range []struct {
		pw    string
		avoid []string
		rule  string
	}{
		{pw: "correct horse battery staple"},
		{pw: "fifteen chars!!"},
		{pw: "我的密码是一只很长的小龙虾吃螃蟹"}, // 16 characters
		{pw: "fourteen chars", rule: "too_short"},
		{pw: "我的密码是一只很长的小龙虾", rule: "too_short"}, // 13 characters, though 39 bytes
		{pw: strings.Repeat("ab", 64)},
		{pw: strings.Repeat("ab", 64) + "c", rule: "too_long"},
		{pw: strings.Repeat("长江", 64)},                               // 128 characters, 384 bytes
		{pw: strings.Repeat("🦞🦀", 64)},                               // 128 characters, 512 bytes
		{pw: strings.Repeat("🦞🦀", 64) + "🦞", rule: "too_many_bytes"}, // 516 bytes
		{pw: strings.Repeat("cafe\u0301 ", 25)},                      // 150 code points, 125 characters once composed
		{pw: strings.Repeat("a", 20), rule: "one_character"},
		{pw: "tab\tinside password", rule: "control_character"},
		{pw: "newline\ninside password", rule: "control_character"},
		{pw: "invalid \xff utf-8 password", rule: "invalid_utf8"},
		{pw: "alice@example.com", avoid: []string{"alice@example.com"}, rule: "like_account"},
		{pw: "ALICE@EXAMPLE.COM", avoid: []string{"alice@example.com"}, rule: "like_account"},
		{pw: "alice.longname.x", avoid: []string{"alice.longname.x@example.com"}, rule: "like_account"},
		{pw: "Alice Wonderland Liddell", avoid: []string{"a@example.com", "alice wonderland liddell"}, rule: "like_account"},
		{pw: "alice@example.com and more", avoid: []string{"alice@example.com"}},
	} {
		err := p.Check(c.pw, c.avoid...)
		var pe *PolicyError
		switch {
		case c.rule == "" && err != nil:
			t.Errorf("Check(%q) = %v, want nil", c.pw, err)
		case c.rule != "" && (!errors.Is(err, ErrWeakPassword) || !errors.As(err, &pe) || pe.Rule != c.rule):
			t.Errorf("Check(%q) = %v, want rule %s", c.pw, err, c.rule)
		case c.rule != "":
			en, zh := Describe(err, "en"), Describe(err, "zh-CN")
			if en == zh || en == "" || zh == "" {
				t.Errorf("rule %s messages: %q / %q", c.rule, en, zh)
			}
		}
	}
}
