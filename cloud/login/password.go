package login

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params are the argon2id cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultArgon2 is 64 MiB, two passes, one lane: above OWASP's minimum
// (46 MiB, one pass) and RFC 9106's memory, with one lane because a 2-core
// cloud gains nothing from more. One hash keeps one core busy for about
// 100 ms (TestHashTime measures it; docs/sign-in.md has the figures), a
// Hasher made with NewHasher(DefaultArgon2, 2) runs two at once, so
// sign-ins never hold more than 128 MiB, and an attacker with the database
// pays 64 MiB and two passes per guess.
var DefaultArgon2 = Argon2Params{Memory: 64 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters read from a stored hash, so a tampered row cannot
// make a verification take a gigabyte or a minute.
const (
	maxArgonMemory  = 256 * 1024
	maxArgonTime    = 10
	maxArgonThreads = 16
)

// Hasher hashes and verifies passwords with argon2id. Passwords are
// normalised to Unicode NFKC first, so the same password typed on another
// keyboard or input method (composed or decomposed accents, full-width
// digits) verifies. It is safe for concurrent use.
type Hasher struct {
	p   Argon2Params
	sem chan struct{}

	decoyOnce sync.Once
	decoy     string
}

// NewHasher hashes with p, running at most concurrent hashes at once (each
// holds p.Memory); more wait their turn or for their context.
func NewHasher(p Argon2Params, concurrent int) *Hasher {
	if concurrent < 1 {
		concurrent = 1
	}
	return &Hasher{p: p, sem: make(chan struct{}, concurrent)}
}

// Hash returns the PHC string of password:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> (unpadded
// standard base64), which holds everything Verify needs.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := randomBytes(int(h.p.SaltLen))
	key, err := h.derive(ctx, password, salt, h.p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.p.Memory, h.p.Time, h.p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, comparing in constant
// time, and whether encoded should be replaced by a new Hash because its
// parameters are not the current ones.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, ok && p != h.p, nil
}

// Decoy spends the time of a Verify for an account that does not exist, so
// how long a sign-in takes does not tell whether an email has an account.
func (h *Hasher) Decoy(ctx context.Context, password string) error {
	h.decoyOnce.Do(func() {
		h.decoy, _ = h.Hash(context.Background(), randomToken())
	})
	_, _, err := h.Verify(ctx, h.decoy, password)
	return err
}

func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Argon2Params) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.sem }()
	return argon2.IDKey([]byte(norm.NFKC.String(password)), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// parsePHC reads an argon2id PHC string.
func parsePHC(s string) (Argon2Params, []byte, []byte, error) {
	bad := func(why string) (Argon2Params, []byte, []byte, error) {
		return Argon2Params{}, nil, nil, fmt.Errorf("login: stored password hash: %s", why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("unsupported argon2 version")
	}
	var p Argon2Params
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || n != 3 {
		return bad("unreadable parameters")
	}
	if p.Memory < 8 || p.Memory > maxArgonMemory || p.Time < 1 || p.Time > maxArgonTime || threads < 1 || threads > maxArgonThreads {
		return bad("parameters out of bounds")
	}
	p.Threads = uint8(threads)
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
		return bad("unreadable salt or hash")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// ErrWeakPassword is a password the policy refuses; a *PolicyError in its
// chain says why.
var ErrWeakPassword = sentinel(apperr.Invalid, "weak_password", "the password does not meet the policy", "密码不符合要求。")

// PasswordPolicy bounds new passwords. Following NIST SP 800-63B-4 for a
// single-factor password: long rather than "complex" (no character class
// rules), any Unicode character (spaces too; passphrases welcome), no
// truncation, length counted in characters after NFKC normalisation, and a
// byte bound so no one makes the hash chew megabytes.
type PasswordPolicy struct {
	MinChars int
	MaxChars int
	MaxBytes int
}

// DefaultPasswordPolicy: 15 to 128 characters, at most 512 bytes.
var DefaultPasswordPolicy = PasswordPolicy{MinChars: 15, MaxChars: 128, MaxBytes: 512}

// PolicyError says which rule a password breaks.
type PolicyError struct {
	Rule string // "too_short", "too_long", "too_many_bytes", "invalid_utf8", "control_character", "one_character", "like_account"
	N    int    // the bound, for the length rules
}

func (e *PolicyError) Error() string { return e.Message("en") }

// Message says what to change, in lang ("zh-CN" or English).
func (e *PolicyError) Message(lang string) string {
	zh := isChinese(lang)
	pick := func(en, cn string) string {
		if zh {
			return cn
		}
		return en
	}
	switch e.Rule {
	case "too_short":
		return pick(fmt.Sprintf("Use at least %d characters; a few words with spaces make a good password.", e.N), fmt.Sprintf("密码至少需要 %d 个字符；用空格连接几个词就是好密码。", e.N))
	case "too_long":
		return pick(fmt.Sprintf("Use at most %d characters.", e.N), fmt.Sprintf("密码最多 %d 个字符。", e.N))
	case "too_many_bytes":
		return pick(fmt.Sprintf("The password is longer than %d bytes; use fewer or simpler characters.", e.N), fmt.Sprintf("密码超过 %d 字节，请缩短。", e.N))
	case "invalid_utf8":
		return pick("The password is not valid text (UTF-8).", "密码不是有效的文本（UTF-8）。")
	case "control_character":
		return pick("The password contains a control character (such as a tab or line break).", "密码包含控制字符（如制表符或换行）。")
	case "one_character":
		return pick("The password repeats one character; choose something less guessable.", "密码由同一个字符重复组成，请换一个更难猜的密码。")
	case "like_account":
		return pick("The password must not be your email address or name.", "密码不能与邮箱或姓名相同。")
	}
	return pick("The password does not meet the policy.", "密码不符合要求。")
}

// Check refuses a password that breaks the policy, or that is one of avoid
// (the account's email, its local part, the user's name), ignoring case.
func (p PasswordPolicy) Check(password string, avoid ...string) error {
	fail := func(rule string, n int) error { return ErrWeakPassword.Wrap(&PolicyError{Rule: rule, N: n}) }
	if len(password) > p.MaxBytes {
		return fail("too_many_bytes", p.MaxBytes)
	}
	if !utf8.ValidString(password) {
		return fail("invalid_utf8", 0)
	}
	for _, r := range password {
		if unicode.IsControl(r) {
			return fail("control_character", 0)
		}
	}
	n := norm.NFKC.String(password)
	switch c := utf8.RuneCountInString(n); {
	case c < p.MinChars:
		return fail("too_short", p.MinChars)
	case c > p.MaxChars:
		return fail("too_long", p.MaxChars)
	}
	if first, _ := utf8.DecodeRuneInString(n); strings.Trim(n, string(first)) == "" {
		return fail("one_character", 0)
	}
	for _, a := range avoid {
		a = strings.TrimSpace(a)
		local, _, _ := strings.Cut(a, "@")
		if a != "" && (strings.EqualFold(n, a) || strings.EqualFold(n, local)) {
			return fail("like_account", 0)
		}
	}
	return nil
}
