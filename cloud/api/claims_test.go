package api_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/claim"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/clawfleet/clawfleet/pkg/wgkey"
)

// connectBox connects a fake agent for b as a box agent does: process
// runtime, with a WireGuard key.
func connectBox(t *testing.T, c *servertest.Cloud, b servertest.Box) *servertest.Agent {
	t.Helper()
	_, pub, err := wgkey.GeneratePair()
	if err != nil {
		t.Fatal(err)
	}
	return c.NewAgentWith(b.ID, b.Secret, proto.Register{Hostname: "box-" + b.ID, OS: "linux", Arch: "arm64", CPUs: 4, MemTotalBytes: 8 << 30,
		AgentVersion: "test", WGPublicKey: pub.String(), Capabilities: proto.Capabilities{Runtimes: []string{"process"}}})
}

// newTeam creates a team of user's and returns its ID.
func newTeam(t *testing.T, c *servertest.Cloud, user, name string) string {
	t.Helper()
	r := c.User(http.MethodPost, "/api/teams", user, map[string]any{"name": name})
	id, _ := r.JSON(t)["id"].(string)
	if r.Code != http.StatusCreated || id == "" {
		t.Fatalf("create team %s of %s: %d %s", name, user, r.Code, r.Body)
	}
	return id
}

func claimBody(id, code string) map[string]any {
	return map[string]any{"deviceId": id, "claimCode": code}
}

func claimedBy(user string) func(*proto.Claim) bool {
	return func(m *proto.Claim) bool { return m != nil && m.Claimed && m.Owner == user }
}

func unclaimed(m *proto.Claim) bool { return m != nil && !m.Claimed }

func auditHas(t *testing.T, c *servertest.Cloud, action, target string) bool {
	t.Helper()
	for _, e := range c.Admin(http.MethodGet, "/api/admin/audit?limit=500", nil).JSONList(t) {
		if e["action"] == action && e["target"] == target {
			return true
		}
	}
	return false
}

// TestClaim: an unclaimed box has no tunnel and no tenant; a claim with the
// label's code binds it to the user, tells the agent, gives it its tunnel
// and creates the owner's instance on it; nobody else can claim it; the
// owner's release undoes it all, and another user can claim it then.
func TestClaim(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	worker := c.AddHost("worker-1") // room for pool tenants: the box's must not go there
	b := c.AddBox("b1", 0)
	ag := connectBox(t, c, b)
	ag.AutoRun()

	ag.WaitClaim("the box hears it is unclaimed", unclaimed)
	if r := c.User(http.MethodGet, "/api/tenants/me", "u1", nil); r.Code != http.StatusNotFound {
		t.Fatalf("tenant before the claim: %d %s", r.Code, r.Body)
	}

	// Wrong codes, for a real device and for one that does not exist,
	// answer alike; a code that is no code at all says what is wrong.
	wrong := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b.ID, creds.NewClaimCode()))
	missing := c.User(http.MethodPost, "/api/claims", "u1", claimBody(creds.NewDeviceID(), b.ClaimCode))
	if wrong.Code != http.StatusForbidden || wrong.JSON(t)["code"] != "wrong_claim_code" || !bytes.Equal(wrong.Body, missing.Body) || missing.Code != wrong.Code {
		t.Fatalf("wrong code: %d %s; unknown device: %d %s", wrong.Code, wrong.Body, missing.Code, missing.Body)
	}
	if r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b.ID, "1234")); r.Code != http.StatusBadRequest {
		t.Fatalf("malformed code: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(strings.Repeat("x", 5000), b.ClaimCode)); r.Code != http.StatusBadRequest || r.JSON(t)["code"] != "invalid_request" {
		t.Fatalf("malformed device ID: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/claims", "u1", map[string]any{"deviceId": b.ID, "claimCode": b.ClaimCode, "teamId": "bad team"}); r.Code != http.StatusBadRequest || r.JSON(t)["code"] != "invalid_team" {
		t.Fatalf("bad team id: %d %s", r.Code, r.Body)
	}
	if r := c.Do(http.MethodPost, "/api/claims", nil, claimBody(b.ID, b.ClaimCode)); r.Code != http.StatusUnauthorized {
		t.Fatalf("claim without a user: %d %s", r.Code, r.Body)
	}
	if r := c.Admin(http.MethodGet, "/api/admin/boxes/"+b.ID, nil); r.JSON(t)["claimed"] != false {
		t.Fatalf("box after refused claims: %s", r.Body)
	}

	if ag.TunnelCount() != 0 {
		t.Fatal("an unclaimed box got a tunnel config")
	}

	// A team the user is no owner or admin of is refused.
	if r := c.User(http.MethodPost, "/api/claims", "u1", map[string]any{"deviceId": b.ID, "claimCode": b.ClaimCode, "teamId": "team-1"}); r.Code != http.StatusForbidden || r.JSON(t)["code"] != "not_your_team" {
		t.Fatalf("claim for someone else's team: %d %s", r.Code, r.Body)
	}
	team1 := newTeam(t, c, "u1", "Home")

	// The claim, with the code as a person types it.
	typed := strings.ToLower(strings.ReplaceAll(b.ClaimCode, "-", " "))
	r := c.User(http.MethodPost, "/api/claims", "u1", map[string]any{"deviceId": b.ID, "claimCode": typed, "teamId": team1})
	if r.Code != http.StatusCreated {
		t.Fatalf("claim: %d %s", r.Code, r.Body)
	}
	m := r.JSON(t)
	box := m["box"].(map[string]any)
	if box["claimed"] != true || box["ownerId"] != "u1" || box["teamId"] != team1 || box["model"] != "OpenClaw Box v1" {
		t.Fatalf("claimed box: %s", r.Body)
	}
	ten, _ := m["tenant"].(map[string]any)
	if ten == nil || ten["hostId"] != b.ID {
		t.Fatalf("the owner's instance is not on the box: %s", r.Body)
	}
	ag.WaitClaim("the box hears it is claimed", claimedBy("u1"))
	tstest.Await(t, "the claimed box's tunnel config", 10*time.Second, func() bool { return ag.Tunnel() != nil })
	ag.WaitDesired("the owner's instance on the box", servertest.HasTenant(ten["id"].(string)))
	c.WaitTenant("u1", "u1's instance running on the box", func(m map[string]any) bool {
		return m["hostId"] == b.ID && m["status"] == "running"
	})
	if len(worker.Commands()) != 0 || worker.DesiredCount(1) != 0 {
		t.Fatal("the worker was given something of the box's")
	}
	if !auditHas(t, c, "box.claim", b.ID) {
		t.Fatal("claim not audited")
	}

	// The owner again: the same box, nothing new.
	if r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b.ID, b.ClaimCode)); r.Code != http.StatusOK || r.JSON(t)["tenant"].(map[string]any)["id"] != ten["id"] {
		t.Fatalf("claim again by the owner: %d %s", r.Code, r.Body)
	}
	// Another user with the right code: refused, audited, nothing changes.
	if r := c.User(http.MethodPost, "/api/claims", "u2", claimBody(b.ID, b.ClaimCode)); r.Code != http.StatusConflict || r.JSON(t)["code"] != "box_claimed" {
		t.Fatalf("claim by another user: %d %s", r.Code, r.Body)
	}
	if !auditHas(t, c, "box.claim_refused", b.ID) {
		t.Fatal("refused claim not audited")
	}
	if r := c.User(http.MethodDelete, "/api/claims/"+b.ID, "u2", nil); r.Code != http.StatusNotFound || r.JSON(t)["code"] != "no_box" {
		t.Fatalf("release by another user: %d %s", r.Code, r.Body)
	}
	list := c.Admin(http.MethodGet, "/api/admin/boxes", nil).JSONList(t)
	if len(list) != 1 || list[0]["ownerId"] != "u1" || list[0]["status"] != "online" || list[0]["batchId"] != "b1" {
		t.Fatalf("boxes: %v", list)
	}

	// The owner releases it: instance purged, tunnel gone, box told.
	if r := c.User(http.MethodDelete, "/api/claims/"+b.ID, "u1", nil); r.Code != http.StatusOK || r.JSON(t)["claimed"] != false {
		t.Fatalf("release: %d %s", r.Code, r.Body)
	}
	ag.WaitClaim("the box hears it is released", unclaimed)
	ag.WaitDesired("the instance purged", func(d *proto.Desired) bool {
		return len(d.Tenants) == 0 && len(d.Purge) == 1 && d.Purge[0] == ten["id"]
	})
	tstest.Await(t, "the tunnel config cleared", 10*time.Second, func() bool { return ag.Tunnel() == nil })
	if r := c.User(http.MethodGet, "/api/tenants/me", "u1", nil); r.Code != http.StatusNotFound {
		t.Fatalf("tenant after the release: %d %s", r.Code, r.Body)
	}

	// Now another user may claim it.
	r = c.User(http.MethodPost, "/api/claims", "u2", claimBody(b.ID, b.ClaimCode))
	if r.Code != http.StatusCreated || r.JSON(t)["tenant"].(map[string]any)["hostId"] != b.ID {
		t.Fatalf("claim after the release: %d %s", r.Code, r.Body)
	}
	ag.WaitClaim("the box hears its new owner", claimedBy("u2"))
	tstest.Await(t, "the tunnel again", 10*time.Second, func() bool { return ag.Tunnel() != nil })
}

// TestClaimReset: an operator's factory reset with a fresh code wipes the
// box (command and purge), frees it and retires the old label; a reprint
// re-keys the label of a claimed box without touching its owner; a reset
// asked for on the box itself frees it too.
func TestClaimReset(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	b := c.AddBox("b1", 0)
	ag := connectBox(t, c, b)
	ag.AutoRun()
	if r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b.ID, b.ClaimCode)); r.Code != http.StatusCreated {
		t.Fatalf("claim: %d %s", r.Code, r.Body)
	}
	c.WaitTenant("u1", "u1's instance running", func(m map[string]any) bool { return m["status"] == "running" })

	r := c.Admin(http.MethodPost, "/api/admin/boxes/"+b.ID+"/reset", map[string]any{"freshCode": true})
	if r.Code != http.StatusOK {
		t.Fatalf("reset: %d %s", r.Code, r.Body)
	}
	m := r.JSON(t)
	code, _ := m["claimCode"].(string)
	if proto.ValidateClaimCode(code) != nil || code == b.ClaimCode || m["box"].(map[string]any)["claimed"] != false ||
		m["claimUrl"] != creds.ClaimURL(c.URL, b.ID, code) {
		t.Fatalf("reset answer: %s", r.Body)
	}
	img, err := base64.StdEncoding.DecodeString(m["labelPng"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("label is not a PNG: %v", err)
	}
	if cmd := ag.LastCommand(); cmd == nil || cmd.Op != proto.OpFactoryReset {
		t.Fatalf("the box was not told to wipe itself: %+v", cmd)
	}
	ag.WaitClaim("the box hears its new code", func(m *proto.Claim) bool { return m != nil && !m.Claimed && m.ClaimCode == code })
	if r := c.User(http.MethodGet, "/api/tenants/me", "u1", nil); r.Code != http.StatusNotFound {
		t.Fatalf("tenant after the reset: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/claims", "u3", claimBody(b.ID, b.ClaimCode)); r.Code != http.StatusForbidden {
		t.Fatalf("the old label after the reset: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/claims", "u3", claimBody(b.ID, code)); r.Code != http.StatusCreated {
		t.Fatalf("the new label: %d %s", r.Code, r.Body)
	}
	if !auditHas(t, c, "box.reset", b.ID) {
		t.Fatal("reset not audited")
	}

	// A reprint of the claimed box: the owner stays, the code changes.
	r = c.Admin(http.MethodPost, "/api/admin/boxes/"+b.ID+"/reprint", nil)
	code2, _ := r.JSON(t)["claimCode"].(string)
	if r.Code != http.StatusOK || code2 == "" || code2 == code || r.JSON(t)["box"].(map[string]any)["ownerId"] != "u3" || r.JSON(t)["labelPng"] == "" {
		t.Fatalf("reprint: %d %s", r.Code, r.Body)
	}
	ag.WaitClaim("the box hears its reprinted code", func(m *proto.Claim) bool { return m != nil && m.Claimed && m.ClaimCode == code2 })
	if r := c.User(http.MethodPost, "/api/claims", "u3", claimBody(b.ID, code)); r.Code != http.StatusForbidden {
		t.Fatalf("the code before the reprint: %d %s", r.Code, r.Body)
	}

	// The owner's box is reset on the box itself.
	ag.Publish(proto.KindEvent, &proto.FactoryResetEvent{Type: proto.EventFactoryReset, RequestedAt: time.Now().UnixMilli()})
	ag.WaitClaim("the box hears it is unclaimed after its own reset", unclaimed)
	tstest.Await(t, "u3's instance deleted", 10*time.Second, func() bool {
		return c.User(http.MethodGet, "/api/tenants/me", "u3", nil).Code == http.StatusNotFound
	})
	if !auditHas(t, c, "box.reset_local", b.ID) {
		t.Fatal("the box's own reset not audited")
	}
	for _, p := range []string{"/reset", "/reprint"} {
		if r := c.Admin(http.MethodPost, "/api/admin/boxes/dev_nosuchbox0"+p, nil); r.Code != http.StatusNotFound {
			t.Fatalf("%s of a missing box: %d %s", p, r.Code, r.Body)
		}
	}
}

// TestSecondBox: each box a user claims runs an instance of theirs: the
// first is their own, the second is shared in the team the box was
// claimed for (their personal team by default), on that box; releasing
// one box deletes only its instance.
func TestSecondBox(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	b1, b2 := c.AddBox("b1", 0), c.AddBox("b1", 1)
	ag1, ag2 := connectBox(t, c, b1), connectBox(t, c, b2)
	ag1.AutoRun()
	ag2.AutoRun()
	r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b1.ID, b1.ClaimCode))
	first, _ := r.JSON(t)["tenant"].(map[string]any)
	if r.Code != http.StatusCreated || first == nil || first["hostId"] != b1.ID {
		t.Fatalf("first box: %d %s", r.Code, r.Body)
	}
	r = c.User(http.MethodPost, "/api/claims", "u1", claimBody(b2.ID, b2.ClaimCode))
	second, _ := r.JSON(t)["tenant"].(map[string]any)
	if r.Code != http.StatusCreated || second == nil || second["hostId"] != b2.ID || second["id"] == first["id"] {
		t.Fatalf("second box: %d %s (first instance %v)", r.Code, r.Body, first["id"])
	}
	ag2.WaitDesired("the second instance on the second box", servertest.HasTenant(second["id"].(string)))
	// A repeated claim gives the box no second instance.
	if r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b2.ID, b2.ClaimCode)); r.Code != http.StatusOK || r.JSON(t)["tenant"].(map[string]any)["id"] != second["id"] {
		t.Fatalf("repeated claim of the second box: %d %s", r.Code, r.Body)
	}
	var personal string
	for _, tm := range c.User(http.MethodGet, "/api/teams", "u1", nil).JSONList(t) {
		if tm["personal"] == true {
			personal, _ = tm["id"].(string)
		}
	}
	list := c.User(http.MethodGet, "/api/teams/"+personal+"/tenants", "u1", nil).JSONList(t)
	ids := map[any]bool{}
	for _, ten := range list {
		ids[ten["id"]] = true
	}
	if !ids[first["id"]] || !ids[second["id"]] {
		t.Fatalf("u1's personal team lists %v, want both instances %v and %v", ids, first["id"], second["id"])
	}
	if r := c.User(http.MethodGet, "/api/tenants/me", "u1", nil); r.JSON(t)["id"] != first["id"] {
		t.Fatalf("u1's own instance: %s", r.Body)
	}

	if r := c.User(http.MethodDelete, "/api/claims/"+b2.ID, "u1", nil); r.Code != http.StatusOK {
		t.Fatalf("release of the second box: %d %s", r.Code, r.Body)
	}
	ag2.WaitDesired("the second box's instance purged", func(d *proto.Desired) bool { return len(d.Tenants) == 0 })
	if r := c.User(http.MethodGet, "/api/tenants/me", "u1", nil); r.Code != http.StatusOK || r.JSON(t)["hostId"] != b1.ID {
		t.Fatalf("the first box's instance after releasing the second: %d %s", r.Code, r.Body)
	}
}

// TestReprintReachesABoxOfflineAcrossARestart: a box offline while its
// label is reprinted, and while the cloud restarts, is told the new code
// when it registers (the retained message of the reprint died with the
// broker); once claimed it is told no code any more.
func TestReprintReachesABoxOfflineAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := servertest.New(t, servertest.WithDataDir(dir), servertest.WithSharedSecret())
	b := c.AddBox("b1", 0)
	ag := connectBox(t, c, b)
	ag.WaitClaim("the box hears it is unclaimed", func(m *proto.Claim) bool { return m != nil && !m.Claimed })
	ag.Close()
	r := c.Admin(http.MethodPost, "/api/admin/boxes/"+b.ID+"/reprint", nil)
	code, _ := r.JSON(t)["claimCode"].(string)
	if r.Code != http.StatusOK || proto.ValidateClaimCode(code) != nil {
		t.Fatalf("reprint: %d %s", r.Code, r.Body)
	}
	c.Stop()
	c = servertest.New(t, servertest.WithDataDir(dir), servertest.WithSharedSecret())
	ag = connectBox(t, c, b)
	ag.WaitClaim("the box hears its reprinted code after the restart", func(m *proto.Claim) bool { return m != nil && !m.Claimed && m.ClaimCode == code })
	ag.Close()

	if r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b.ID, code)); r.Code != http.StatusCreated {
		t.Fatalf("claim with the reprinted code: %d %s", r.Code, r.Body)
	}
	c.Stop()
	c = servertest.New(t, servertest.WithDataDir(dir), servertest.WithSharedSecret())
	ag = connectBox(t, c, b)
	if m := ag.WaitClaim("the claimed box hears its owner", claimedBy("u1")); m.ClaimCode != "" {
		t.Fatalf("a claimed box was sent a claim code after a restart: %+v", m)
	}
}

// TestClaimRateLimits: wrong codes are bounded per device, per user and
// per address, and a limited attempt is refused before its code is
// compared: even the right code then. The device's limit holds only those
// who failed on it, so others' guesses never lock the owner out.
func TestClaimRateLimits(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags("--trusted-proxies", "127.0.0.1"))
	b := c.AddBox("b1", 0)
	from := func(addr, user string, body any) servertest.Response {
		h := servertest.UserHeaders(user)
		h["X-Forwarded-For"] = addr
		return c.Do(http.MethodPost, "/api/claims", h, body)
	}
	// attempts counts the attempts before the first 429 (at most max).
	attempts := func(max int, try func(i int) servertest.Response) (int, servertest.Response) {
		var r servertest.Response
		for i := 0; i < max; i++ {
			if r = try(i); r.Code == http.StatusTooManyRequests {
				return i, r
			}
		}
		return max, r
	}

	// Guesses at one device, each by another user from another address:
	// past DeviceFailures, those who failed on it wait, even with the
	// right code, and a newcomer gets one guess.
	for i := range claim.DeviceFailures {
		if r := from(fmt.Sprintf("192.0.2.%d", i+1), fmt.Sprintf("guesser-%d", i), claimBody(b.ID, creds.NewClaimCode())); r.Code != http.StatusForbidden {
			t.Fatalf("guess %d at one device: %d %s, want 403 wrong_claim_code", i, r.Code, r.Body)
		}
	}
	for _, tc := range []struct{ addr, user string }{
		{"192.0.2.1", "guesser-0"},   // both failed here
		{"192.0.2.1", "newcomer-1"},  // the address failed here
		{"192.0.2.201", "guesser-1"}, // the user failed here
	} {
		r := from(tc.addr, tc.user, claimBody(b.ID, b.ClaimCode))
		if r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "720" || r.JSON(t)["code"] != "rate_limited" {
			t.Fatalf("%s from %s, who failed on the limited device, with the right code: %d %s", tc.user, tc.addr, r.Code, r.Body)
		}
	}
	if r := from("192.0.2.202", "newcomer-2", claimBody(b.ID, creds.NewClaimCode())); r.Code != http.StatusForbidden {
		t.Fatalf("a newcomer's wrong guess at the limited device: %d %s, want 403 wrong_claim_code", r.Code, r.Body)
	}
	if r := from("192.0.2.203", "newcomer-2", claimBody(b.ID, creds.NewClaimCode())); r.Code != http.StatusTooManyRequests {
		t.Fatalf("the newcomer's second guess at the limited device: %d %s", r.Code, r.Body)
	}
	// Others' wrong codes do not keep the owner out.
	if r := from("192.0.2.200", "owner", claimBody(b.ID, b.ClaimCode)); r.Code != http.StatusOK && r.Code != http.StatusCreated {
		t.Fatalf("the owner's right code while others' guesses limit the device: %d %s", r.Code, r.Body)
	}

	// Newcomers at one device are held too, by its ceiling: then everyone
	// waits, the right code included.
	b2 := c.AddBox("b2", 1)
	n, r := attempts(2*claim.DeviceCeiling, func(i int) servertest.Response {
		return from(fmt.Sprintf("192.0.%d.%d", 3+i/250, 1+i%250), fmt.Sprintf("spreader-%d", i), claimBody(b2.ID, creds.NewClaimCode()))
	})
	if n != claim.DeviceCeiling || r.Header.Get("Retry-After") != "72" || r.JSON(t)["code"] != "rate_limited" {
		t.Fatalf("guesses at one device by newcomers: limited after %d: %d %s", n, r.Code, r.Body)
	}
	if r := from("192.0.2.250", "owner-2", claimBody(b2.ID, b2.ClaimCode)); r.Code != http.StatusTooManyRequests {
		t.Fatalf("the right code at a device past its ceiling: %d %s", r.Code, r.Body)
	}

	// One user, each guess at another device from another address.
	n, r = attempts(40, func(i int) servertest.Response {
		return from(fmt.Sprintf("198.51.100.%d", i+1), "scanner", claimBody(creds.NewDeviceID(), creds.NewClaimCode()))
	})
	if n != claim.UserFailures {
		t.Fatalf("one user's guesses: limited after %d: %d %s", n, r.Code, r.Body)
	}

	// One address, each guess by another user at another device.
	n, r = attempts(60, func(i int) servertest.Response {
		return from("203.0.113.7", fmt.Sprintf("spray-%d", i), claimBody(creds.NewDeviceID(), creds.NewClaimCode()))
	})
	if n != claim.AddressFailures {
		t.Fatalf("one address's guesses: limited after %d: %d %s", n, r.Code, r.Body)
	}
}

// TestClaimPage: the label's link opens a page in the reader's language
// with the device and its code, and no script of elsewhere.
func TestClaimPage(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	id, code := creds.NewDeviceID(), creds.NewClaimCode()
	path := creds.ClaimURL("", id, code)
	for _, tc := range []struct{ lang, want string }{{"en-US,en;q=0.9", "Claim this box"}, {"zh-CN,zh;q=0.9,en;q=0.5", "认领此盒子"}} {
		r := c.Do(http.MethodGet, path, map[string]string{"Accept-Language": tc.lang}, nil)
		body := string(r.Body)
		if r.Code != http.StatusOK || !strings.Contains(body, tc.want) || !strings.Contains(body, id) || !strings.Contains(body, code) {
			t.Fatalf("claim page (%s): %d %s", tc.lang, r.Code, body)
		}
		if strings.Contains(body, "https://") || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("claim page loads from elsewhere: %s %s", r.Header, body)
		}
	}
	if r := c.Do(http.MethodGet, "/claim?d=nope&c=1", nil, nil); r.Code != http.StatusBadRequest || !strings.Contains(string(r.Body), "scan the QR code on the box") {
		t.Fatalf("bad claim link: %d %s", r.Code, r.Body)
	}
	if r := c.Do(http.MethodGet, "/assets/claim.js", nil, nil); r.Code != http.StatusOK || !strings.Contains(string(r.Body), "/api/claims") {
		t.Fatalf("claim script: %d", r.Code)
	}
}

// TestClaimedBoxRevoked: the instance of a box taken out of service goes
// to no pool worker by itself; its owner's restart runs it elsewhere.
func TestClaimedBoxRevoked(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	worker := c.AddHost("worker-1")
	b := c.AddBox("b1", 0)
	connectBox(t, c, b)
	if r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b.ID, b.ClaimCode)); r.Code != http.StatusCreated {
		t.Fatalf("claim: %d %s", r.Code, r.Body)
	}
	if r := c.Admin(http.MethodDelete, "/api/admin/batches/b1", nil); r.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Code, r.Body)
	}
	m := c.WaitTenant("u1", "the box's instance unplaced", func(m map[string]any) bool { return m["hostId"] == "" })
	if m["status"] != "failed" || !strings.Contains(m["lastError"].(string), "taken out of service") {
		t.Fatalf("instance of a revoked box: %v", m)
	}
	if worker.DesiredCount(1) != 0 {
		t.Fatal("the box's instance went to a pool worker")
	}
	if r := c.User(http.MethodPost, "/api/claims", "u1", claimBody(b.ID, b.ClaimCode)); r.Code != http.StatusGone || r.JSON(t)["code"] != "box_gone" {
		t.Fatalf("claim of a revoked box: %d %s", r.Code, r.Body)
	}
	if r := c.User(http.MethodPost, "/api/tenants/me/restart", "u1", nil); r.Code != http.StatusAccepted || r.JSON(t)["hostId"] != worker.ID {
		t.Fatalf("the owner's restart: %d %s", r.Code, r.Body)
	}
}
