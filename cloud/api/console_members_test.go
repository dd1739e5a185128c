package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/clawfleet/clawfleet/cloud/servertest"
)

// TestConsoleTeamMembers: an owner changes a member's role and removes
// them; demoting the last owner is refused with the cloud's reason shown;
// a team API key is made with a scope and an expiry, shown once, works,
// and stops working once revoked.
func TestConsoleTeamMembers(t *testing.T) {
	c, _, _ := consoleCloud(t)
	alice := signUpIn(t, c.URL, "Alice", "alice@example.com")
	alice.Click(`[data-testid="nav-teams"]`)
	alice.Type(`[data-testid="team-name"]`, "Acme")
	alice.Click(`[data-testid="team-create"]`)
	team := `[data-testid="team"][data-personal="false"]`
	alice.Click(team + ` [data-testid="invite-create"]`)
	alice.Wait(`[data-testid="invite-link"]`)
	link := servertest.Get(alice, "the invite link", chromedp.Evaluate[string](`document.querySelector('[data-testid="invite-link"]').value`))
	teamID := alice.Attr(team, "data-id")

	bob := signUpIn(t, c.URL, "Bob", "bob@example.com")
	bob.Navigate(c.URL + link[strings.Index(link, "/console"):])
	bob.Wait(`body[data-view="invite"]`)
	bob.Click(`[data-testid="invite-accept"]`)
	bob.Wait(`body[data-view="instances"] [data-testid="instances-empty"]`)
	bob.Click(`[data-testid="nav-teams"]`)
	bob.Wait(team + ` [data-testid="member"][data-self="true"]`)
	// A member reads the members and changes nothing.
	if n := servertest.Get(bob, "controls for a member", chromedp.Evaluate[int](`document.querySelectorAll('`+team+` [data-testid="member-role-select"], `+team+` [data-testid="member"][data-self="false"] [data-testid="member-remove"]').length`)); n != 0 {
		t.Errorf("a plain member is offered %d role or remove controls", n)
	}

	// Away and back (once there: two quick hash changes would draw the
	// page twice), so the members are read afresh.
	alice.Click(`[data-testid="nav-instances"]`)
	alice.Wait(`body[data-view="instances"] [data-testid="instances-empty"]`)
	alice.Click(`[data-testid="nav-teams"]`)
	alice.Wait(team + ` [data-testid="member"][data-self="false"] [data-testid="member-role-select"]`)
	// The only owner cannot make herself a member: the cloud says why.
	alice.Choose(team+` [data-testid="member"][data-self="true"] [data-testid="member-role-select"]`, "member")
	alice.Wait(team + ` [data-testid="member-error"]:not([hidden])`)
	if s := alice.Text(team + ` [data-testid="member-error"]`); !strings.Contains(s, "owner") {
		t.Errorf("the last owner's refusal reads %q", s)
	}
	if v := servertest.Get(alice, "her role", chromedp.Evaluate[string](`document.querySelector('`+team+` [data-testid="member"][data-self="true"] [data-testid="member-role-select"]').value`)); v != "owner" {
		t.Errorf("after the refusal the select shows %q, want owner", v)
	}

	// Bob becomes an admin.
	bobRow := team + ` [data-testid="member"][data-self="false"]`
	alice.Choose(bobRow+` [data-testid="member-role-select"]`, "admin")
	alice.Wait(bobRow + ` [data-testid="member-role"][data-role="admin"]`)
	if code := fetchStatus(bob, http.MethodGet, "/api/teams/"+teamID+"/invites"); code != http.StatusOK {
		t.Errorf("bob as admin lists invites: %d, want 200", code)
	}

	// A team key: scope and expiry chosen, shown once, works, revoked.
	keys := team + ` [data-testid="team-keys"]`
	alice.Type(keys+` [data-testid="key-name"]`, "ci")
	alice.Choose(keys+` [data-testid="key-expiry"]`, "30")
	alice.Click(keys + ` [data-testid="key-create"]`)
	alice.Wait(keys + ` [data-testid="key-token"]`)
	alice.Wait(keys + ` [data-testid="key"]`)
	key := servertest.Get(alice, "the key", chromedp.Evaluate[string](`document.querySelector('`+keys+` [data-testid="key-token"]').value`))
	bearer := map[string]string{"Authorization": "Bearer " + key}
	if r := c.Do(http.MethodGet, "/api/teams/"+teamID+"/tenants", bearer, nil); r.Code != http.StatusOK {
		t.Errorf("the team key lists the team's tenants: %d %s", r.Code, r.Body)
	}
	if r := c.Do(http.MethodPost, "/api/teams/"+teamID+"/tenants", bearer, map[string]string{"plan": "free"}); r.Code != http.StatusForbidden {
		t.Errorf("a tenants:read key creates a tenant: %d, want 403", r.Code)
	}
	if s := alice.Text(keys + ` [data-testid="key"]`); !strings.Contains(s, "ci") || !strings.Contains(s, "tenants:read") {
		t.Errorf("the key's row = %q", s)
	}
	alice.Click(keys + ` [data-testid="key-revoke"]`)
	alice.Poll("the key's row to go", `!document.querySelector('`+keys+` [data-testid="key"]')`)
	if r := c.Do(http.MethodGet, "/api/teams/"+teamID+"/tenants", bearer, nil); r.Code != http.StatusUnauthorized {
		t.Errorf("a revoked key: %d, want 401", r.Code)
	}

	// Bob is removed, after a confirmation.
	alice.Click(bobRow + ` [data-testid="member-remove"]`)
	alice.Click(`[data-testid="confirm-ok"]`)
	alice.Poll("bob's row to go", `!document.querySelector('`+bobRow+`')`)
	if code := fetchStatus(bob, http.MethodGet, "/api/teams/"+teamID+"/members"); code != http.StatusNotFound {
		t.Errorf("a removed member reads the team: %d, want 404", code)
	}
}
