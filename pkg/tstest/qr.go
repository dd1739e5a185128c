package tstest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ReadQR reads the QR code in a PNG image with zbarimg (Debian's
// zbar-tools), the decoder a phone's camera app is closest to here. It
// fails the test when zbarimg is missing in CI (which installs it) and
// skips it elsewhere. (gozxing, tried before, missed about 1 in 100 valid
// codes that zbar reads.)
func ReadQR(t testing.TB, png []byte) string {
	t.Helper()
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("zbarimg is missing; CI must install zbar-tools")
		}
		t.Skip("zbarimg missing (apt-get install zbar-tools): the QR code cannot be read back")
	}
	path := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 4 {
		return "" // no code found
	} else if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	return strings.TrimSpace(string(out))
}
