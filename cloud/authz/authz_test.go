package authz

import (
	"errors"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/store"
)

func TestCan(t *testing.T) {
	alices := &store.Tenant{ID: "ten_a", OwnerID: "alice"}
	alice := Actor{UserID: "alice", Email: "alice@example.com"}
	bob := Actor{UserID: "bob"}
	ownerActions := []Action{View, Create, Restart, Delete, Logs, Open, SignOut}
	adminOnly := []Action{Probe, Inspect, List}
	tests := []struct {
		name   string
		actor  Actor
		acts   []Action
		tenant *store.Tenant
		ok     bool
	}{
		{"the owner acts on their tenant", alice, ownerActions, alices, true},
		{"the owner does not operate it", alice, adminOnly, alices, false},
		{"another user", bob, append(ownerActions, adminOnly...), alices, false},
		{"a user lists nothing", alice, []Action{List}, nil, false},
		{"no user owns a tenant without owner", Actor{}, ownerActions, &store.Tenant{ID: "ten_x"}, false},
		{"the admin token does anything", Admin, append(ownerActions, adminOnly...), alices, true},
		{"the admin lists", Admin, []Action{List}, nil, true},
		{"an unknown action", Admin, []Action{"fly"}, alices, false},
	}
	for _, tc := range tests {
		for _, act := range tc.acts {
			err := Can(tc.actor, act, tc.tenant)
			if (err == nil) != tc.ok {
				t.Errorf("%s: Can(%s) = %v, want allowed %v", tc.name, act, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("%s: %v is not ErrForbidden", tc.name, err)
			}
		}
	}
	status, code, msg := apperr.Public(Can(bob, Restart, alices))
	if status != 403 || code != "forbidden" || msg != "user:bob may not restart tenant ten_a" {
		t.Errorf("refusal = %d %s %q", status, code, msg)
	}
}

func TestAudit(t *testing.T) {
	for _, tc := range []struct {
		a    Actor
		want string
	}{
		{Admin, "admin"},
		{Actor{UserID: "u1"}, "user:u1"},
		{Actor{UserID: "u1", PlatformAdmin: true}, "user:u1"}, // a person, even when an admin
	} {
		if got := tc.a.Audit(); got != tc.want {
			t.Errorf("%+v.Audit() = %q, want %q", tc.a, got, tc.want)
		}
	}
}
