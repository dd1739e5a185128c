package login

import (
	"errors"
	"strings"
	"testing"
)

func TestReturnTo(t *testing.T) {
	ok := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/console", "/console"},
		{"/console/teams/7?tab=members#invites", "/console/teams/7?tab=members#invites"},
		{"/search?q=a%20b&next=%2Fconsole", "/search?q=a%20b&next=%2Fconsole"},
		{"/%E4%B8%AD%E6%96%87", "/%E4%B8%AD%E6%96%87"},
		{"/a/../b", "/a/../b"}, // a path on our origin however it resolves
		{"/@evil.example", "/@evil.example"},
		{"/evil.example", "/evil.example"},
	}
	for _, c := range ok {
		got, err := ReturnTo(c.in)
		if err != nil || got != c.want {
			t.Errorf("ReturnTo(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	// Every one of these is an open-redirect attempt (or not a local path).
	bad := []string{
		"https://evil.example/",
		"http://evil.example",
		"//evil.example",
		"//evil.example/console",
		"///evil.example",
		"/\\evil.example",
		"\\\\evil.example",
		"\\/evil.example",
		"/\t/evil.example",
		"/\n/evil.example",
		"/\r\n/evil.example",
		" //evil.example",
		"\x00//evil.example",
		"/%2Fevil.example",
		"/%2fevil.example",
		"/%5Cevil.example",
		"/%5cevil.example",
		"/%09/evil.example",
		"/%0A/evil.example",
		"/%252F%252Fevil.example",
		"/%25252F%25252Fevil.example",
		"javascript:alert(1)",
		"JaVaScRiPt:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"evil.example",
		"console",
		"./console",
		"../console",
		"?next=/",
		"#frag",
		"/console\\..\\..\\evil",
		"/a b",
		"/\u00a0/evil.example",
		"/\u2028/evil.example",
		"/\u200b/evil.example",
		"/\ufeff/evil.example",
		"/%zz",
		"/" + strings.Repeat("a", maxReturnTo),
		"https:/evil.example",
		"https:evil.example",
		"/\x7f",
	}
	for _, in := range bad {
		if got, err := ReturnTo(in); !errors.Is(err, ErrReturnTo) {
			t.Errorf("ReturnTo(%q) = %q, %v; want ErrReturnTo", in, got, err)
		}
	}
}

func FuzzReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/console", "//x", "/\\x", "/%2F%2Fx", "/\t/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ReturnTo(s)
		if err != nil {
			return
		}
		// What passes is a path whose every decoding starts with one slash
		// and never two slashes of either kind.
		if !strings.HasPrefix(got, "/") || namesAuthority(got) || strings.ContainsAny(got, "\\\t\r\n ") {
			t.Fatalf("ReturnTo(%q) = %q passes but names an authority", s, got)
		}
	})
}
