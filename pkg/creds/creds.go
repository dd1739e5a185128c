// Package creds defines a device's credentials file (credentials.json), the
// one format written by `clawfleet-agent enroll` and by the factory tool, and
// the generation and hashing of device IDs, secrets and tokens.
package creds

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// FileName is the credentials file's name inside an agent's state directory.
const FileName = "credentials.json"

// Credentials identify one device to the cloud.
type Credentials struct {
	DeviceID string `json:"deviceId"`
	Secret   string `json:"secret"`
	MQTTURL  string `json:"mqttUrl"`            // tcp://host:1883 or ssl://host:8883
	CloudURL string `json:"cloudUrl,omitempty"` // http(s)://host:port of the API
	// CACertPEM pins the CA that signs the broker's certificate when the
	// broker uses TLS with a private CA. Empty means the system roots.
	CACertPEM string `json:"caCertPem,omitempty"`
	// ClaimCode is a factory box's claim code (printed form), which its
	// local page shows with ClaimURL until the box is claimed; empty on
	// workers. The agent never sends it anywhere.
	ClaimCode string `json:"claimCode,omitempty"`
}

// ErrInvalid is returned for a credentials file that is incomplete or malformed.
var ErrInvalid = errors.New("invalid credentials")

// Validate checks that every required field is present and well-formed.
func (c *Credentials) Validate() error {
	if err := proto.ValidateDeviceID(c.DeviceID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(c.Secret) < 32 {
		return fmt.Errorf("%w: secret is missing or shorter than 32 characters", ErrInvalid)
	}
	u, err := url.Parse(c.MQTTURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: mqttUrl %q is not a URL such as tcp://cloud.example.com:1883", ErrInvalid, c.MQTTURL)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("%w: mqttUrl scheme %q: use tcp:// or ssl://", ErrInvalid, u.Scheme)
	}
	if c.ClaimCode != "" {
		if code, err := NormalizeClaimCode(c.ClaimCode); err != nil || code != c.ClaimCode {
			return fmt.Errorf("%w: claimCode %q is not a claim code in its printed form (XXXX-XXXX-XXXX)", ErrInvalid, c.ClaimCode)
		}
	}
	return nil
}

// Load reads and validates a credentials file.
func Load(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Save writes the credentials atomically and durably with mode 0600,
// creating the directory (0700) if needed.
func Save(path string, c *Credentials) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewDeviceID returns a fresh random device ID ("dev_" + 16 base32 chars, 80 bits).
func NewDeviceID() string {
	return proto.DeviceIDPrefix + idEncoding.EncodeToString(randomBytes(10))
}

// NewSecret returns a fresh 256-bit secret, base64url without padding (43 chars).
func NewSecret() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// NewToken returns a fresh 256-bit token with a readable prefix such as
// "cfe_" (enrollment) or "cfa_" (admin), so leaked tokens are easy to grep for.
func NewToken(prefix string) string {
	return prefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	return b
}

// Hash returns the hex SHA-256 of a secret or token, the only form stored.
//
// A plain fast hash is right here, not bcrypt/argon2: every secret and token
// is 256 random bits, so there is nothing to brute-force offline, and a slow
// hash would cost seconds of CPU per thousand reconnecting devices (10,000
// agents reconnect at once after a cloud restart).
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Equal reports, in constant time, whether secret hashes to storedHash.
func Equal(storedHash, secret string) bool {
	want, err := hex.DecodeString(storedHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(want, got[:]) == 1
}

// TrimToken normalises a token pasted by a person (spaces, newlines).
func TrimToken(s string) string { return strings.TrimSpace(s) }
