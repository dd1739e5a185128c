package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// teamsCloud is a cloud with a host, and users of the web app who have
// been seen (so each is a user with a personal team).
func teamsCloud(t *testing.T, users ...string) (*servertest.Cloud, *servertest.Agent) {
	t.Helper()
	c := servertest.New(t, servertest.WithSharedSecret())
	ag := c.AddHost("box-1")
	t.Cleanup(ag.Close)
	for _, u := range users {
		r := c.User(http.MethodGet, "/api/teams", u, nil)
		if l := r.JSONList(t); r.Code != http.StatusOK || len(l) != 1 || l[0]["personal"] != true || l[0]["role"] != "owner" {
			t.Fatalf("%s's teams: %d %s", u, r.Code, r.Body)
		}
	}
	return c, ag
}

func wantCode(t *testing.T, what string, r servertest.Response, status int, code string) {
	t.Helper()
	if r.Code != status || (code != "" && r.JSON(t)["code"] != code) {
		t.Fatalf("%s: %d %s, want %d %s", what, r.Code, r.Body, status, code)
	}
}

// routerGet sends a GET to a tenant subdomain through the cloud's
// listener (the real router), with a session cookie or none.
func routerGet(t *testing.T, c *servertest.Cloud, u *url.URL, cookie string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.URL+u.RequestURI(), nil)
	req.Host = u.Host
	if cookie != "" {
		req.Header.Set("Cookie", "clawfleet_session="+cookie)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// redeem follows a one-time link and returns the session cookie it sets.
func redeem(t *testing.T, c *servertest.Cloud, link string) (string, *url.URL) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp := routerGet(t, c, u, "")
	for _, ck := range resp.Cookies() {
		if ck.Name == "clawfleet_session" {
			return ck.Value, &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}
		}
	}
	t.Fatalf("link %s: %d, no session cookie", link, resp.StatusCode)
	return "", nil
}

// TestTeamInstances: a team's owner creates an instance, invites a second
// user who then views and opens it (through the real router) but may not
// change it; a third user sees nothing and is refused at the gateway; a
// removed member is out; the last owner stays.
func TestTeamInstances(t *testing.T) {
	t.Parallel()
	c, ag := teamsCloud(t, "alice", "bob", "carol")
	ag.SetLogs(`{"time":"2026-12-03T12:00:00Z","level":"info","msg":"ready"}`)

	r := c.User(http.MethodPost, "/api/teams", "alice", map[string]any{"name": "Ops"})
	wantCode(t, "create team", r, http.StatusCreated, "")
	team := r.JSON(t)
	tid := team["id"].(string)
	if team["role"] != "owner" || team["personal"] != false || team["name"] != "Ops" {
		t.Fatalf("team = %v", team)
	}
	base := "/api/teams/" + tid
	wantCode(t, "an empty name", c.User(http.MethodPost, "/api/teams", "alice", map[string]any{"name": " "}), 400, "invalid_name")

	r = c.User(http.MethodPost, base+"/tenants", "alice", map[string]any{"plan": "free", "name": "Team claw"})
	wantCode(t, "create team tenant", r, http.StatusCreated, "")
	tn := r.JSON(t)
	tenID := tn["id"].(string)
	// The free plan allows one per team; basic more.
	wantCode(t, "a second free", c.User(http.MethodPost, base+"/tenants", "alice", map[string]any{"plan": "free", "name": "Two"}), 409, "plan_limit")
	// The team's tenant is not alice's own.
	wantCode(t, "alice's own", c.User(http.MethodGet, "/api/tenants/me", "alice", nil), 404, "no_tenant")

	// A single-use invitation: bob takes it, carol cannot.
	r = c.User(http.MethodPost, base+"/invites", "alice", map[string]any{"role": "member", "uses": 1, "expiresIn": 3600})
	wantCode(t, "invite", r, http.StatusCreated, "")
	inv := r.JSON(t)
	tok, _ := inv["token"].(string)
	if !strings.HasPrefix(tok, "cfi_") || inv["usesLeft"] != float64(1) || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("invite = %v", inv)
	}
	if l := c.User(http.MethodGet, base+"/invites", "alice", nil); l.Code != 200 || strings.Contains(string(l.Body), tok) || strings.Contains(string(l.Body), `"token"`) {
		t.Fatalf("the invites list shows the token: %s", l.Body)
	}
	wantCode(t, "carol lists invites before joining", c.User(http.MethodGet, base+"/invites", "carol", nil), 404, "no_team")
	r = c.User(http.MethodPost, "/api/invites/accept", "bob", map[string]any{"token": tok})
	wantCode(t, "bob accepts", r, http.StatusOK, "")
	if j := r.JSON(t); j["id"] != tid || j["role"] != "member" {
		t.Fatalf("accepted = %v", j)
	}
	wantCode(t, "carol reuses the used-up invite", c.User(http.MethodPost, "/api/invites/accept", "carol", map[string]any{"token": tok}), 410, "invite_invalid")
	wantCode(t, "a made-up invite", c.User(http.MethodPost, "/api/invites/accept", "carol", map[string]any{"token": "cfi_nope"}), 410, "invite_invalid")

	// bob, a member, views, reads logs and opens; he does not change.
	if l := c.User(http.MethodGet, base+"/tenants", "bob", nil).JSONList(t); len(l) != 1 || l[0]["id"] != tenID {
		t.Fatalf("bob's view of the team's tenants: %v", l)
	}
	wantCode(t, "bob gets it", c.User(http.MethodGet, base+"/tenants/"+tenID, "bob", nil), 200, "")
	if r := c.User(http.MethodGet, base+"/tenants/"+tenID+"/logs", "bob", nil); r.Code != 200 || !strings.Contains(string(r.Body), "ready") {
		t.Fatalf("bob reads the logs: %d %s", r.Code, r.Body)
	}
	if m := c.User(http.MethodGet, base+"/members", "bob", nil).JSONList(t); len(m) != 2 || m[0]["role"] != "owner" || m[1]["role"] != "member" {
		t.Fatalf("members = %v", m)
	}
	wantCode(t, "bob deletes", c.User(http.MethodDelete, base+"/tenants/"+tenID, "bob", nil), 403, "forbidden")
	wantCode(t, "bob restarts", c.User(http.MethodPost, base+"/tenants/"+tenID+"/restart", "bob", nil), 403, "forbidden")
	wantCode(t, "bob creates", c.User(http.MethodPost, base+"/tenants", "bob", map[string]any{"plan": "basic"}), 403, "forbidden")
	wantCode(t, "bob invites", c.User(http.MethodPost, base+"/invites", "bob", map[string]any{}), 403, "forbidden")
	wantCode(t, "bob removes alice", c.User(http.MethodDelete, base+"/members/"+memberID(t, c, base, "alice"), "bob", nil), 403, "forbidden")
	wantCode(t, "bob renames", c.User(http.MethodPatch, base, "bob", map[string]any{"name": "Mine"}), 403, "forbidden")

	r = c.User(http.MethodPost, base+"/tenants/"+tenID+"/open", "bob", nil)
	wantCode(t, "bob opens", r, http.StatusCreated, "")
	cookie, home := redeem(t, c, r.JSON(t)["url"].(string))
	// Admitted: past the session check, the gateway's state (the fake
	// agent never reports running).
	if resp := routerGet(t, c, home, cookie); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("bob at the gateway: %d, want 503 gateway_starting", resp.StatusCode)
	}

	// carol, no member, sees nothing and cannot get in.
	for _, p := range []string{base, base + "/tenants", base + "/tenants/" + tenID, base + "/members"} {
		wantCode(t, "carol GET "+p, c.User(http.MethodGet, p, "carol", nil), 404, "no_team")
	}
	wantCode(t, "carol opens", c.User(http.MethodPost, base+"/tenants/"+tenID+"/open", "carol", nil), 404, "no_team")
	wantCode(t, "carol through the admin route", c.User(http.MethodGet, "/api/admin/tenants/"+tenID, "carol", nil), 401, "")
	// carol's own link is for her own tenant, never this one.
	wantCode(t, "carol's tenant", c.User(http.MethodPost, "/api/tenants", "carol", map[string]any{"plan": "free", "name": "carol"}), 201, "")
	r = c.User(http.MethodPost, "/api/tenants/me/access", "carol", nil)
	wantCode(t, "carol's own link", r, 201, "")
	carolCookie, _ := redeem(t, c, r.JSON(t)["url"].(string))
	if resp := routerGet(t, c, home, carolCookie); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("carol's session on the team's gateway: %d, want 403", resp.StatusCode)
	}
	if resp := routerGet(t, c, home, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no session at the team's gateway: %d, want 401", resp.StatusCode)
	}

	// At least one owner, always.
	aliceID := memberID(t, c, base, "alice")
	wantCode(t, "the last owner leaves", c.User(http.MethodDelete, base+"/members/"+aliceID, "alice", nil), 409, "last_owner")
	wantCode(t, "the last owner steps down", c.User(http.MethodPatch, base+"/members/"+aliceID, "alice", map[string]any{"role": "admin"}), 409, "last_owner")
	wantCode(t, "a bad role", c.User(http.MethodPatch, base+"/members/"+aliceID, "alice", map[string]any{"role": "king"}), 400, "invalid_role")

	// An admin changes things, but not owners.
	bobID := memberID(t, c, base, "bob")
	wantCode(t, "bob made admin", c.User(http.MethodPatch, base+"/members/"+bobID, "alice", map[string]any{"role": "admin"}), 200, "")
	wantCode(t, "bob restarts as admin", c.User(http.MethodPost, base+"/tenants/"+tenID+"/restart", "bob", nil), 202, "")
	wantCode(t, "bob makes himself owner", c.User(http.MethodPatch, base+"/members/"+bobID, "bob", map[string]any{"role": "owner"}), 403, "forbidden")
	wantCode(t, "bob removes the owner", c.User(http.MethodDelete, base+"/members/"+aliceID, "bob", nil), 403, "forbidden")
	wantCode(t, "bob deletes the team", c.User(http.MethodDelete, base, "bob", nil), 403, "forbidden")

	// Removed, bob is out of the API at once and of the gateway within
	// the router's membership cache.
	wantCode(t, "bob removed", c.User(http.MethodDelete, base+"/members/"+bobID, "alice", nil), 204, "")
	wantCode(t, "bob after removal", c.User(http.MethodGet, base+"/tenants/"+tenID, "bob", nil), 404, "no_team")
	tstest.Await(t, "bob's session refused at the gateway", 10*time.Second, func() bool {
		return routerGet(t, c, home, cookie).StatusCode == http.StatusForbidden
	})
	// An admin's sign-out ends every session into the gateway at once.
	r = c.User(http.MethodPost, base+"/tenants/"+tenID+"/open", "alice", nil)
	aliceCookie, _ := redeem(t, c, r.JSON(t)["url"].(string))
	wantCode(t, "sign everybody out", c.User(http.MethodDelete, base+"/tenants/"+tenID+"/sessions", "alice", nil), 200, "")
	if resp := routerGet(t, c, home, aliceCookie); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("alice after the sign-out: %d, want 401", resp.StatusCode)
	}

	// A team with instances is not deleted; without, it is.
	wantCode(t, "delete a team with tenants", c.User(http.MethodDelete, base, "alice", nil), 409, "team_has_tenants")
	wantCode(t, "delete the tenant", c.User(http.MethodDelete, base+"/tenants/"+tenID, "alice", nil), 202, "")
	wantCode(t, "delete the team", c.User(http.MethodDelete, base, "alice", nil), 204, "")
	wantCode(t, "the team is gone", c.User(http.MethodGet, base, "alice", nil), 404, "no_team")

	// Everything was audited with its actor.
	audit := string(c.Admin(http.MethodGet, "/api/admin/audit?limit=200", nil).Body)
	for _, want := range []string{`"team.create"`, `"team.invite.create"`, `"team.join"`, `"team.member.role"`, `"team.member.remove"`, `"team.delete"`, `"tenant.create"`, `"tenant.restart"`, `"tenant.delete"`, `"tenant.access"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("no %s in the audit log", want)
		}
	}
	if !strings.Contains(audit, `"actor":"user:bob"`) || !strings.Contains(audit, `"actor":"user:alice"`) {
		t.Errorf("the audit log does not name the actors: %s", audit)
	}
	// The log by actor and by family of actions.
	for _, e := range c.Admin(http.MethodGet, "/api/admin/audit?actor=user:bob&action=team.", nil).JSONList(t) {
		if e["actor"] != "user:bob" || !strings.HasPrefix(e["action"].(string), "team.") {
			t.Errorf("filtered audit event %v", e)
		}
	}
	if l := c.Admin(http.MethodGet, "/api/admin/audit?actor=user:bob&action=team.join", nil).JSONList(t); len(l) != 1 || l[0]["target"] != tid {
		t.Errorf("bob's joins = %v", l)
	}
	wantCode(t, "a bad before", c.Admin(http.MethodGet, "/api/admin/audit?before=x", nil), 400, "invalid_request")
}

// memberID is the user id of the web app's user uid among a team's
// members (their email is uid@example.com).
func memberID(t *testing.T, c *servertest.Cloud, base, uid string) string {
	t.Helper()
	for _, m := range c.User(http.MethodGet, base+"/members", "alice", nil).JSONList(t) {
		if m["email"] == uid+"@example.com" {
			return m["userId"].(string)
		}
	}
	t.Fatalf("%s is no member of %s", uid, base)
	return ""
}

// TestInviteCounted: an invitation for n people admits n, then no one;
// a revoked one admits no one; a personal team takes no one.
func TestInviteCounted(t *testing.T) {
	t.Parallel()
	c, _ := teamsCloud(t, "alice", "u1", "u2", "u3")
	tid := c.User(http.MethodPost, "/api/teams", "alice", map[string]any{"name": "Many"}).JSON(t)["id"].(string)
	base := "/api/teams/" + tid
	tok := c.User(http.MethodPost, base+"/invites", "alice", map[string]any{"uses": 2, "role": "admin"}).JSON(t)["token"].(string)
	wantCode(t, "u1", c.User(http.MethodPost, "/api/invites/accept", "u1", map[string]any{"token": tok}), 200, "")
	wantCode(t, "u1 again", c.User(http.MethodPost, "/api/invites/accept", "u1", map[string]any{"token": tok}), 409, "already_member")
	wantCode(t, "u2", c.User(http.MethodPost, "/api/invites/accept", "u2", map[string]any{"token": tok}), 200, "")
	wantCode(t, "u3 past the count", c.User(http.MethodPost, "/api/invites/accept", "u3", map[string]any{"token": tok}), 410, "invite_invalid")

	r := c.User(http.MethodPost, base+"/invites", "alice", map[string]any{})
	id, tok2 := r.JSON(t)["id"].(string), r.JSON(t)["token"].(string)
	wantCode(t, "u1 (an admin) invites as owner", c.User(http.MethodPost, base+"/invites", "u1", map[string]any{"role": "owner"}), 403, "forbidden")
	wantCode(t, "revoke", c.User(http.MethodDelete, base+"/invites/"+id, "u1", nil), 204, "")
	wantCode(t, "revoke an unknown", c.User(http.MethodDelete, base+"/invites/inv_nope", "alice", nil), 404, "no_invite")
	wantCode(t, "u3 with a revoked invite", c.User(http.MethodPost, "/api/invites/accept", "u3", map[string]any{"token": tok2}), 410, "invite_invalid")
	for name, body := range map[string]map[string]any{
		"too many uses": {"uses": 1001}, "too long": {"expiresIn": 90 * 86400}, "too short": {"expiresIn": 5}, "a bad role": {"role": "root"},
	} {
		if r := c.User(http.MethodPost, base+"/invites", "alice", body); r.Code != 400 {
			t.Errorf("%s: %d %s", name, r.Code, r.Body)
		}
	}
	// The console's user reads the refusal in their language.
	hdr := servertest.UserHeaders("u3")
	hdr["Accept-Language"] = "zh-CN,zh;q=0.9"
	if r := c.Do(http.MethodGet, base, hdr, nil); r.Code != 404 || r.JSON(t)["code"] != "no_team" || r.JSON(t)["error"] != "没有这个团队，或你不是它的成员。" {
		t.Errorf("no_team in Chinese: %d %s", r.Code, r.Body)
	}
	personal := c.User(http.MethodGet, "/api/teams", "alice", nil).JSONList(t)[0]
	wantCode(t, "invite into a personal team", c.User(http.MethodPost, "/api/teams/"+personal["id"].(string)+"/invites", "alice", map[string]any{}), 409, "personal_team")
}

// TestAPIKeys: keys of a user and of a team act within their scopes,
// until revoked; a key cannot make keys; the tokens are shown once.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	c, _ := teamsCloud(t, "alice", "bob")
	tid := c.User(http.MethodPost, "/api/teams", "alice", map[string]any{"name": "Keys"}).JSON(t)["id"].(string)
	base := "/api/teams/" + tid
	tenID := c.User(http.MethodPost, base+"/tenants", "alice", map[string]any{"plan": "basic", "name": "k"}).JSON(t)["id"].(string)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	r := c.User(http.MethodPost, "/api/me/keys", "alice", map[string]any{"name": "ci", "scopes": []string{"tenants:read"}, "expiresIn": 86400})
	wantCode(t, "a read key", r, 201, "")
	key := r.JSON(t)
	read := key["token"].(string)
	if !strings.HasPrefix(read, "cfk_") || key["expiresAt"] == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("key = %v", key)
	}
	if l := c.User(http.MethodGet, "/api/me/keys", "alice", nil); l.Code != 200 || strings.Contains(string(l.Body), read) || len(l.JSONList(t)) != 1 {
		t.Fatalf("keys list: %s", l.Body)
	}
	wantCode(t, "read with the key", c.Do(http.MethodGet, base+"/tenants/"+tenID, bearer(read), nil), 200, "")
	wantCode(t, "list with the key", c.Do(http.MethodGet, "/api/teams", bearer(read), nil), 200, "")
	wantCode(t, "delete with a read key", c.Do(http.MethodDelete, base+"/tenants/"+tenID, bearer(read), nil), 403, "forbidden")
	wantCode(t, "open with a read key", c.Do(http.MethodPost, base+"/tenants/"+tenID+"/open", bearer(read), nil), 403, "forbidden")
	wantCode(t, "a key makes a key", c.Do(http.MethodPost, "/api/me/keys", bearer(read), map[string]any{"scopes": []string{"tenants:read"}}), 403, "forbidden")
	wantCode(t, "a key makes a team", c.Do(http.MethodPost, "/api/teams", bearer(read), map[string]any{"name": "x"}), 403, "not_a_user")
	for name, body := range map[string]map[string]any{
		"no scopes": {"name": "x"}, "a bad scope": {"scopes": []string{"admin"}}, "too long": {"scopes": []string{"tenants:read"}, "expiresIn": 400 * 86400},
	} {
		wantCode(t, name, c.User(http.MethodPost, "/api/me/keys", "alice", body), 400, "invalid_request")
	}

	// A key is its user's: bob's key does not reach alice's team.
	bobKey := c.User(http.MethodPost, "/api/me/keys", "bob", map[string]any{"scopes": []string{"tenants:read", "tenants:write"}}).JSON(t)["token"].(string)
	wantCode(t, "bob's key on alice's team", c.Do(http.MethodGet, base+"/tenants/"+tenID, bearer(bobKey), nil), 404, "no_team")

	// A team's key, for automation: restarts, but does not manage the team.
	r = c.User(http.MethodPost, base+"/keys", "alice", map[string]any{"name": "deploy", "scopes": []string{"tenants:read", "tenants:write"}})
	wantCode(t, "a team key", r, 201, "")
	teamKey, teamKeyID := r.JSON(t)["token"].(string), r.JSON(t)["id"].(string)
	wantCode(t, "restart with the team key", c.Do(http.MethodPost, base+"/tenants/"+tenID+"/restart", bearer(teamKey), nil), 202, "")
	wantCode(t, "invite with the team key", c.Do(http.MethodPost, base+"/invites", bearer(teamKey), map[string]any{}), 403, "forbidden")
	wantCode(t, "team keys with the team key", c.Do(http.MethodGet, base+"/keys", bearer(teamKey), nil), 403, "forbidden")
	wantCode(t, "bob lists the team's keys", c.User(http.MethodGet, base+"/keys", "bob", nil), 404, "no_team")

	// Revoked keys are refused.
	wantCode(t, "revoke the team key", c.User(http.MethodDelete, base+"/keys/"+teamKeyID, "alice", nil), 204, "")
	wantCode(t, "the revoked team key", c.Do(http.MethodGet, base+"/tenants", bearer(teamKey), nil), 401, "invalid_key")
	wantCode(t, "revoke alice's key as bob", c.User(http.MethodDelete, "/api/me/keys/"+key["id"].(string), "bob", nil), 404, "no_key")
	wantCode(t, "revoke alice's key", c.User(http.MethodDelete, "/api/me/keys/"+key["id"].(string), "alice", nil), 204, "")
	wantCode(t, "the revoked key", c.Do(http.MethodGet, "/api/teams", bearer(read), nil), 401, "invalid_key")
	wantCode(t, "a made-up key", c.Do(http.MethodGet, "/api/teams", bearer("cfk_"+strings.Repeat("A", 43)), nil), 401, "invalid_key")

	audit := string(c.Admin(http.MethodGet, "/api/admin/audit?limit=200", nil).Body)
	for _, want := range []string{`"key.create"`, `"key.revoke"`, fmt.Sprintf(`"actor":"key:%s"`, teamKeyID)} {
		if !strings.Contains(audit, want) {
			t.Errorf("no %s in the audit log: %s", want, audit)
		}
	}
}

// TestAdminTeamsAndUsers: the operator lists teams and makes a user a
// platform admin or disables them; a disabled user's keys stop working.
func TestAdminTeamsAndUsers(t *testing.T) {
	t.Parallel()
	c, _ := teamsCloud(t, "alice")
	c.User(http.MethodPost, "/api/teams", "alice", map[string]any{"name": "Listed"})
	l := c.Admin(http.MethodGet, "/api/admin/teams", nil).JSONList(t)
	found := false
	for _, tm := range l {
		found = found || (tm["name"] == "Listed" && tm["members"] == float64(1) && tm["tenants"] == float64(0))
	}
	if len(l) != 2 || !found {
		t.Fatalf("admin teams = %v", l)
	}
	wantCode(t, "a user lists teams as admin", c.User(http.MethodGet, "/api/admin/teams", "alice", nil), 401, "")
	key := c.User(http.MethodPost, "/api/me/keys", "alice", map[string]any{"scopes": []string{"tenants:read"}}).JSON(t)["token"].(string)
	uid := c.User(http.MethodGet, "/api/me/keys", "alice", nil).JSONList(t)[0]["userId"].(string)

	r := c.Admin(http.MethodPatch, "/api/admin/users/"+uid, map[string]any{"platformAdmin": true})
	if r.Code != 200 || r.JSON(t)["platformAdmin"] != true || r.JSON(t)["disabled"] != false {
		t.Fatalf("make admin: %d %s", r.Code, r.Body)
	}
	wantCode(t, "nothing to change", c.Admin(http.MethodPatch, "/api/admin/users/"+uid, map[string]any{}), 400, "invalid_request")
	wantCode(t, "an unknown user", c.Admin(http.MethodPatch, "/api/admin/users/usr_nope", map[string]any{"disabled": true}), 404, "no_user")
	wantCode(t, "disable", c.Admin(http.MethodPatch, "/api/admin/users/"+uid, map[string]any{"disabled": true}), 200, "")
	wantCode(t, "a disabled user's key", c.Do(http.MethodGet, "/api/teams", map[string]string{"Authorization": "Bearer " + key}, nil), 401, "invalid_key")
	if !strings.Contains(string(c.Admin(http.MethodGet, "/api/admin/audit", nil).Body), `"user.update"`) {
		t.Error("no user.update in the audit log")
	}
}

// TestTeamsWithConsoleSessions: console users (session cookie and CSRF
// token) work the team routes the same way; a platform admin's session
// does what the admin token does, another user's session is refused there.
func TestTeamsWithConsoleSessions(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	ag := c.AddHost("box-1")
	defer ag.Close()
	alice, _ := signUp(t, c, "alice@example.com")
	bob, bobMe := signUp(t, c, "bob@example.com")
	carol, _ := signUp(t, c, "carol@example.com")

	r := alice.Do(http.MethodPost, "/api/teams", map[string]any{"name": "Console"})
	wantCode(t, "create team", r, 201, "")
	base := "/api/teams/" + r.JSON(t)["id"].(string)
	r = alice.Do(http.MethodPost, base+"/tenants", map[string]any{"plan": "basic", "name": "Console claw"})
	wantCode(t, "create tenant", r, 201, "")
	tenID := r.JSON(t)["id"].(string)
	tok := alice.Do(http.MethodPost, base+"/invites", map[string]any{}).JSON(t)["token"].(string)
	// Without the CSRF proof a cookie changes nothing.
	wantCode(t, "accept without CSRF", bob.DoHeaders(http.MethodPost, "/api/invites/accept", map[string]string{"X-CSRF-Token": ""}, map[string]any{"token": tok}), 403, "csrf_failed")
	wantCode(t, "bob accepts", bob.Do(http.MethodPost, "/api/invites/accept", map[string]any{"token": tok}), 200, "")
	if teams := bob.Me()["teams"].([]any); len(teams) != 2 {
		t.Fatalf("bob's teams in /api/me = %v", teams)
	}
	wantCode(t, "bob views", bob.Do(http.MethodGet, base+"/tenants/"+tenID, nil), 200, "")
	wantCode(t, "bob deletes", bob.Do(http.MethodDelete, base+"/tenants/"+tenID, nil), 403, "forbidden")
	r = bob.Do(http.MethodPost, base+"/tenants/"+tenID+"/open", nil)
	wantCode(t, "bob opens", r, 201, "")
	cookie, home := redeem(t, c, r.JSON(t)["url"].(string))
	if resp := routerGet(t, c, home, cookie); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("bob at the gateway: %d, want 503 (admitted, gateway starting)", resp.StatusCode)
	}
	wantCode(t, "carol views", carol.Do(http.MethodGet, base+"/tenants/"+tenID, nil), 404, "no_team")

	// The admin routes: a session of a non-admin is 403, of a platform
	// admin like the admin token.
	wantCode(t, "bob lists teams as admin", bob.Do(http.MethodGet, "/api/admin/teams", nil), 403, "forbidden")
	wantCode(t, "make bob platform admin", c.Admin(http.MethodPatch, "/api/admin/users/"+bobMe["id"].(string), map[string]any{"platformAdmin": true}), 200, "")
	wantCode(t, "bob lists teams as platform admin", bob.Do(http.MethodGet, "/api/admin/teams", nil), 200, "")
	wantCode(t, "bob deletes the tenant as platform admin", bob.Do(http.MethodDelete, "/api/admin/tenants/"+tenID, nil), 202, "")
	wantCode(t, "bob cannot drop his own role", bob.Do(http.MethodPatch, "/api/admin/users/"+bobMe["id"].(string), map[string]any{"platformAdmin": false}), 409, "cannot_change_self")
	if !strings.Contains(string(c.Admin(http.MethodGet, "/api/admin/audit?limit=200", nil).Body), `"actor":"user:`+bobMe["id"].(string)+`","action":"tenant.delete"`) {
		t.Error("the platform admin's deletion is not audited with their user")
	}
}

// TestOpenFromTheSubdomain: a browser without a session on a tenant's
// subdomain is sent to the console's /open/<slug>, which with the console
// session of a member issues a one-time link back; the tenant's
// non-members get a 403 page, and nobody signed in the start page.
func TestOpenFromTheSubdomain(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	ag := c.AddHost("box-1")
	defer ag.Close()
	alice, _ := signUp(t, c, "alice@example.com")
	carol, _ := signUp(t, c, "carol@example.com")
	base := "/api/teams/" + alice.Do(http.MethodPost, "/api/teams", map[string]any{"name": "Open"}).JSON(t)["id"].(string)
	tn := alice.Do(http.MethodPost, base+"/tenants", map[string]any{"plan": "basic", "name": "Open claw"}).JSON(t)
	home, err := url.Parse(tn["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	home.Path = "/chat"

	// The subdomain, as a browser asks for a page.
	req, _ := http.NewRequest(http.MethodGet, c.URL+"/chat", nil)
	req.Host, req.Header["Accept"] = home.Host, []string{"text/html,application/xhtml+xml"}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || to.Path != "/open/"+tn["slug"].(string) || to.Query().Get("path") != "/chat" {
		t.Fatalf("a browser without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// An API client (no text/html) is still told login_required.
	if r := routerGet(t, c, home, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an API client without a session: %d", r.StatusCode)
	}

	open := to.RequestURI()
	stop := func(b *servertest.Browser) *servertest.Browser {
		b.Stop = func(*url.URL) bool { return true }
		return b
	}
	r := stop(alice).Do(http.MethodGet, open, nil)
	link, _ := url.Parse(r.Header.Get("Location"))
	if r.Code != http.StatusSeeOther || link.Host != home.Host || link.Path != "/chat" || !strings.Contains(link.RawQuery, "t=") {
		t.Fatalf("alice's /open: %d %q", r.Code, r.Header.Get("Location"))
	}
	cookie, _ := redeem(t, c, link.String())
	if resp := routerGet(t, c, home, cookie); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("alice at the gateway: %d, want 503 (admitted, gateway starting)", resp.StatusCode)
	}
	if r := stop(carol).Do(http.MethodGet, open, nil); r.Code != http.StatusForbidden || !strings.Contains(string(r.Body), "not yours") {
		t.Fatalf("carol's /open: %d %s", r.Code, r.Body)
	}
	if r := stop(c.Browser()).Do(http.MethodGet, open, nil); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/console?return_to=%2Fopen%2F") {
		t.Fatalf("nobody's /open: %d %q", r.Code, r.Header.Get("Location"))
	}
	if r := stop(alice).Do(http.MethodGet, "/open/"+tn["slug"].(string)+"?path=//evil.example/", nil); r.Code != http.StatusBadRequest {
		t.Fatalf("a foreign path: %d", r.Code)
	}
}
