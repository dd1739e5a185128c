package proto

import (
	"errors"
	"testing"
)

func TestDecodeClaim(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"claimed", `{"v":1,"claimed":true,"owner":"u1","teamId":"team_1","claimedAt":1}`, true},
		{"unclaimed", `{"v":1,"claimed":false}`, true},
		{"unclaimed with a fresh code", `{"v":1,"claimed":false,"claimCode":"ABCD-EFGH-JKMN"}`, true},
		{"claimed without owner", `{"v":1,"claimed":true}`, false},
		{"claimed with a fresh code", `{"v":1,"claimed":true,"owner":"u1","claimCode":"ABCD-EFGH-JKMN"}`, true},
		{"unclaimed with owner", `{"v":1,"claimed":false,"owner":"u1"}`, false},
		{"code not printed form", `{"v":1,"claimed":false,"claimCode":"abcd-efgh-jkmn"}`, false},
		{"code with U", `{"v":1,"claimed":false,"claimCode":"ABCD-EFGH-JKMU"}`, false},
		{"owner with control", `{"v":1,"claimed":true,"owner":"u\u0001"}`, false},
		{"long team", `{"v":1,"claimed":true,"owner":"u","teamId":"` + string(make([]byte, 41)) + `"}`, false},
		{"negative time", `{"v":1,"claimed":true,"owner":"u","claimedAt":-1}`, false},
		{"version", `{"v":2,"claimed":false}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeClaim([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("DecodeClaim(%s) = %+v, %v", tc.in, m, err)
			}
			if err == nil {
				if _, err := DecodeClaim(MustEncode(m)); err != nil {
					t.Fatalf("re-encoded claim refused: %v", err)
				}
			}
		})
	}
}

func TestHeartbeatClaimState(t *testing.T) {
	for _, st := range []string{"", ClaimStateClaimed, ClaimStateUnclaimed} {
		if _, err := DecodeHeartbeat(MustEncode(&Heartbeat{Claim: st})); err != nil {
			t.Errorf("claim %q refused: %v", st, err)
		}
	}
	if _, err := DecodeHeartbeat([]byte(`{"v":1,"claim":"owned"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("claim state owned: %v", err)
	}
}

func TestDecodeFactoryReset(t *testing.T) {
	if m, err := DecodeFactoryReset(MustEncode(&FactoryResetEvent{Type: EventFactoryReset, RequestedAt: 5})); err != nil || m.RequestedAt != 5 {
		t.Fatalf("factory reset event: %+v %v", m, err)
	}
	for _, in := range []string{`{"v":1,"type":"tenants"}`, `{"v":1,"type":"factory-reset","requestedAt":-1}`} {
		if _, err := DecodeFactoryReset([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeFactoryReset(%s): %v", in, err)
		}
	}
	if _, err := DecodeCommand([]byte(`{"v":1,"id":"c1","op":"factory-reset"}`)); err != nil {
		t.Fatalf("factory-reset command: %v", err)
	}
	if _, err := DecodeCommand([]byte(`{"v":1,"id":"c1","op":"factory-reset","tenantId":"ten_abcdefgh"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("factory-reset command with a tenant: %v", err)
	}
}
