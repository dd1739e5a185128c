package login

import (
	"net/url"
	"strings"
	"unicode"

	"github.com/clawfleet/clawfleet/cloud/apperr"
)

// maxReturnTo bounds return_to; it travels in the flow cookie.
const maxReturnTo = 1024

// ErrReturnTo is a return_to that could leave our origin.
var ErrReturnTo = sentinel(apperr.Invalid, "invalid_return_to", "return_to must be a path on this site, such as /console", "return_to 必须是本站的路径，例如 /console。")

// ReturnTo validates where to land after signing in: a path on our own
// origin, so a crafted sign-in link cannot send a freshly signed-in user to
// another site (an open redirect). Empty means "/". It refuses anything a
// browser could read as another origin: a scheme, "//host", a backslash
// (browsers read "/\host" as "//host"), control characters and whitespace
// (browsers drop tabs and newlines, so "/\t/host" becomes "//host"), and
// the same hidden behind percent-encoding.
func ReturnTo(raw string) (string, error) {
	if raw == "" {
		return "/", nil
	}
	if len(raw) > maxReturnTo {
		return "", ErrReturnTo.Withf("return_to is longer than %d bytes", maxReturnTo)
	}
	if !strings.HasPrefix(raw, "/") || namesAuthority(raw) {
		return "", ErrReturnTo
	}
	for _, r := range raw {
		if r == '\\' || r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return "", ErrReturnTo
		}
	}
	// Decoded (up to three layers) it must still not name an authority,
	// for whatever decodes it on its way to a Location header.
	dec := raw
	for range 3 {
		d, err := url.PathUnescape(dec)
		if err != nil || namesAuthority(d) {
			return "", ErrReturnTo
		}
		if d == dec {
			break
		}
		dec = d
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", ErrReturnTo
	}
	return raw, nil
}

// namesAuthority reports whether a browser would read s, relative to our
// origin, as another origin: what it sees once tabs and newlines are
// dropped and leading controls trimmed starts with two slashes of either
// kind, or is no path at all.
func namesAuthority(s string) bool {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimLeftFunc(s, func(r rune) bool { return r <= ' ' })
	if !strings.HasPrefix(s, "/") {
		return true
	}
	return len(s) > 1 && (s[1] == '/' || s[1] == '\\')
}
