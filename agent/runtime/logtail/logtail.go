// Package logtail reads the end of a gateway's log files, bounded for the
// protocol (proto.MaxLogLines, proto.MaxLogBytes), without following a
// symlink a tenant put in their place.
package logtail

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/clawfleet/clawfleet/agent/runtime/hostfs"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// maxLineBytes bounds one returned log line.
const maxLineBytes = 4 << 10

// Tail returns up to n of the last lines of the regular file at path,
// reading at most the last 4*proto.MaxLogBytes bytes. Symlinks are not
// followed: the file lives in a directory the tenant can write to. A
// missing file yields no lines and no error.
func Tail(path string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := hostfs.OpenNoFollow(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const window = 4 * proto.MaxLogBytes
	off := st.Size() - window
	if off < 0 {
		off = 0
	}
	buf, err := io.ReadAll(io.NewSectionReader(f, off, window))
	if err != nil {
		return nil, err
	}
	if off > 0 {
		// Drop the partial first line.
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	return Lines(buf, n), nil
}

// Lines splits b into lines (dropping a trailing empty one and CRs)
// and returns the last n, each cut to maxLineBytes.
func Lines(b []byte, n int) []string {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if len(l) > maxLineBytes {
			l = l[:maxLineBytes] + "…"
		}
		lines[i] = l
	}
	return lines
}

// Merge combines the gateway's own log file (primary) and its captured
// stdout/stderr (secondary, each line prefixed) into at most tail lines and
// proto.MaxLogBytes bytes: each source gets half of tail, and whatever one
// does not use goes to the other; the oldest lines go first when the byte
// budget is exceeded. Primary lines come first, then secondary ones.
func Merge(primary, secondary []string, secondaryPrefix string, tail int) []string {
	if tail > proto.MaxLogLines {
		tail = proto.MaxLogLines
	}
	if tail <= 0 {
		return nil
	}
	np, ns := tail-tail/2, tail/2
	if len(primary) < np {
		ns += np - len(primary)
		np = len(primary)
	}
	if len(secondary) < ns {
		np += ns - len(secondary)
		ns = len(secondary)
		if np > len(primary) {
			np = len(primary)
		}
	}
	primary = primary[len(primary)-np:]
	secondary = secondary[len(secondary)-ns:]
	out := make([]string, 0, np+ns)
	out = append(out, primary...)
	for _, l := range secondary {
		out = append(out, secondaryPrefix+l)
	}
	return boundBytes(out, proto.MaxLogBytes)
}

// boundBytes drops the oldest lines until the total (with newlines) fits max.
func boundBytes(lines []string, max int) []string {
	total := 0
	for i := len(lines) - 1; i >= 0; i-- {
		total += len(lines[i]) + 1
		if total > max {
			return lines[i+1:]
		}
	}
	return lines
}
