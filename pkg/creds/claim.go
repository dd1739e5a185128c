package creds

import (
	"fmt"
	"net/url"
	"strings"
)

// A claim code binds a box to the user who has its label. It is typed from
// the label when the QR code cannot be scanned, so it is short and uses
// Crockford's base32: digits and capitals without I, L, O and U, read back
// case-insensitively with O as 0 and I or L as 1. Twelve symbols carry 60
// bits; with the claim's attempt limits (docs/box-pairing.md) guessing one
// is infeasible.
const (
	claimAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// ClaimCodeSymbols is the number of symbols in a claim code (5 bits each).
	ClaimCodeSymbols = 12
	// ClaimCodeBits is its entropy.
	ClaimCodeBits = 5 * ClaimCodeSymbols
	claimGroup    = 4
)

// NewClaimCode returns a fresh claim code in its printed form,
// "XXXX-XXXX-XXXX".
func NewClaimCode() string {
	b := randomBytes(ClaimCodeSymbols)
	for i := range b {
		b[i] = claimAlphabet[b[i]&31] // 256 is a multiple of 32: uniform
	}
	return groupClaim(string(b))
}

func groupClaim(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); i += claimGroup {
		if i > 0 {
			out.WriteByte('-')
		}
		out.WriteString(s[i:min(i+claimGroup, len(s))])
	}
	return out.String()
}

// NormalizeClaimCode reads a claim code as a person may type it (any case,
// with or without dashes and spaces, O for 0, I or L for 1) and returns its
// printed form, or an error that is ErrInvalid and says what is wrong.
func NormalizeClaimCode(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ', '\t':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(claimAlphabet, r) {
			return "", claimCodeError("a claim code has only digits and letters (no U)")
		}
		b.WriteRune(r)
	}
	if b.Len() != ClaimCodeSymbols {
		return "", claimCodeError(fmt.Sprintf("a claim code has %d letters and digits, like ABCD-EFGH-JKMN", ClaimCodeSymbols))
	}
	return groupClaim(b.String()), nil
}

// claimCodeError says what is wrong with a claim code, for the person who
// typed it; it is ErrInvalid.
type claimCodeError string

func (e claimCodeError) Error() string        { return string(e) }
func (e claimCodeError) Is(target error) bool { return target == ErrInvalid }

// ClaimURL is the link a box's label and local page show as a QR code:
// <publicURL>/claim?d=<deviceID>&c=<claimCode>.
func ClaimURL(publicURL, deviceID, claimCode string) string {
	return strings.TrimRight(publicURL, "/") + "/claim?d=" + url.QueryEscape(deviceID) + "&c=" + url.QueryEscape(claimCode)
}
