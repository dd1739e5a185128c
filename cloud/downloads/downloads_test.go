package downloads

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/firmware"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256([]byte(body))
	return hex.EncodeToString(s[:])
}

func TestSumsAndOpen(t *testing.T) {
	dir := t.TempDir()
	amd := write(t, dir, "clawfleet-agent-linux-amd64", "amd64 agent")
	arm := write(t, dir, "clawfleet-agent-linux-armv7", "armv7 agent")
	deb := write(t, dir, "clawfleet-agent_1.2.3_arm64.deb", "a deb")
	write(t, dir, "secret.key", "not for download")
	write(t, dir, "clawfleet-agent-linux-mips", "no such arch")
	d := New(dir)
	got, err := d.Sums()
	if err != nil {
		t.Fatal(err)
	}
	want := amd + "  clawfleet-agent-linux-amd64\n" + arm + "  clawfleet-agent-linux-armv7\n" + deb + "  clawfleet-agent_1.2.3_arm64.deb\n"
	if string(got) != want {
		t.Fatalf("SHA256SUMS:\n%s\nwant:\n%s", got, want)
	}
	// A changed file gets its new sum; a removed one leaves the list.
	later := time.Now().Add(time.Minute)
	amd2 := write(t, dir, "clawfleet-agent-linux-amd64", "amd64 agent, newer")
	os.Chtimes(filepath.Join(dir, "clawfleet-agent-linux-amd64"), later, later)
	os.Remove(filepath.Join(dir, "clawfleet-agent_1.2.3_arm64.deb"))
	got, _ = d.Sums()
	if want := amd2 + "  clawfleet-agent-linux-amd64\n" + arm + "  clawfleet-agent-linux-armv7\n"; string(got) != want {
		t.Fatalf("SHA256SUMS after a change:\n%s\nwant:\n%s", got, want)
	}

	f, fi, err := d.Open("clawfleet-agent-linux-armv7")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "armv7 agent" || fi.Size() != int64(len(b)) {
		t.Fatalf("Open: %q", b)
	}
	for _, name := range []string{"secret.key", "../downloads/clawfleet-agent-linux-amd64", "clawfleet-agent-linux-mips", "clawfleet-agent-linux-arm64", "", "SHA256SUMS"} {
		if _, _, err := d.Open(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", name, err)
		}
	}
}

func TestNoDir(t *testing.T) {
	missing := New(filepath.Join(t.TempDir(), "dist"))
	if _, err := missing.Sums(); !errors.Is(err, ErrNoDir) {
		t.Errorf("Sums of a missing dir = %v, want ErrNoDir", err)
	}
	if _, _, err := missing.Open("clawfleet-agent-linux-amd64"); !errors.Is(err, ErrNoDir) {
		t.Errorf("Open in a missing dir = %v, want ErrNoDir", err)
	}
	if _, err := New(t.TempDir()).Sums(); !errors.Is(err, ErrNoDir) {
		t.Errorf("Sums of an empty dir = %v, want ErrNoDir", err)
	}
}

// The script is valid sh, names its cloud (quoted when it must be) and
// carries firmware/'s unit as it is.
func TestInstallScript(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://cloud.example.com/", "CLOUD_URL=https://cloud.example.com\n"},
		{"http://10.0.0.1:8080", "CLOUD_URL=http://10.0.0.1:8080\n"},
		{"http://x/$(reboot)'", `CLOUD_URL='http://x/$(reboot)'\'''` + "\n"},
	} {
		s := string(InstallScript(tc.url))
		if !strings.Contains(s, tc.want) {
			t.Errorf("InstallScript(%q) lacks %q", tc.url, tc.want)
		}
		if !strings.Contains(s, "<<'CLAWFLEET_UNIT'\n"+firmware.AgentUnit) || !strings.Contains(s, firmware.AgentEnv+"CLAWFLEET_ENV\n") {
			t.Errorf("InstallScript(%q) does not carry firmware's unit and env file", tc.url)
		}
		if strings.Contains(s, "@UNIT@") || strings.Contains(s, "@CLOUD_URL@") {
			t.Errorf("InstallScript(%q) left a placeholder", tc.url)
		}
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v\n%s", err, out)
		}
		// The assignment gives exactly the URL, whatever it holds.
		line := strings.SplitN(s[strings.Index(s, "\nCLOUD_URL=")+1:], "\n", 2)[0]
		out, err := exec.Command("sh", "-c", line+`; printf %s "$CLOUD_URL"`).Output()
		if err != nil || string(out) != strings.TrimRight(tc.url, "/") {
			t.Errorf("%s sets %q (%v), want %q", line, out, err, strings.TrimRight(tc.url, "/"))
		}
	}
	if got := InstallCommand("https://c.example.com/", "cfe_abc-DEF_1"); got != "curl -fsSL https://c.example.com/install.sh | sudo sh -s -- --token cfe_abc-DEF_1" {
		t.Errorf("InstallCommand = %q", got)
	}
}
