package tenant

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/clawfleet/clawfleet/pkg/atomicfile"
)

// SecretKeyFile is the file in the data directory that holds the generated
// secret key when CLAWFLEET_SECRET_KEY is not set.
const SecretKeyFile = "secret.key"

// LoadSecretKey returns the 32-byte key that seals gateway tokens: the
// base64 value given (CLAWFLEET_SECRET_KEY), else the one in
// <dataDir>/secret.key, generated there (mode 0600) on first use. Losing the
// key makes stored gateway tokens unreadable.
func LoadSecretKey(value, dataDir string) ([]byte, error) {
	if value != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil || len(k) != 32 {
			return nil, errors.New("CLAWFLEET_SECRET_KEY must be 32 random bytes in base64 (e.g. from `openssl rand -base64 32`)")
		}
		return k, nil
	}
	if dataDir == "" {
		return nil, errors.New("no secret key: set CLAWFLEET_SECRET_KEY (no data dir to keep a generated one)")
	}
	path := filepath.Join(dataDir, SecretKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s is damaged (want 32 bytes in base64); restore it from a backup: tenants' gateway tokens are sealed with it", path)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("store secret key: %w", err)
	}
	return k, nil
}
