package tenant

import (
	"strings"
	"testing"
)

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"My Claw":                           "my-claw",
		"  --Hello,   World!--  ":           "hello-world",
		"Ünïcødé Café":                      "unicode-cafe",
		"Straße":                            "strasse",
		"爪子":                                "",
		"ab":                                "",
		"a b c":                             "a-b-c",
		strings.Repeat("abcdefghij", 6):     "abcdefghijabcdefghijabcdefghijabcdefghij",
		"x" + strings.Repeat("-", 50) + "y": "x-y",
	} {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}
