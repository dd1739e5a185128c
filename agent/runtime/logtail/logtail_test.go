package logtail

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

func TestTailFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log")
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	os.WriteFile(p, []byte(b.String()), 0o600)
	lines, err := Tail(p, 3)
	if err != nil || strings.Join(lines, ",") != "line 9997,line 9998,line 9999" {
		t.Fatal(lines, err)
	}
	if lines, err := Tail(filepath.Join(dir, "missing"), 3); err != nil || lines != nil {
		t.Fatal(lines, err)
	}
	os.Symlink(p, filepath.Join(dir, "link"))
	if _, err := Tail(filepath.Join(dir, "link"), 3); err == nil {
		t.Fatal("followed a symlink")
	}
}

func TestMergeLogsBounds(t *testing.T) {
	var a, s []string
	for i := 0; i < 3000; i++ {
		a = append(a, strings.Repeat("a", 100))
		s = append(s, fmt.Sprint("s", i))
	}
	out := Merge(a, s, "x| ", 5000)
	n := 0
	for _, l := range out {
		n += len(l) + 1
	}
	if n > proto.MaxLogBytes || len(out) > proto.MaxLogLines {
		t.Fatalf("%d bytes, %d lines", n, len(out))
	}
	if out[len(out)-1] != "x| s2999" {
		t.Fatal(out[len(out)-1])
	}
	out = Merge([]string{"g1", "g2"}, []string{"s1", "s2", "s3", "s4"}, "x| ", 4)
	if strings.Join(out, ",") != "g1,g2,x| s3,x| s4" {
		t.Fatal(out)
	}
	out = Merge(nil, []string{"s1", "s2", "s3"}, "x| ", 2)
	if strings.Join(out, ",") != "x| s2,x| s3" {
		t.Fatal(out)
	}
}
