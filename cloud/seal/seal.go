// Package seal encrypts the few secrets the cloud must be able to read
// back (tenants' gateway tokens, a box's reissued claim code until the box
// has it) under the cloud's secret key; everything else secret is only
// hashed.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
)

// Sealer encrypts small secrets with AES-256-GCM. The associated data binds
// a sealed value to its owner (a tenant ID, a device ID), so a sealed value
// copied to another row does not open.
type Sealer struct{ aead cipher.AEAD }

const sealPrefix = "v1:"

// New returns a Sealer under key (32 bytes: the cloud's secret key).
func New(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("secret key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain, bound to ad.
func (s *Sealer) Seal(plain, ad string) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), []byte(ad))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out)
}

// Open decrypts what Seal made with the same ad.
func (s *Sealer) Open(sealed, ad string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return "", errors.New("sealed value has an unknown format")
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("sealed value is damaged")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(ad))
	if err != nil {
		return "", errors.New("sealed value does not open with this secret key (was CLAWFLEET_SECRET_KEY or secret.key changed?)")
	}
	return string(plain), nil
}
