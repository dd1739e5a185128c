package tenant

import (
	"context"
	"slices"
	"strings"
	"unicode"

	"github.com/clawfleet/clawfleet/pkg/proto"
	"golang.org/x/text/unicode/norm"
)

// reservedSlugs are subdomains the cloud itself may need.
var reservedSlugs = []string{"www", "api", "app", "admin", "cloud", "mqtt", "dashboard", "status", "mail", "auth", "sso", "static", "assets", "docs", "help"}

// letters spells out the Latin letters that do not decompose into a base
// letter and accents.
var letters = strings.NewReplacer("ø", "o", "æ", "ae", "œ", "oe", "ß", "ss", "đ", "d", "ð", "d", "ł", "l", "þ", "th", "ı", "i")

// maxSlugBase leaves room for a collision suffix within a DNS label.
const maxSlugBase = 40

// Slugify turns a display name into a DNS label: accents are dropped
// ("Café" → "cafe"), other characters outside a-z and 0-9 become '-', runs
// of '-' collapse, and the result is at most 40 characters. It returns ""
// when too little is left (fewer than 3 characters).
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(letters.Replace(strings.ToLower(name))) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case unicode.Is(unicode.Mn, r):
			// a combining accent of the previous letter
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= maxSlugBase {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > maxSlugBase {
		s = strings.TrimRight(s[:maxSlugBase], "-")
	}
	if len(s) < 3 || proto.ValidateSlug(s) != nil {
		return ""
	}
	return s
}

// newSlug picks a free slug for a tenant named name: its slug, or with a
// random suffix when taken or reserved, or a random one when the name gives
// none.
func (s *Service) newSlug(ctx context.Context, name string) (string, error) {
	base := Slugify(name)
	for i := range 20 {
		var cand string
		switch {
		case base == "":
			cand = "t" + randomID(5) // 't' + 8 characters
		case i == 0 && !s.reservedSlug(base):
			cand = base
		default:
			cand = base + "-" + randomID(3)[:4]
		}
		if proto.ValidateSlug(cand) != nil {
			continue
		}
		taken, err := s.store.SlugTaken(ctx, cand)
		if err != nil {
			return "", err
		}
		if !taken {
			return cand, nil
		}
	}
	return "", ErrConflict.Withf("could not find a free address for name %q", name)
}

// reservedSlug reports whether slug is one of the cloud's own subdomains.
func (s *Service) reservedSlug(slug string) bool {
	return slices.Contains(reservedSlugs, slug) || slices.Contains(s.opts.ReservedSlugs, slug)
}
