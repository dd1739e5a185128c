package proto

import (
	"regexp"
)

// Claim is the cloud's retained word on whether a box has an owner
// (down/claim). The cloud publishes it when the box is claimed, released or
// reset, and again whenever the box registers; a box without one is
// unclaimed. An unclaimed box shows its claim code and QR code on its local
// page and runs no tenant.
type Claim struct {
	Header
	Claimed bool `json:"claimed"`
	// Owner is the user the box is bound to (a claimed box only); TeamID
	// the owner's team it was claimed for, if any.
	Owner  string `json:"owner,omitempty"`
	TeamID string `json:"teamId,omitempty"`
	// ClaimedAt is when it was claimed (unix milliseconds).
	ClaimedAt int64 `json:"claimedAt,omitempty"`
	// ClaimCode, sent once when a label is reprinted, is the box's new
	// claim code: the box keeps it and shows it, whenever it is unclaimed,
	// instead of the one in its credentials, which no longer works. Later
	// claim messages carry none (the cloud keeps only its hash).
	ClaimCode string `json:"claimCode,omitempty"`
}

// Claim states a box reports in its heartbeats (Heartbeat.Claim); a host
// that is not a box reports none.
const (
	ClaimStateClaimed   = "claimed"
	ClaimStateUnclaimed = "unclaimed"
)

// EventFactoryReset is the up/event type a box sends after a factory reset
// it was asked for on the box itself (its state dir's factory-reset file or
// its button): it has wiped its tenants' data and asks the cloud to forget
// its owner. It sends it again on every connection until the cloud's claim
// message says unclaimed.
const EventFactoryReset = "factory-reset"

// FactoryResetEvent is the payload of an EventFactoryReset event.
type FactoryResetEvent struct {
	Header
	Type string `json:"type"` // EventFactoryReset
	// RequestedAt is when the reset was asked for on the box (unix ms).
	RequestedAt int64 `json:"requestedAt"`
}

// OpFactoryReset asks a box to wipe every tenant's data and forget its
// owner (the cloud has already done so on its side).
const OpFactoryReset = "factory-reset"

// claimCodeRe is a claim code in its printed form (pkg/creds): three groups
// of four Crockford base32 symbols.
var claimCodeRe = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

// ValidateClaimCode checks a claim code in its printed form.
func ValidateClaimCode(code string) error {
	if !claimCodeRe.MatchString(code) {
		return invalid("claim code must be in its printed form, like ABCD-EFGH-JKMN")
	}
	return nil
}

// DecodeClaim decodes and validates a claim message. An empty payload (a
// cleared retained message) is not a claim; callers treat it as unclaimed.
func DecodeClaim(b []byte) (*Claim, error) {
	var m Claim
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	if err := checkText("teamId", m.TeamID, 40); err != nil {
		return nil, err
	}
	if m.ClaimedAt < 0 {
		return nil, invalid("negative claimedAt")
	}
	if m.Claimed {
		if err := ValidateOwner(m.Owner); err != nil {
			return nil, err
		}
	} else if m.Owner != "" || m.TeamID != "" || m.ClaimedAt != 0 {
		return nil, invalid("an unclaimed box has no owner")
	}
	if m.ClaimCode != "" {
		if err := ValidateClaimCode(m.ClaimCode); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// DecodeFactoryReset decodes and validates a factory-reset event.
func DecodeFactoryReset(b []byte) (*FactoryResetEvent, error) {
	var m FactoryResetEvent
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	if m.Type != EventFactoryReset {
		return nil, invalid("event type %q", truncate(m.Type, 40))
	}
	if m.RequestedAt < 0 {
		return nil, invalid("negative requestedAt")
	}
	return &m, nil
}
