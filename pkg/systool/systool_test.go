package systool

import (
	"path/filepath"
	"testing"
)

func TestLook(t *testing.T) {
	t.Setenv("PATH", "") // the fallback directories must still find sh
	p, err := Look("sh")
	if err != nil || !filepath.IsAbs(p) {
		t.Fatalf("Look(sh) = %q, %v", p, err)
	}
	if _, err := Look("no-such-tool-clawfleet"); err == nil {
		t.Fatal("a missing tool was found")
	}
}
