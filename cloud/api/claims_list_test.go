package api_test

import (
	"net/http"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/servertest"
)

// join makes user a member of team with role, through an invite of owner's.
func join(t *testing.T, c *servertest.Cloud, owner, team, user, role string) {
	t.Helper()
	r := c.User(http.MethodPost, "/api/teams/"+team+"/invites", owner, map[string]any{"role": role, "uses": 1, "expiresIn": 3600})
	wantCode(t, "invite "+user, r, http.StatusCreated, "")
	tok, _ := r.JSON(t)["token"].(string)
	wantCode(t, user+" accepts", c.User(http.MethodPost, "/api/invites/accept", user, map[string]any{"token": tok}), http.StatusOK, "")
}

// TestClaimList: GET /api/claims lists the caller's boxes and its teams'
// with its role and the instance on each, never anyone else's; a team
// member sees a team box but may not release it, an admin of the team may,
// a stranger is told there is no such box.
func TestClaimList(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	b1, b2 := c.AddBox("b1", 0), c.AddBox("b1", 1)
	connectBox(t, c, b1).AutoRun()
	connectBox(t, c, b2).AutoRun()

	if l := c.User(http.MethodGet, "/api/claims", "alice", nil).JSONList(t); len(l) != 0 {
		t.Fatalf("boxes before any claim: %v", l)
	}
	team := newTeam(t, c, "alice", "Home")
	join(t, c, "alice", team, "bob", "member")
	join(t, c, "alice", team, "carol", "admin")
	wantCode(t, "alice claims b1 for the team", c.User(http.MethodPost, "/api/claims", "alice",
		map[string]any{"deviceId": b1.ID, "claimCode": b1.ClaimCode, "teamId": team}), http.StatusCreated, "")
	wantCode(t, "dave claims b2", c.User(http.MethodPost, "/api/claims", "dave", claimBody(b2.ID, b2.ClaimCode)), http.StatusCreated, "")

	one := func(user string) map[string]any {
		t.Helper()
		l := c.User(http.MethodGet, "/api/claims", user, nil).JSONList(t)
		if len(l) != 1 {
			t.Fatalf("%s's boxes: %v", user, l)
		}
		return l[0]
	}
	a := one("alice")
	inst, _ := a["instance"].(map[string]any)
	if a["deviceId"] != b1.ID || a["role"] != "claimer" || a["canRelease"] != true || a["teamId"] != team ||
		a["status"] != "online" || a["name"] == "" || a["claimedAt"] == nil || a["lastSeen"] == nil || inst == nil || inst["slug"] == "" {
		t.Fatalf("alice's box: %v", a)
	}
	if b := one("bob"); b["deviceId"] != b1.ID || b["role"] != "member" || b["canRelease"] != false || b["instance"] == nil {
		t.Fatalf("bob's view of the team box: %v", b)
	}
	if d := one("dave"); d["deviceId"] != b2.ID || d["role"] != "claimer" {
		t.Fatalf("dave's box: %v", d)
	}
	if l := c.User(http.MethodGet, "/api/claims", "erin", nil).JSONList(t); len(l) != 0 {
		t.Fatalf("a stranger's boxes: %v", l)
	}
	if r := c.Do(http.MethodGet, "/api/claims", nil, nil); r.Code != http.StatusUnauthorized {
		t.Fatalf("list without a user: %d %s", r.Code, r.Body)
	}

	// Release refusals: a member sees it and is refused; a stranger, and
	// dave on alice's box, are told there is none.
	wantCode(t, "bob releases the team box", c.User(http.MethodDelete, "/api/claims/"+b1.ID, "bob", nil), http.StatusForbidden, "not_your_box")
	wantCode(t, "dave releases alice's box", c.User(http.MethodDelete, "/api/claims/"+b1.ID, "dave", nil), http.StatusNotFound, "no_box")
	wantCode(t, "erin releases dave's box", c.User(http.MethodDelete, "/api/claims/"+b2.ID, "erin", nil), http.StatusNotFound, "no_box")
	if a := one("alice"); a["deviceId"] != b1.ID {
		t.Fatalf("refused releases changed alice's box: %v", a)
	}
	// The team's admin may.
	r := c.User(http.MethodDelete, "/api/claims/"+b1.ID, "carol", nil)
	wantCode(t, "carol, the team's admin, releases it", r, http.StatusOK, "")
	if r.JSON(t)["claimed"] != false {
		t.Fatalf("released box: %s", r.Body)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if l := c.User(http.MethodGet, "/api/claims", u, nil).JSONList(t); len(l) != 0 {
			t.Fatalf("%s's boxes after the release: %v", u, l)
		}
	}
	if !auditHas(t, c, "box.release", b1.ID) {
		t.Fatal("release not audited")
	}
}
