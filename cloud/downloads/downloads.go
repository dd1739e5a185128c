// Package downloads is what a worker VM installs the agent from: the
// install.sh script (templated with the cloud's URL and the agent's systemd
// unit from firmware/) and the agent binaries and Debian packages of a
// directory the operator configures (CLAWFLEET_DOWNLOADS_DIR: `make cross`
// and `make deb` write dist/), with their SHA256SUMS, computed here.
package downloads

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/firmware"
)

//go:embed install.sh
var installTemplate string

// SumsName is the checksum file's name (sha256sum's format).
const SumsName = "SHA256SUMS"

// servable are the only names served from the directory: the agent for
// each architecture install.sh knows, and the agent's Debian packages.
var servable = regexp.MustCompile(`^(clawfleet-agent-linux-(amd64|arm64|armv7)|clawfleet-agent_[0-9A-Za-z.+~-]+_(amd64|arm64|armhf)\.deb)$`)

// Errors a download request can end with.
var (
	ErrNotFound = apperr.New(apperr.NotFound, "not_found", "no such download: the cloud serves clawfleet-agent-linux-<amd64|arm64|armv7>, the agent's .deb packages and SHA256SUMS")
	ErrNoDir    = apperr.New(apperr.Unavailable, "downloads_unavailable", "this cloud serves no agent binaries yet: its operator runs `make cross` (and `make deb`) and points CLAWFLEET_DOWNLOADS_DIR at the output (dist/)")
)

// Dir serves the files of one directory.
type Dir struct {
	dir string

	mu   sync.Mutex
	sums map[string]sum // by name
}

type sum struct {
	size  int64
	mtime time.Time
	hex   string
}

// New serves dir (which may not exist yet: requests then get ErrNoDir).
func New(dir string) *Dir { return &Dir{dir: dir, sums: map[string]sum{}} }

// Open opens a servable file; the caller closes it.
func (d *Dir) Open(name string) (*os.File, os.FileInfo, error) {
	if !servable.MatchString(name) {
		return nil, nil, ErrNotFound
	}
	if _, err := os.Stat(d.dir); err != nil {
		return nil, nil, ErrNoDir.Wrap(err)
	}
	f, err := os.Open(filepath.Join(d.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, ErrNotFound.Wrap(err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("downloads: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, ErrNotFound.Wrap(fmt.Errorf("%s is not a regular file", name))
	}
	return f, fi, nil
}

// Sums is SHA256SUMS of the servable files in the directory, in sha256sum's
// format ("<hex>  <name>"), sorted by name. A file's sum is computed again
// only when its size or modification time changed.
func (d *Dir) Sums() ([]byte, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, ErrNoDir.Wrap(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	seen := map[string]bool{}
	for _, e := range entries {
		if !servable.MatchString(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		name := e.Name()
		seen[name] = true
		if s, ok := d.sums[name]; ok && s.size == fi.Size() && s.mtime.Equal(fi.ModTime()) {
			names = append(names, name)
			continue
		}
		h, err := hashFile(filepath.Join(d.dir, name))
		if err != nil {
			return nil, fmt.Errorf("downloads: %w", err)
		}
		d.sums[name] = sum{size: fi.Size(), mtime: fi.ModTime(), hex: h}
		names = append(names, name)
	}
	for name := range d.sums {
		if !seen[name] {
			delete(d.sums, name)
		}
	}
	if len(names) == 0 {
		return nil, ErrNoDir.Wrap(fmt.Errorf("no agent binaries in %s", d.dir))
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", d.sums[n].hex, n)
	}
	return []byte(b.String()), nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// InstallScript is install.sh for a cloud at cloudURL (its default --cloud),
// with the agent's systemd unit and environment file from firmware/.
func InstallScript(cloudURL string) []byte {
	r := strings.NewReplacer(
		"@CLOUD_URL@", shellQuote(strings.TrimRight(cloudURL, "/")),
		"@UNIT@", withNewline(firmware.AgentUnit),
		"@ENV@", withNewline(firmware.AgentEnv),
	)
	return []byte(r.Replace(installTemplate))
}

// InstallCommand is the one line an operator runs on a worker VM.
func InstallCommand(cloudURL, token string) string {
	return fmt.Sprintf("curl -fsSL %s/install.sh | sudo sh -s -- --token %s", shellQuote(strings.TrimRight(cloudURL, "/")), shellQuote(token))
}

// shellQuote quotes s for sh when it holds anything but plain URL and
// token characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@%+=,~") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func withNewline(s string) string {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}
