package tenant

import (
	"slices"
	"testing"
)

func TestNewLines(t *testing.T) {
	tests := []struct{ prev, cur, want []string }{
		{nil, []string{"a", "b"}, []string{"a", "b"}},
		{[]string{"a", "b"}, []string{"a", "b"}, []string{}},
		{[]string{"a", "b"}, []string{"a", "b", "c"}, []string{"c"}},
		{[]string{"a", "b", "c"}, []string{"b", "c", "d"}, []string{"d"}}, // window moved
		{[]string{"a", "b"}, []string{"x", "y"}, []string{"x", "y"}},      // no overlap: all new
		{[]string{"a"}, nil, nil},
		{[]string{"a", "b", "a"}, []string{"b", "a", "a"}, []string{"a"}}, // a repeated line is still new
		// A merged answer: the gateway's log, then its tagged output. A new
		// gateway line lands in the middle; nothing is sent twice.
		{[]string{"g1", "g2", "stdout| s1"}, []string{"g1", "g2", "g3", "stdout| s1", "stdout| s2"}, []string{"g3", "stdout| s2"}},
		{[]string{"g1", "container| c1"}, []string{"g1", "container| c1"}, []string{}},
		{[]string{"MSG| not a tag"}, []string{"MSG| not a tag", "x"}, []string{"x"}},
	}
	for _, tc := range tests {
		if got := NewLines(tc.prev, tc.cur); !slices.Equal(got, tc.want) {
			t.Errorf("NewLines(%v, %v) = %v, want %v", tc.prev, tc.cur, got, tc.want)
		}
	}
}
