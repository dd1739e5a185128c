package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/clawfleet/clawfleet/cloud/servertest"
)

// userID is the id of the user with email, as the admin API lists it.
func userID(t *testing.T, c *servertest.Cloud, email string) string {
	t.Helper()
	r := c.Admin(http.MethodGet, "/api/admin/users", nil)
	for _, u := range r.JSON(t)["users"].([]any) {
		if m := u.(map[string]any); m["email"] == email {
			return m["id"].(string)
		}
	}
	t.Fatalf("no user %s in %s", email, r.Body)
	return ""
}

// fitsAt1280 fails the test when the page scrolls sideways or an action
// button of the admin tables is cut off or out of view.
func fitsAt1280(t *testing.T, p *servertest.Page, what string) {
	t.Helper()
	js := `(() => {
	  const bad = [];
	  if (document.documentElement.scrollWidth > window.innerWidth) bad.push('page ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
	  document.querySelectorAll('.table-card').forEach(c => { if (c.scrollWidth > c.clientWidth + 1) bad.push('table ' + c.scrollWidth + ' > ' + c.clientWidth); });
	  document.querySelectorAll('.admin-table td.actions button, .admin-table td.actions a').forEach(b => {
	    const r = b.getBoundingClientRect();
	    if (r.width < 10 || r.left < 0 || r.right > window.innerWidth) bad.push('button "' + b.textContent + '" at ' + Math.round(r.left) + '..' + Math.round(r.right));
	  });
	  return bad.join('; ');
	})()`
	if bad := servertest.Get(p, "layout of "+what, chromedp.Evaluate[string](js)); bad != "" {
		t.Errorf("%s does not fit 1280 px: %s", what, bad)
	}
}

// TestConsoleAdmin: a platform admin, in the console at 1280 px, lists
// users (long emails wrap, the actions stay visible), makes another user
// an admin and disables a third, reads the teams and their members, and
// pages and filters the audit log. A user who is not an admin sees no
// Admin link and is refused by the API.
func TestConsoleAdmin(t *testing.T) {
	c, _, _ := consoleCloud(t)
	const longEmail = "bob.with.a.remarkably.long.address.for.the.layout@engineering.subdomain.example-company.com"
	bob := signUpIn(t, c.URL, "Bob Lastname-With-Several-Parts", longEmail)
	if shown := servertest.Get(bob, "the admin link", chromedp.Evaluate[bool](`!document.getElementById('nav-admin').hidden`)); shown {
		t.Errorf("a user who is not an admin is offered Admin")
	}
	if code := fetchStatus(bob, http.MethodGet, "/api/admin/users"); code != http.StatusForbidden {
		t.Errorf("a user who is not an admin lists users: %d, want 403", code)
	}
	carol := signUpIn(t, c.URL, "Carol", "carol@example.com")
	alice := signUpIn(t, c.URL, "Alice", "alice@example.com")
	alice.Run("1280 px", chromedp.EmulateViewport(1280, 900))
	aliceID, bobID, carolID := userID(t, c, "alice@example.com"), userID(t, c, longEmail), userID(t, c, "carol@example.com")
	if r := c.Admin(http.MethodPatch, "/api/admin/users/"+aliceID, map[string]any{"platformAdmin": true}); r.Code != http.StatusOK {
		t.Fatalf("make alice an admin: %d %s", r.Code, r.Body)
	}
	// 60 teams with long names: 60 audit events, more than a page.
	servertest.Get(alice, "make teams", chromedp.Evaluate[float64](`fetch('/api/me').then(r => r.json()).then(async me => {
	  for (let i = 0; i < 60; i++) {
	    const r = await fetch('/api/teams', {method: 'POST', headers: {'X-CSRF-Token': me.csrfToken, 'Content-Type': 'application/json'},
	      body: JSON.stringify({name: 'Team ' + i + ' with a name long enough to need wrapping in tables'})});
	    if (r.status !== 201) throw new Error('team ' + i + ': ' + r.status);
	  }
	  return 60;
	})`, chromedp.EvalAwaitPromise))

	alice.Navigate("about:blank") // read /api/me again: she is an admin now
	alice.Navigate(c.URL + "/console#/admin")
	alice.Click(`[data-testid="nav-admin"]`)
	alice.Wait(`[data-testid="admin-users"] tr[data-testid="admin-user"][data-id="` + bobID + `"]`)
	fitsAt1280(t, alice, "the users")
	if s := alice.Text(`tr[data-id="` + bobID + `"]`); !strings.Contains(s, longEmail) {
		t.Errorf("the long email is cut: %q", s)
	}
	// Her own row cannot lock her out.
	if dis := servertest.Get(alice, "own buttons", chromedp.Evaluate[bool](`[...document.querySelectorAll('tr[data-id="`+aliceID+`"] button')].every(b => b.disabled)`)); !dis {
		t.Errorf("the admin may change her own admin role or disable herself")
	}
	alice.Click(`tr[data-id="` + bobID + `"] [data-testid="admin-toggle-admin"]`)
	alice.Wait(`tr[data-id="` + bobID + `"][data-admin="true"]`)
	if code := fetchStatus(bob, http.MethodGet, "/api/admin/users"); code != http.StatusOK {
		t.Errorf("bob, made an admin, lists users: %d", code)
	}
	alice.Click(`tr[data-id="` + carolID + `"] [data-testid="admin-toggle-disabled"]`)
	alice.Click(`[data-testid="confirm-ok"]`)
	alice.Wait(`tr[data-id="` + carolID + `"][data-disabled="true"]`)
	if code := fetchStatus(carol, http.MethodGet, "/api/me"); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("a disabled user's session: %d, want 401 or 403", code)
	}
	alice.Type(`[data-testid="admin-user-search"]`, "carol")
	alice.Poll("the search to leave carol", `document.querySelectorAll('tr[data-testid="admin-user"]').length === 1`)

	// Teams and their members.
	alice.Click(`[data-testid="admin-tab-teams"]`)
	alice.Wait(`[data-testid="admin-teams"] tr[data-testid="admin-team"]`)
	fitsAt1280(t, alice, "the teams")
	first := `[data-testid="admin-teams"] tbody tr:first-child`
	alice.Click(first + ` [data-testid="admin-team-members"]`)
	alice.Wait(`[data-testid="admin-team-detail"] [data-testid="admin-team-member"]`)

	// The audit log: 50 a page, older ones on the next; a filter.
	alice.Click(`[data-testid="admin-tab-audit"]`)
	alice.Wait(`[data-testid="audit-event"]`)
	fitsAt1280(t, alice, "the audit log")
	ids := func() (n int, min, max string) {
		s := servertest.Get(alice, "audit ids", chromedp.Evaluate[string](`(() => { const ids = [...document.querySelectorAll('tr[data-testid="audit-event"]')].map(r => +r.dataset.id);
		  return ids.length + ' ' + Math.min(...ids) + ' ' + Math.max(...ids); })()`))
		fmt.Sscan(s, &n, &min, &max)
		return
	}
	n1, min1, _ := ids()
	if n1 != 50 {
		t.Errorf("the first page has %d events, want 50", n1)
	}
	alice.Click(`[data-testid="audit-older"]`)
	alice.Wait(`[data-testid="audit-page"]`)
	alice.Poll("page 2", `document.querySelector('[data-testid="audit-page"]').textContent === 'Page 2'`)
	n2, _, max2 := ids()
	var lo, hi int
	fmt.Sscan(min1, &lo)
	fmt.Sscan(max2, &hi)
	if n2 < 10 || hi >= lo {
		t.Errorf("page 2 has %d events up to id %d; page 1 began at id %d", n2, hi, lo)
	}
	alice.Click(`[data-testid="audit-newest"]`)
	alice.Poll("page 1", `document.querySelector('[data-testid="audit-page"]').textContent === 'Page 1'`)
	alice.Type(`[data-testid="audit-action"]`, "user.")
	alice.Click(`[data-testid="audit-apply"]`)
	alice.Poll("only user events", `(() => { const rs = [...document.querySelectorAll('tr[data-testid="audit-event"]')];
	  return rs.length > 0 && rs.every(r => r.dataset.action.startsWith('user.')); })()`)
	alice.Click(`[data-testid="audit-clear"]`)
	alice.Type(`[data-testid="audit-target"]`, carolID)
	alice.Click(`[data-testid="audit-apply"]`)
	alice.Poll("carol's events", `(() => { const rs = [...document.querySelectorAll('tr[data-testid="audit-event"]')];
	  return rs.length > 0 && rs.every(r => r.textContent.includes('`+carolID+`')); })()`)
	fitsAt1280(t, alice, "the filtered audit log")
}
