package tenant

import (
	"slices"
	"strings"
)

// NewLines returns the lines of cur that were not in prev, where both are
// the newest lines of a host's log answer taken a moment apart.
//
// An answer may merge several logs: the gateway's log file, then the
// process's or container's output with every line prefixed by a short tag
// ("stdout| ", "container| "). Each of those streams is append-only on its
// own, so the overlap is found per stream: the longest suffix of the
// stream's previous lines that starts its current lines is skipped. Without
// any overlap every line of the stream is new.
func NewLines(prev, cur []string) []string {
	prevBy := splitStreams(prev)
	var out []string
	for _, s := range orderedStreams(cur) {
		out = append(out, newInStream(prevBy[s.tag], s.lines)...)
	}
	return out
}

func newInStream(prev, cur []string) []string {
	for k := min(len(prev), len(cur)); k > 0; k-- {
		if slices.Equal(prev[len(prev)-k:], cur[:k]) {
			return cur[k:]
		}
	}
	return cur
}

type stream struct {
	tag   string
	lines []string
}

// streamTag is the line's tag ("stdout| "), or "" for the gateway's own log.
func streamTag(l string) string {
	i := strings.Index(l, "| ")
	if i <= 0 || i > 16 {
		return ""
	}
	for _, r := range l[:i] {
		if r < 'a' || r > 'z' {
			return ""
		}
	}
	return l[:i+2]
}

func orderedStreams(lines []string) []stream {
	var out []stream
	idx := map[string]int{}
	for _, l := range lines {
		tag := streamTag(l)
		i, ok := idx[tag]
		if !ok {
			i = len(out)
			idx[tag] = i
			out = append(out, stream{tag: tag})
		}
		out[i].lines = append(out[i].lines, l)
	}
	return out
}

func splitStreams(lines []string) map[string][]string {
	m := map[string][]string{}
	for _, s := range orderedStreams(lines) {
		m[s.tag] = s.lines
	}
	return m
}
