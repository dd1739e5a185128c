package login

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/oauth2"
)

// FlowTTL is how long a sign-in may take from its start to the callback:
// long enough to type a password and a second factor at the provider, short
// enough that a flow value found later is worthless.
const FlowTTL = 10 * time.Minute

// Flow is one sign-in under way. Everything in it is secret to the browser
// except what travels in the provider's URLs (state, the nonce, the PKCE
// challenge derived from Verifier).
type Flow struct {
	Provider string
	// State binds the callback to the browser that started the sign-in.
	State string
	// Nonce is echoed in the OIDC ID token: a token minted for another
	// sign-in is refused.
	Nonce string
	// Verifier is the PKCE (S256) code verifier: a code stolen on its way
	// back is worthless without it.
	Verifier string
	// ReturnTo is the validated local path to land on after signing in.
	ReturnTo string
	Expires  time.Time
}

// NewFlow starts a sign-in with provider that lands on returnTo (validated
// by ReturnTo), expiring ttl after now.
func NewFlow(provider, returnTo string, now time.Time, ttl time.Duration) (Flow, error) {
	rt, err := ReturnTo(returnTo)
	if err != nil {
		return Flow{}, err
	}
	return Flow{
		Provider: provider,
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: rt,
		Expires:  now.Add(ttl),
	}, nil
}

// randomToken is 256 random bits, base64url without padding.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics on an entropy failure)
	return b
}

// FlowStore keeps flows between the start of a sign-in and its callback.
// SealedFlows keeps them in the browser (a cookie value); a store shared by
// several cloud processes may implement it server side.
type FlowStore interface {
	// Save keeps f and returns the value the browser carries to the
	// callback (the flow cookie's value).
	Save(ctx context.Context, f Flow) (string, error)
	// Take returns the flow value names if its state is state, and uses it
	// up: taking it again fails with ErrFlowUsed. A value that is not
	// ours, or whose state differs, fails with ErrFlowInvalid and is not
	// used up (a forged callback cannot cancel a real sign-in); one past
	// its expiry fails with ErrFlowExpired.
	Take(ctx context.Context, value, state string) (Flow, error)
}

// SealedFlows keeps a flow in the value itself, sealed with
// XChaCha20-Poly1305 under a key derived from the cloud's secret, so the
// browser can neither read nor change it. Single use is enforced by a
// replay cache of the states taken, held until their flows expire; it lives
// in this process, so several cloud processes behind one name need a
// server-side FlowStore instead.
type SealedFlows struct {
	aead cipher.AEAD
	used replayCache
	now  func() time.Time
}

const (
	flowValuePrefix = "f1."
	flowKeyInfo     = "clawfleet login flow v1"
	// maxUsedFlows bounds the replay cache (about 40 bytes each). Filling
	// it needs that many completed callbacks within FlowTTL; the HTTP
	// layer's per-address limit stands before that.
	maxUsedFlows = 200000
	// maxFlowValue bounds what is opened: real values are ~400 bytes.
	maxFlowValue = 4096
)

// NewSealedFlows derives its key from secret (at least 32 random bytes,
// e.g. the cloud's secret key; another purpose's key is derived apart, so
// sharing the secret is safe).
func NewSealedFlows(secret []byte) (*SealedFlows, error) {
	if len(secret) < 32 {
		return nil, errors.New("login: the flow secret must be at least 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, flowKeyInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("login: derive the flow key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("login: flow cipher: %w", err)
	}
	return &SealedFlows{aead: aead, used: replayCache{max: maxUsedFlows, m: map[[16]byte]time.Time{}}, now: time.Now}, nil
}

// wireFlow is a flow as sealed: short names keep the cookie small.
type wireFlow struct {
	P string `json:"p"`
	S string `json:"s"`
	N string `json:"n"`
	V string `json:"v"`
	R string `json:"r"`
	E int64  `json:"e"`
}

// Save seals f.
func (s *SealedFlows) Save(_ context.Context, f Flow) (string, error) {
	plain, err := json.Marshal(wireFlow{P: f.Provider, S: f.State, N: f.Nonce, V: f.Verifier, R: f.ReturnTo, E: f.Expires.Unix()})
	if err != nil {
		return "", err
	}
	nonce := randomBytes(s.aead.NonceSize())
	return flowValuePrefix + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(flowKeyInfo))), nil
}

// Take opens value, checks its state and expiry and uses it up.
func (s *SealedFlows) Take(_ context.Context, value, state string) (Flow, error) {
	f, err := s.open(value)
	if err != nil {
		return Flow{}, ErrFlowInvalid.Wrap(err)
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return Flow{}, ErrFlowInvalid.Wrap(errors.New("the callback's state is not the flow's"))
	}
	now := s.now()
	if !now.Before(f.Expires) {
		return Flow{}, ErrFlowExpired
	}
	if err := s.used.add(f.State, f.Expires, now); err != nil {
		return Flow{}, err
	}
	return f, nil
}

func (s *SealedFlows) open(value string) (Flow, error) {
	raw, ok := strings.CutPrefix(value, flowValuePrefix)
	if !ok || len(value) > maxFlowValue {
		return Flow{}, errors.New("not a flow value")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return Flow{}, errors.New("flow value is not base64url")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(flowKeyInfo))
	if err != nil {
		return Flow{}, errors.New("flow value does not open with our key")
	}
	var w wireFlow
	if err := json.Unmarshal(plain, &w); err != nil {
		return Flow{}, fmt.Errorf("flow value: %w", err)
	}
	return Flow{Provider: w.P, State: w.S, Nonce: w.N, Verifier: w.V, ReturnTo: w.R, Expires: time.Unix(w.E, 0)}, nil
}

// replayCache remembers what was used until it expires.
type replayCache struct {
	mu    sync.Mutex
	max   int
	m     map[[16]byte]time.Time
	swept time.Time
}

// add records key as used until exp; ErrFlowUsed if it already was.
func (c *replayCache) add(key string, exp, now time.Time) error {
	h := sha256.Sum256([]byte(key))
	var k [16]byte
	copy(k[:], h[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && now.Before(e) {
		return ErrFlowUsed
	}
	if len(c.m) >= c.max || now.Sub(c.swept) > time.Minute {
		for k, e := range c.m {
			if !now.Before(e) {
				delete(c.m, k)
			}
		}
		c.swept = now
	}
	if len(c.m) >= c.max {
		// Forgetting a live entry would allow a replay: refuse instead.
		return ErrBusy
	}
	c.m[k] = exp
	return nil
}
