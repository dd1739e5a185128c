package login

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
)

// ErrTooManyAttempts refuses a password attempt before it is checked; a
// *LimitError in its chain says how long to wait.
var ErrTooManyAttempts = sentinel(apperr.RateLimited, "too_many_attempts", "too many failed sign-ins; try again later", "登录失败次数过多，请稍后再试。")

// ErrWrongPassword is a failed password sign-in. It never says whether the
// account exists.
var ErrWrongPassword = sentinel(apperr.Unauthorized, "wrong_password", "wrong email or password", "邮箱或密码不正确。")

// LimitError says which limit refused an attempt and for how long.
type LimitError struct {
	Limit      string // "pair", "address", "account", "device"
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return "the " + e.Limit + " limit refuses attempts for " + e.RetryAfter.Round(time.Second).String()
}

// LimiterConfig sets the password sign-in limits. Counts are failures within
// Window of the last failure of the same key.
type LimiterConfig struct {
	Window time.Duration
	// PairFailures from one address on one account make that address wait
	// before trying that account again.
	PairFailures int
	// AddressFailures from one address, on any accounts, make it wait
	// before trying any account (credential stuffing from one place).
	AddressFailures int
	// AccountFailures on one account, from any addresses, lock it: from then
	// on only addresses that have not failed on it may try (each gets one
	// more guess), and devices it signed in on before.
	AccountFailures int
	// DeviceFailures through one device token make that token wait.
	DeviceFailures int
	// DeviceTTL is how long a device token stays valid.
	DeviceTTL time.Duration
}

// DefaultLimits: 5 guesses per account and address, 50 per address, the
// account locked after 20, all forgotten 15 minutes after the last failure;
// a device token lives 180 days.
var DefaultLimits = LimiterConfig{
	Window:          15 * time.Minute,
	PairFailures:    5,
	AddressFailures: 50,
	AccountFailures: 20,
	DeviceFailures:  10,
	DeviceTTL:       180 * 24 * time.Hour,
}

// Limiter bounds password guessing by account and by address such that a
// correct password is never refused because of what someone else did
// elsewhere:
//
//   - Failures are counted per (account, address) pair, per address and per
//     account. IPv6 addresses count by their /64, which one subscriber
//     usually holds whole.
//   - A pair over PairFailures waits: that is the guesser's own doing.
//   - An address over AddressFailures waits for every account: one place
//     guessing many accounts. Users who share that address (a NAT) and have
//     no device token wait with it; that is the price of stopping stuffing
//     from one place, and device tokens make it small.
//   - An account over AccountFailures is locked against the addresses that
//     failed on it; an address with no failure on the account still gets
//     its attempt, so a distributed attack keeps no one out: the owner's
//     first attempt from home passes, while each attacking address is down
//     to one guess per Window.
//   - A device token, given by Succeeded and kept in a long-lived cookie,
//     proves an earlier sign-in to this account from that browser. With it
//     only the token's own failures count: the address and account limits
//     are not applied, so the owner gets in even from an address that is
//     attacking them.
//
// Attempts are counted as failures when they begin and forgiven when they
// succeed, so a burst of concurrent guesses cannot all pass the check
// before any failure is recorded. State is in memory, bounded (past maxKeys
// new keys are not tracked until old ones expire, while the existing
// counts keep applying), and per process.
type Limiter struct {
	cfg LimiterConfig
	key []byte
	now func() time.Time

	mu      sync.Mutex
	m       map[string]*failures
	maxKeys int
	swept   time.Time
}

type failures struct {
	n    int
	last time.Time
}

// limiterMaxKeys bounds the limiter's memory (about 100 bytes a key).
const limiterMaxKeys = 200000

// NewLimiter limits with cfg; secret (at least 32 bytes, e.g. the cloud's
// secret key) signs device tokens.
func NewLimiter(secret []byte, cfg LimiterConfig) *Limiter {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("clawfleet login device v1"))
	return &Limiter{cfg: cfg, key: mac.Sum(nil), now: time.Now, m: map[string]*failures{}, maxKeys: limiterMaxKeys}
}

// Attempt is one password sign-in attempt.
type Attempt struct {
	// Account is what the user typed to name the account (an email);
	// compared without case or surrounding space.
	Account string
	// Addr is the client's address (cloud/ratelimit.Clients.IP).
	Addr string
	// Device is the device token from the browser's cookie, if any.
	Device string
}

// Try is an attempt under way: call exactly one of Failed and Succeeded
// once the password is checked.
type Try struct {
	l       *Limiter
	account string
	keys    []string
	pair    string
	dev     string
	done    bool
}

// Begin admits a or refuses it with ErrTooManyAttempts (wrapping a
// *LimitError) before the password is checked.
func (l *Limiter) Begin(a Attempt) (*Try, error) {
	account := strings.ToLower(strings.TrimSpace(a.Account))
	pair, addr, acct := "p\x00"+account+"\x00"+addrKey(a.Addr), "a\x00"+addrKey(a.Addr), "u\x00"+account
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	t := &Try{l: l, account: account, pair: pair}
	if dev, ok := l.device(account, a.Device, now); ok {
		if wait := l.over(dev, l.cfg.DeviceFailures, now); wait > 0 {
			return nil, ErrTooManyAttempts.Wrap(&LimitError{Limit: "device", RetryAfter: wait})
		}
		t.dev = dev
		t.keys = []string{dev, pair, addr, acct}
	} else {
		if wait := l.over(pair, l.cfg.PairFailures, now); wait > 0 {
			return nil, ErrTooManyAttempts.Wrap(&LimitError{Limit: "pair", RetryAfter: wait})
		}
		if wait := l.over(addr, l.cfg.AddressFailures, now); wait > 0 {
			return nil, ErrTooManyAttempts.Wrap(&LimitError{Limit: "address", RetryAfter: wait})
		}
		if wait := l.over(acct, l.cfg.AccountFailures, now); wait > 0 && l.count(pair, now) > 0 {
			return nil, ErrTooManyAttempts.Wrap(&LimitError{Limit: "account", RetryAfter: wait})
		}
		t.keys = []string{pair, addr, acct}
	}
	for _, k := range t.keys {
		l.add(k, 1, now)
	}
	return t, nil
}

// Failed records the attempt as a failure (it already counts as one).
func (t *Try) Failed() { t.done = true }

// Succeeded forgives the attempt, clears the failures of its pair and
// device, and returns a new device token for the browser to keep (the
// cookie's value; it proves this sign-in to later attempts).
func (t *Try) Succeeded() string {
	l := t.l
	now := l.now()
	l.mu.Lock()
	if !t.done {
		for _, k := range t.keys {
			l.add(k, -1, now)
		}
	}
	t.done = true
	delete(l.m, t.pair)
	if t.dev != "" {
		delete(l.m, t.dev)
	}
	l.mu.Unlock()
	return l.newDevice(t.account, now)
}

// count is key's failures still within the window.
func (l *Limiter) count(key string, now time.Time) int {
	f := l.m[key]
	if f == nil || now.Sub(f.last) >= l.cfg.Window {
		return 0
	}
	return f.n
}

// over is how long key must wait, if it has limit failures or more.
func (l *Limiter) over(key string, limit int, now time.Time) time.Duration {
	if l.count(key, now) < limit {
		return 0
	}
	return l.m[key].last.Add(l.cfg.Window).Sub(now)
}

func (l *Limiter) add(key string, d int, now time.Time) {
	f := l.m[key]
	if f == nil || now.Sub(f.last) >= l.cfg.Window {
		if d < 0 {
			return
		}
		if f == nil && len(l.m) >= l.maxKeys {
			return
		}
		f = &failures{}
		l.m[key] = f
	}
	f.n = max(f.n+d, 0)
	if d > 0 {
		f.last = now
	}
}

func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute && len(l.m) < l.maxKeys {
		return
	}
	for k, f := range l.m {
		if now.Sub(f.last) >= l.cfg.Window {
			delete(l.m, k)
		}
	}
	l.swept = now
}

// addrKey is the address an attempt counts against: IPv6 by its /64.
func addrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Device tokens: "d1." + base64url(issued unix seconds (8) | random (16) |
// HMAC-SHA256(key, account | issued | random) truncated to 16).
const deviceTokenPrefix = "d1."

func (l *Limiter) deviceMAC(account string, body []byte) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(account))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)[:16]
}

func (l *Limiter) newDevice(account string, now time.Time) string {
	body := make([]byte, 8, 40)
	binary.BigEndian.PutUint64(body, uint64(now.Unix()))
	body = append(body, randomBytes(16)...)
	return deviceTokenPrefix + base64.RawURLEncoding.EncodeToString(append(body, l.deviceMAC(account, body)...))
}

// device is the limiter key of a valid, unexpired device token of account.
func (l *Limiter) device(account, token string, now time.Time) (string, bool) {
	raw, ok := strings.CutPrefix(token, deviceTokenPrefix)
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) != 40 {
		return "", false
	}
	body, mac := b[:24], b[24:]
	if !hmac.Equal(mac, l.deviceMAC(account, body)) {
		return "", false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(body)), 0)
	if now.Sub(issued) > l.cfg.DeviceTTL || issued.After(now.Add(time.Minute)) {
		return "", false
	}
	return "d\x00" + string(body[8:]), true
}
