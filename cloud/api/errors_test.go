package api_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/cloud/sso/ssotest"
)

// errCase is one error answer of the API, pinned to the byte: status, code,
// message and the headers that go with it. {host}, {offline} and {tenant}
// in a message stand for the ids of the case's cloud.
type errCase struct {
	name         string
	method, path string
	hdr          map[string]string
	body         any // JSON-encoded; a string is sent as it is
	status       int
	code, msg    string
	header       [2]string // a header the answer must carry, e.g. Retry-After
}

// TestErrorAnswers pins every error code the API answers with, so moving
// errors between packages cannot change what a client sees.
func TestErrorAnswers(t *testing.T) {
	t.Parallel()
	sso := ssotest.Start(t)
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags(sso.Flags()...))
	admin := map[string]string{"Authorization": "Bearer " + servertest.AdminToken}
	user := servertest.UserHeaders("u1")
	nobody := servertest.UserHeaders("nobody")

	// Before any host: no capacity, said with what is needed.
	run(t, c, nil, []errCase{
		{name: "no capacity", method: "POST", path: "/api/tenants", hdr: user, body: map[string]any{"plan": "basic"},
			status: 503, code: "no_capacity", header: [2]string{"Retry-After", "60"},
			msg: "plan basic: no host with capacity: none has 1000m CPU and 1.5GiB memory free (0 online hosts, 0 with a tenant runtime)"},
		{name: "no capacity, admin", method: "POST", path: "/api/admin/tenants", hdr: admin, body: map[string]any{"ownerId": "u9", "plan": "free"},
			status: 503, code: "no_capacity", header: [2]string{"Retry-After", "60"},
			msg: "plan free: no host with capacity: none has 500m CPU and 1GiB memory free (0 online hosts, 0 with a tenant runtime)"},
	})

	offline, _ := c.Provision("box-offline")
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	r := c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free", "name": "Claw"})
	if r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	tenantID := r.JSON(t)["id"].(string)
	// A revoked token and a used-up one.
	tok := func(uses int) string {
		r := c.Admin(http.MethodPost, "/api/admin/enrollment-tokens", map[string]any{"uses": uses})
		if r.Code != http.StatusCreated {
			t.Fatalf("token: %d %s", r.Code, r.Body)
		}
		return r.JSON(t)["token"].(string)
	}
	revoked := tok(1)
	for _, tk := range c.Admin(http.MethodGet, "/api/admin/enrollment-tokens", nil).JSONList(t) {
		c.Admin(http.MethodDelete, "/api/admin/enrollment-tokens/"+tk["id"].(string), nil)
	}
	usedUp := tok(1)
	if r := c.Do(http.MethodPost, "/api/enroll", nil, map[string]any{"token": usedUp}); r.Code != http.StatusCreated {
		t.Fatalf("enroll: %d %s", r.Code, r.Body)
	}
	ids := strings.NewReplacer("{host}", hostID, "{offline}", offline, "{tenant}", tenantID)

	run(t, c, ids, []errCase{
		// The route tree and the body.
		{name: "no endpoint", method: "GET", path: "/api/nope", status: 404, code: "not_found", msg: "no such endpoint"},
		{name: "wrong method", method: "PUT", path: "/api/health", status: 405, code: "method_not_allowed", msg: "method not allowed on this endpoint",
			header: [2]string{"Allow", "GET"}},
		{name: "body too large", method: "POST", path: "/api/enroll", body: strings.Repeat("x", 70<<10), status: 413, code: "too_large", msg: "request body over 65536 bytes"},
		{name: "broken JSON", method: "POST", path: "/api/enroll", body: "{", status: 400, code: "invalid_json", msg: "invalid JSON body: unexpected EOF"},
		{name: "two JSON values", method: "POST", path: "/api/enroll", body: `{"token":"x"} {}`, status: 400, code: "invalid_json", msg: "invalid JSON body: more than one JSON value"},
		{name: "unknown field", method: "POST", path: "/api/enroll", body: `{"nope":1}`, status: 400, code: "invalid_json", msg: `invalid JSON body: json: unknown field "nope"`},

		// Enrollment.
		{name: "no token", method: "POST", path: "/api/enroll", body: map[string]any{}, status: 400, code: "invalid_request", msg: "token is required"},
		{name: "bad host name", method: "POST", path: "/api/enroll", body: map[string]any{"token": "cfe_x", "name": "a\x01b"}, status: 400, code: "invalid_request", msg: "name has control characters"},
		{name: "unknown token", method: "POST", path: "/api/enroll", body: map[string]any{"token": "cfe_wrong"}, status: 401, code: "token_invalid", msg: "enrollment token is not valid"},
		{name: "revoked token", method: "POST", path: "/api/enroll", body: map[string]any{"token": revoked}, status: 401, code: "token_revoked", msg: "enrollment token has been revoked"},
		{name: "used-up token", method: "POST", path: "/api/enroll", body: map[string]any{"token": usedUp}, status: 401, code: "token_used_up", msg: "enrollment token has no uses left"},

		// The admin guard and the fleet's answers.
		{name: "no admin token", method: "GET", path: "/api/hosts", status: 401, code: "unauthorized", msg: "missing or wrong admin token: send Authorization: Bearer <admin token>",
			header: [2]string{"WWW-Authenticate", `Bearer realm="clawfleet"`}},
		{name: "short ttl", method: "POST", path: "/api/admin/enrollment-tokens", hdr: admin, body: map[string]any{"ttl": "1s"}, status: 400, code: "invalid_request", msg: "ttl must be between 1m and 8760h"},
		{name: "bad duration", method: "POST", path: "/api/admin/enrollment-tokens", hdr: admin, body: map[string]any{"ttl": "soon"}, status: 400, code: "invalid_request", msg: `duration "soon": use e.g. "30m", "1h" or "7d"`},
		{name: "zero uses", method: "POST", path: "/api/admin/enrollment-tokens", hdr: admin, body: map[string]any{"uses": 0}, status: 400, code: "invalid_request", msg: "uses must be between 1 and 100000"},
		{name: "bad label", method: "POST", path: "/api/admin/enrollment-tokens", hdr: admin, body: map[string]any{"labels": map[string]string{"Bad Key": "x"}}, status: 400, code: "invalid_request",
			msg: `label key "Bad Key": use 1-63 lowercase letters, digits, '.', '_', '/', '-'`},
		{name: "unknown token id", method: "DELETE", path: "/api/admin/enrollment-tokens/tok_nope", hdr: admin, status: 404, code: "not_found", msg: "enrollment token not found"},
		{name: "bad device name", method: "POST", path: "/api/admin/devices", hdr: admin, body: map[string]any{"name": strings.Repeat("n", 256)}, status: 400, code: "invalid_request", msg: "name longer than 255 bytes"},
		{name: "unknown host", method: "GET", path: "/api/hosts/dev_nope", hdr: admin, status: 404, code: "not_found", msg: "host not found"},
		{name: "delete unknown host", method: "DELETE", path: "/api/hosts/dev_nope", hdr: admin, status: 404, code: "not_found", msg: "host not found"},
		{name: "rotate unknown host", method: "POST", path: "/api/hosts/dev_nope/rotate-key", hdr: admin, status: 404, code: "not_found", msg: "host not found"},
		{name: "rotate offline host", method: "POST", path: "/api/hosts/{offline}/rotate-key", hdr: admin, status: 503, code: "host_offline", msg: "host {offline} is offline"},
		{name: "fractional heartbeat", method: "PUT", path: "/api/admin/settings", hdr: admin, body: map[string]any{"heartbeatInterval": "1500ms"}, status: 400, code: "invalid_request",
			msg: "heartbeat interval must be whole seconds between 1s and 10m0s"},
		{name: "bad audit limit", method: "GET", path: "/api/admin/audit?limit=0", hdr: admin, status: 400, code: "invalid_request", msg: "limit must be a number between 1 and 1000"},

		// Who a tenant request is for.
		{name: "wrong secret", method: "GET", path: "/api/tenants/me", hdr: map[string]string{"X-Shared-Secret": "wrong", "X-User-ID": "u1"}, status: 401, code: "unauthorized", msg: "missing or wrong X-Shared-Secret"},
		{name: "no user", method: "GET", path: "/api/tenants/me", hdr: map[string]string{"X-Shared-Secret": servertest.SharedSecret}, status: 400, code: "invalid_user", msg: "X-User-ID must be 1-128 characters without control characters"},
		{name: "bad email", method: "GET", path: "/api/tenants/me", hdr: map[string]string{"X-Shared-Secret": servertest.SharedSecret, "X-User-ID": "u1", "X-User-Email": "nope"}, status: 400, code: "invalid_email",
			msg: "X-User-Email must be an address of at most 254 characters with an @"},
		{name: "refused bearer", method: "GET", path: "/api/tenants/me", hdr: map[string]string{"Authorization": "Bearer abc.def.ghi"}, status: 401, code: "invalid_token",
			msg: "bearer token refused (invalid token: go-jose/go-jose: invalid protected header): get a fresh token from the SSO", header: [2]string{"WWW-Authenticate", `Bearer realm="clawfleet", error="invalid_token"`}},

		// The tenant service's answers.
		{name: "no tenant", method: "GET", path: "/api/tenants/me", hdr: nobody, status: 404, code: "no_tenant", msg: "no tenant: create one with POST /api/tenants"},
		{name: "no tenant to restart", method: "POST", path: "/api/tenants/me/restart", hdr: nobody, status: 404, code: "no_tenant", msg: "no tenant: create one with POST /api/tenants"},
		{name: "no tenant to delete", method: "DELETE", path: "/api/tenants/me", hdr: nobody, status: 404, code: "no_tenant", msg: "no tenant: create one with POST /api/tenants"},
		{name: "no tenant's logs", method: "GET", path: "/api/tenants/me/logs", hdr: nobody, status: 404, code: "no_tenant", msg: "no tenant: create one with POST /api/tenants"},
		{name: "no tenant to open", method: "POST", path: "/api/tenants/me/access", hdr: nobody, status: 404, code: "no_tenant", msg: "no tenant: create one with POST /api/tenants"},
		{name: "no tenant to sign out", method: "DELETE", path: "/api/tenants/me/sessions", hdr: nobody, status: 404, code: "no_tenant", msg: "no tenant: create one with POST /api/tenants"},
		{name: "unknown plan", method: "POST", path: "/api/tenants", hdr: nobody, body: map[string]any{"plan": "gold"}, status: 400, code: "invalid_plan", msg: `plan "gold" does not exist: choose one of basic, enterprise, free, pro`},
		{name: "long name", method: "POST", path: "/api/tenants", hdr: nobody, body: map[string]any{"name": strings.Repeat("n", 65)}, status: 400, code: "invalid_name", msg: "name longer than 64 characters"},
		{name: "control name", method: "POST", path: "/api/tenants", hdr: nobody, body: map[string]any{"name": "a\x01"}, status: 400, code: "invalid_name", msg: "name has control characters"},
		{name: "bad tail", method: "GET", path: "/api/tenants/me/logs?tail=0", hdr: user, status: 400, code: "invalid_request", msg: "tail must be a number between 1 and 2000"},
		{name: "foreign landing path", method: "POST", path: "/api/tenants/me/access", hdr: user, body: map[string]any{"path": "//evil.example/"}, status: 400, code: "invalid_path",
			msg: "path: path must be a local path starting with a single '/'"},

		// The admin's tenant routes.
		{name: "admin: unknown tenant", method: "GET", path: "/api/admin/tenants/ten_nope", hdr: admin, status: 404, code: "no_tenant", msg: `no tenant with id "ten_nope"`},
		{name: "admin: restart unknown", method: "POST", path: "/api/admin/tenants/ten_nope/restart", hdr: admin, status: 404, code: "no_tenant", msg: `no tenant with id "ten_nope"`},
		{name: "admin: delete unknown", method: "DELETE", path: "/api/admin/tenants/ten_nope", hdr: admin, status: 404, code: "no_tenant", msg: `no tenant with id "ten_nope"`},
		{name: "admin: logs of unknown", method: "GET", path: "/api/admin/tenants/ten_nope/logs", hdr: admin, status: 404, code: "no_tenant", msg: `no tenant with id "ten_nope"`},
		{name: "admin: open unknown", method: "POST", path: "/api/admin/tenants/ten_nope/access", hdr: admin, status: 404, code: "no_tenant", msg: `no tenant with id "ten_nope"`},
		{name: "admin: sign out unknown", method: "DELETE", path: "/api/admin/tenants/ten_nope/sessions", hdr: admin, status: 404, code: "no_tenant", msg: `no tenant with id "ten_nope"`},
		{name: "admin: probe unknown", method: "GET", path: "/api/admin/tenants/ten_nope/probe", hdr: admin, status: 404, code: "no_tenant", msg: `no tenant with id "ten_nope"`},
		{name: "admin: follow", method: "GET", path: "/api/admin/tenants/{tenant}/logs?follow=1", hdr: admin, status: 400, code: "invalid_request",
			msg: "follow is not offered on the admin logs endpoint; poll it with ?tail="},
		{name: "admin: no owner", method: "POST", path: "/api/admin/tenants", hdr: admin, body: map[string]any{}, status: 400, code: "invalid_user", msg: "ownerId must be 1-128 characters without control characters"},
		{name: "admin: bad owner email", method: "POST", path: "/api/admin/tenants", hdr: admin, body: map[string]any{"ownerId": "u2", "ownerEmail": "x"}, status: 400, code: "invalid_email",
			msg: "ownerEmail must be an address of at most 254 characters with an @"},
		{name: "admin: owner has one", method: "POST", path: "/api/admin/tenants", hdr: admin, body: map[string]any{"ownerId": "u1"}, status: 409, code: "conflict",
			msg: `owner "u1" already has tenant {tenant} (claw); delete it first to create another`},
	})

	// Host failures on the way to a tenant's logs.
	ag.SetLogsError("no such container")
	run(t, c, ids, []errCase{
		{name: "host error", method: "GET", path: "/api/tenants/me/logs", hdr: user, status: 502, code: "host_error", msg: "host {host}: no such container"},
		{name: "admin: host error", method: "GET", path: "/api/admin/tenants/{tenant}/logs", hdr: admin, status: 502, code: "host_error", msg: "host {host}: no such container"},
	})
	ag.SetLogsError("")
	ag.SetAnswer(false)
	run(t, c, ids, []errCase{
		{name: "host timeout", method: "GET", path: "/api/tenants/me/logs", hdr: user, status: 504, code: "host_timeout", msg: "host did not answer within 10s"},
	})
	ag.SetAnswer(true)

	// A followed log ends with the error event when the host goes away.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/api/tenants/me/logs?follow=1", nil)
	for k, v := range user {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("follow: %v %v", res, err)
	}
	defer res.Body.Close()
	ag.GoOffline()
	sc := bufio.NewScanner(res.Body)
	var event []string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: ") {
			event = append(event, sc.Text())
		} else if len(event) == 1 {
			event = append(event, sc.Text())
			break
		}
	}
	if want := []string{"event: error", ids.Replace(`data: {"error":"host {host} is offline","code":"host_offline"}`)}; strings.Join(event, "\n") != strings.Join(want, "\n") {
		t.Errorf("error event = %q, want %q", event, want)
	}
	run(t, c, ids, []errCase{
		{name: "host offline", method: "GET", path: "/api/tenants/me/logs", hdr: user, status: 503, code: "host_offline", msg: "host {host} is offline"},
		{name: "admin: host offline", method: "GET", path: "/api/admin/tenants/{tenant}/logs", hdr: admin, status: 503, code: "host_offline", msg: "host {host} is offline"},
	})

	// Clouds set up otherwise.
	off := servertest.New(t, servertest.WithFlags("--wg-addr", "", "--shared-secret", "off"))
	run(t, off, nil, []errCase{
		{name: "shared secret off", method: "GET", path: "/api/tenants/me", hdr: user, status: 401, code: "unauthorized", msg: "shared-secret authentication is disabled on this cloud: set CLAWFLEET_SHARED_SECRET"},
		{name: "tunnels off", method: "GET", path: "/api/admin/tenants/ten_nope/probe", hdr: admin, status: 503, code: "tunnels_disabled", msg: "tunnels are disabled on this cloud (wg-addr is empty)"},
	})
	only := servertest.New(t, servertest.WithFlags(sso.Flags()...))
	run(t, only, nil, []errCase{
		{name: "SSO only", method: "GET", path: "/api/tenants/me", hdr: user, status: 401, code: "unauthorized",
			msg: "send Authorization: Bearer <token from the SSO> (shared-secret authentication is disabled on this cloud)"},
	})
	limits := servertest.New(t, servertest.WithSharedSecret())
	for _, tc := range []errCase{
		{name: "enrollment rate", method: "POST", path: "/api/enroll", body: map[string]any{"token": "cfe_wrong"}, status: 429, code: "rate_limited",
			msg: "too many enrollment attempts from this address; wait and retry", header: [2]string{"Retry-After", "1"}},
		{name: "admin guesses", method: "GET", path: "/api/hosts", hdr: map[string]string{"Authorization": "Bearer wrong"}, status: 429, code: "rate_limited",
			msg: "too many failed authentications from this address; wait and retry", header: [2]string{"Retry-After", "1"}},
		{name: "secret guesses", method: "GET", path: "/api/tenants/me", hdr: map[string]string{"X-Shared-Secret": "wrong", "X-User-ID": "u1"}, status: 429, code: "rate_limited",
			msg: "too many failed authentications from this address; wait and retry", header: [2]string{"Retry-After", "1"}},
	} {
		for range 30 {
			if r := limits.Do(tc.method, tc.path, tc.hdr, tc.body); r.Code == http.StatusTooManyRequests {
				break
			}
		}
		run(t, limits, nil, []errCase{tc})
	}
}

func run(t *testing.T, c *servertest.Cloud, ids *strings.Replacer, cases []errCase) {
	t.Helper()
	if ids == nil {
		ids = strings.NewReplacer()
	}
	for _, tc := range cases {
		r := c.Do(tc.method, ids.Replace(tc.path), tc.hdr, tc.body)
		m := r.JSON(t)
		want := ids.Replace(tc.msg)
		if r.Code != tc.status || m["code"] != tc.code || m["error"] != want || len(m) != 2 && tc.code != "conflict" {
			t.Errorf("%s: %d %s\n\twant %d {\"error\":%q,\"code\":%q}", tc.name, r.Code, r.Body, tc.status, want, tc.code)
		}
		if h := tc.header; h[0] != "" && r.Header.Get(h[0]) != h[1] {
			t.Errorf("%s: %s: %q, want %q", tc.name, h[0], r.Header.Get(h[0]), h[1])
		}
		if tc.header[0] != "Retry-After" && r.Header.Get("Retry-After") != "" {
			t.Errorf("%s: unexpected Retry-After %q", tc.name, r.Header.Get("Retry-After"))
		}
	}
}
