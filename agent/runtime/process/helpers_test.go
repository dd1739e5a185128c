//go:build linux

package process

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/agent/runtime/netns"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
)

func TestMain(m *testing.M) { runtimetest.Main(m) }

// removeNetns deletes the network namespaces a process runtime with this
// data directory may have left (tests end without purging every tenant).
func removeNetns(t *testing.T, dataDir string) {
	t.Cleanup(func() {
		abs, _ := filepath.Abs(dataDir)
		sum := sha256.Sum256([]byte(abs))
		prefix := "cf-" + hex.EncodeToString(sum[:2]) + "-"
		entries, _ := os.ReadDir(netns.Dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				exec.Command("ip", "netns", "del", e.Name()).Run()
			}
		}
	})
}
