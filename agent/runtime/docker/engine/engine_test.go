package engine

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestDemuxLogs(t *testing.T) {
	var buf bytes.Buffer
	frame := func(stream byte, s string) {
		h := make([]byte, 8)
		h[0] = stream
		binary.BigEndian.PutUint32(h[4:], uint32(len(s)))
		buf.Write(h)
		buf.WriteString(s)
	}
	frame(1, "out one\n")
	frame(2, "err two\n")
	frame(1, "out three\n")
	b, err := DemuxLogs(&buf, 1<<20)
	if err != nil || string(b) != "out one\nerr two\nout three\n" {
		t.Fatalf("%q %v", b, err)
	}
	b, err = DemuxLogs(strings.NewReader("plain tty output\n"), 1<<20)
	if err != nil || string(b) != "plain tty output\n" {
		t.Fatalf("%q %v", b, err)
	}
}
