package tenant

import "slices"

// NewLines returns the lines of cur that were not in prev, where both are
// the newest lines of the same log taken a moment apart: the longest suffix
// of prev that starts cur is skipped. Without any overlap every line of cur
// is new.
func NewLines(prev, cur []string) []string {
	for k := min(len(prev), len(cur)); k > 0; k-- {
		if slices.Equal(prev[len(prev)-k:], cur[:k]) {
			return cur[k:]
		}
	}
	return cur
}
