package api_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// desiredCount counts the desired states the agent received with revision rev.
func (f *fakeAgent) desiredCount(rev int64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, d := range f.desired {
		if d.Revision == rev {
			n++
		}
	}
	return n
}

// A desired state the host never acknowledged (lost on the way) is sent
// again while the host is online, and no longer once it is acknowledged.
func TestDesiredResentUntilAcked(t *testing.T) {
	t.Parallel()
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret, "--command-timeout", "1s")
	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)
	r := c.user(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free", "name": "one"})
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	d := ag.waitDesired("desired", hasTenant(r.json(t)["id"].(string)))
	tstest.Await(t, "the unacknowledged desired state sent again", 5*time.Second, func() bool { return ag.desiredCount(d.Revision) >= 2 })
	ag.ack(d.Revision)
	c.waitTenant("u1", "starting after the ack", func(m map[string]any) bool { return m["status"] == "starting" })
	n := ag.desiredCount(d.Revision)
	time.Sleep(3 * time.Second) // several command timeouts
	if got := ag.desiredCount(d.Revision); got != n {
		t.Errorf("desired state sent %d more times after it was acknowledged", got-n)
	}
}

// One tenant the protocol cannot carry (here an owner of 300 emoji, written
// by older code that had no limit) is reported failed on its own, and its
// host's other tenants still get their desired state.
func TestUnsendableTenantDoesNotBlockItsHost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startTenantCloud(t, dir, "--shared-secret", tenantSecret)
	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)
	ids := map[string]string{}
	for _, u := range []string{"bad", "good"} {
		r := c.user(http.MethodPost, "/api/tenants", u, map[string]any{"plan": "free", "name": u})
		if r.code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", u, r.code, r.body)
		}
		ids[u] = r.json(t)["id"].(string)
	}
	d := ag.waitDesired("both tenants", func(d *proto.Desired) bool { return hasTenant(ids["bad"])(d) && hasTenant(ids["good"])(d) })
	ag.ack(d.Revision)

	db, err := gorm.Open(sqlite.Open("file:"+filepath.Join(dir, "clawfleet.db")+"?_pragma=busy_timeout(10000)"), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	longOwner := strings.Repeat("😀", 300)
	if err := db.Exec("UPDATE tenants SET owner_id = ? WHERE id = ?", longOwner, ids["bad"]).Error; err != nil {
		t.Fatal(err)
	}

	r := c.user(http.MethodPost, "/api/tenants/me/restart", "good", nil)
	if r.code != http.StatusAccepted {
		t.Fatalf("restart: %d %s", r.code, r.body)
	}
	gen := r.json(t)["restartGen"].(float64)
	d2 := ag.waitDesired("the good tenant's restart", func(d *proto.Desired) bool {
		for _, s := range d.Tenants {
			if s.ID == ids["good"] && float64(s.RestartGen) == gen {
				return true
			}
		}
		return false
	})
	if hasTenant(ids["bad"])(d2) {
		t.Errorf("the unsendable tenant was sent: %+v", d2)
	}
	tstest.Await(t, "the unsendable tenant marked failed with its reason", 5*time.Second, func() bool {
		m := c.admin(http.MethodGet, "/api/admin/tenants/"+ids["bad"], nil).json(t)
		msg, _ := m["lastError"].(string)
		return m["status"] == "failed" && strings.Contains(msg, "cannot be sent to its host") && strings.Contains(msg, "owner")
	})
}

// The API refuses, at the edge, any user ID the protocol could not carry:
// by characters and by bytes alike.
func TestOwnerLimitAtTheEdge(t *testing.T) {
	t.Parallel()
	c := startTenantCloud(t, t.TempDir(), "--shared-secret", tenantSecret)
	for _, tt := range []struct {
		name, uid string
		want      int
	}{
		{"128 emoji (512 bytes)", strings.Repeat("😀", 128), http.StatusNotFound},
		{"129 ASCII", strings.Repeat("a", 129), http.StatusBadRequest},
		{"129 emoji", strings.Repeat("😀", 129), http.StatusBadRequest},
		{"C1 control", "a\u0085b", http.StatusBadRequest},
	} {
		hdr := map[string]string{"X-Shared-Secret": tenantSecret, "X-User-ID": tt.uid}
		if r := c.do(http.MethodGet, "/api/tenants/me", hdr, nil); r.code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, r.code, r.body, tt.want)
		}
	}
	r := c.admin(http.MethodPost, "/api/admin/tenants", map[string]any{"ownerId": strings.Repeat("ü", 129), "plan": "free", "name": "x"})
	if r.code != http.StatusBadRequest || r.json(t)["code"] != "invalid_user" {
		t.Errorf("admin create with a 129-character owner: %d %s", r.code, r.body)
	}
	// What the edge accepts, the protocol carries: 128 emoji reach the host.
	hostID, secret := c.provision("box-1")
	ag := newFakeAgent(t, c, hostID, secret)
	owner := strings.Repeat("😀", 128)
	r = c.do(http.MethodPost, "/api/tenants", map[string]string{"X-Shared-Secret": tenantSecret, "X-User-ID": owner}, map[string]any{"plan": "free", "name": "emoji"})
	if r.code != http.StatusCreated {
		t.Fatalf("create for a 128-emoji owner: %d %s", r.code, r.body)
	}
	d := ag.waitDesired("the 128-emoji owner's tenant on its host", hasTenant(r.json(t)["id"].(string)))
	if d.Tenants[0].Owner != owner {
		t.Errorf("owner on the host = %q", d.Tenants[0].Owner)
	}
}
