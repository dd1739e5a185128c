package tenant

import (
	"testing"
)

func TestParseDesiredReplyID(t *testing.T) {
	for id, want := range map[string]int64{"desired-1": 1, "desired-42": 42, "desired-0": 0, "desired-x": 0, "desired-01": 0, "cmd_abc": 0, "desired-5 ": 0} {
		got, ok := parseDesiredReplyID(id)
		if (want != 0) != ok || got != want {
			t.Errorf("parseDesiredReplyID(%q) = %d, %v", id, got, ok)
		}
	}
}
