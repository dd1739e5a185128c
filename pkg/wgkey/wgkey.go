// Package wgkey creates, converts and persists WireGuard (Curve25519) keys.
//
// Keys are base64 (standard encoding, 44 characters) in clawfleet's protocol
// and hex in wireguard-go's UAPI; this package converts between the two.
package wgkey

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"golang.org/x/crypto/curve25519"
)

// KeyLen is the length of a WireGuard key in bytes.
const KeyLen = 32

// Key is a raw WireGuard key (private or public).
type Key [KeyLen]byte

// ErrInvalidKey reports a key that is not 32 bytes in the expected encoding.
var ErrInvalidKey = errors.New("wgkey: key must be 32 bytes")

// String is the key in base64, as in the protocol.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// Hex is the key in hex, as in wireguard-go's UAPI.
func (k Key) Hex() string { return hex.EncodeToString(k[:]) }

// IsZero reports an all-zero key.
func (k Key) IsZero() bool { return k == Key{} }

// GeneratePrivate returns a new random, clamped Curve25519 private key.
func GeneratePrivate() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("wgkey: random: %w", err)
	}
	clamp(&k)
	return k, nil
}

// GeneratePair returns a new private key and its public key.
func GeneratePair() (priv, pub Key, err error) {
	if priv, err = GeneratePrivate(); err != nil {
		return Key{}, Key{}, err
	}
	pub, err = Public(priv)
	return priv, pub, err
}

func clamp(k *Key) {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
}

// Public derives the public key of a private key.
func Public(priv Key) (Key, error) {
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return Key{}, fmt.Errorf("wgkey: derive public key: %w", err)
	}
	var k Key
	copy(k[:], pub)
	return k, nil
}

// Parse decodes a base64 key.
func Parse(b64 string) (Key, error) {
	return fromBytes(base64.StdEncoding.DecodeString(strings.TrimSpace(b64)))
}

// ParseHex decodes a hex key (UAPI form).
func ParseHex(h string) (Key, error) {
	return fromBytes(hex.DecodeString(strings.TrimSpace(h)))
}

// fromBytes is the key a decoder returned, if it decoded one of KeyLen bytes.
func fromBytes(b []byte, err error) (Key, error) {
	if err != nil || len(b) != KeyLen {
		return Key{}, ErrInvalidKey
	}
	var k Key
	copy(k[:], b)
	return k, nil
}

// Base64ToHex converts a protocol key to its UAPI form.
func Base64ToHex(b64 string) (string, error) {
	k, err := Parse(b64)
	if err != nil {
		return "", err
	}
	return k.Hex(), nil
}

// HexToBase64 converts a UAPI key to its protocol form.
func HexToBase64(h string) (string, error) {
	k, err := ParseHex(h)
	if err != nil {
		return "", err
	}
	return k.String(), nil
}

// LoadOrCreate returns the private key kept in the file at path, creating
// the file (mode 0600, its directory 0700) with a new key when it does not
// exist, so a restarted process keeps its identity. The file holds the key
// in base64 followed by a newline. A file readable by group or others has
// its mode tightened to 0600.
func LoadOrCreate(path string) (Key, error) {
	if path == "" {
		return Key{}, errors.New("wgkey: key file path is empty")
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, perr := Parse(string(b))
		if perr != nil {
			return Key{}, fmt.Errorf("wgkey: %s does not hold a WireGuard private key: %w", path, perr)
		}
		if k.IsZero() {
			return Key{}, fmt.Errorf("wgkey: %s holds an all-zero key", path)
		}
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			if cerr := os.Chmod(path, 0o600); cerr != nil {
				return Key{}, fmt.Errorf("wgkey: %s is accessible by others and cannot be restricted: %w", path, cerr)
			}
		}
		return k, nil
	case !errors.Is(err, os.ErrNotExist):
		return Key{}, fmt.Errorf("wgkey: read %s: %w", path, err)
	}
	k, err := GeneratePrivate()
	if err != nil {
		return Key{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Key{}, fmt.Errorf("wgkey: create key dir: %w", err)
	}
	// Linked into place complete: a crash never leaves a half-written key,
	// and two racing processes agree on one key.
	if err := atomicfile.Create(path, []byte(k.String()+"\n"), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use its key.
			return LoadOrCreate(path)
		}
		return Key{}, fmt.Errorf("wgkey: install key file: %w", err)
	}
	return k, nil
}

// LoadOrCreatePair is LoadOrCreate together with the public key of the
// private key it returns: what an end of a tunnel needs to start.
func LoadOrCreatePair(path string) (priv, pub Key, err error) {
	if priv, err = LoadOrCreate(path); err != nil {
		return Key{}, Key{}, err
	}
	if pub, err = Public(priv); err != nil {
		return Key{}, Key{}, err
	}
	return priv, pub, nil
}

// Save replaces the key file at path with k atomically and durably (mode
// 0600), so a crash leaves either the old key or the new one.
func Save(path string, k Key) error {
	if path == "" {
		return errors.New("wgkey: key file path is empty")
	}
	if k.IsZero() {
		return errors.New("wgkey: refusing to save an all-zero key")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("wgkey: create key dir: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(k.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("wgkey: install key file: %w", err)
	}
	return nil
}
