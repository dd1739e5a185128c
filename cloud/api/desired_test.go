package api_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// A desired state the host never acknowledged (lost on the way) is sent
// again while the host is online, and no longer once it is acknowledged.
func TestDesiredResentUntilAcked(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags("--command-timeout", "1s"))
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	r := c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free", "name": "one"})
	if r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	d := ag.WaitDesired("desired", servertest.HasTenant(r.JSON(t)["id"].(string)))
	tstest.Await(t, "the unacknowledged desired state sent again", 5*time.Second, func() bool { return ag.DesiredCount(d.Revision) >= 2 })
	ag.Ack(d.Revision)
	c.WaitTenant("u1", "starting after the ack", func(m map[string]any) bool { return m["status"] == "starting" })
	n := ag.DesiredCount(d.Revision)
	time.Sleep(3 * time.Second) // several command timeouts
	if got := ag.DesiredCount(d.Revision); got != n {
		t.Errorf("desired state sent %d more times after it was acknowledged", got-n)
	}
}

// One tenant the protocol cannot carry (here an owner of 300 emoji, written
// by older code that had no limit) is reported failed on its own, and its
// host's other tenants still get their desired state.
func TestUnsendableTenantDoesNotBlockItsHost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := servertest.New(t, servertest.WithDataDir(dir), servertest.WithSharedSecret())
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	ids := map[string]string{}
	for _, u := range []string{"bad", "good"} {
		r := c.User(http.MethodPost, "/api/tenants", u, map[string]any{"plan": "free", "name": u})
		if r.Code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", u, r.Code, r.Body)
		}
		ids[u] = r.JSON(t)["id"].(string)
	}
	d := ag.WaitDesired("both tenants", func(d *proto.Desired) bool {
		return servertest.HasTenant(ids["bad"])(d) && servertest.HasTenant(ids["good"])(d)
	})
	ag.Ack(d.Revision)

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

	r := c.User(http.MethodPost, "/api/tenants/me/restart", "good", nil)
	if r.Code != http.StatusAccepted {
		t.Fatalf("restart: %d %s", r.Code, r.Body)
	}
	gen := r.JSON(t)["restartGen"].(float64)
	d2 := ag.WaitDesired("the good tenant's restart", func(d *proto.Desired) bool {
		for _, s := range d.Tenants {
			if s.ID == ids["good"] && float64(s.RestartGen) == gen {
				return true
			}
		}
		return false
	})
	if servertest.HasTenant(ids["bad"])(d2) {
		t.Errorf("the unsendable tenant was sent: %+v", d2)
	}
	tstest.Await(t, "the unsendable tenant marked failed with its reason", 5*time.Second, func() bool {
		m := c.Admin(http.MethodGet, "/api/admin/tenants/"+ids["bad"], nil).JSON(t)
		msg, _ := m["lastError"].(string)
		return m["status"] == "failed" && strings.Contains(msg, "cannot be sent to its host") && strings.Contains(msg, "owner")
	})
}

// The API refuses, at the edge, any user ID the protocol could not carry:
// by characters and by bytes alike.
func TestOwnerLimitAtTheEdge(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	for _, tt := range []struct {
		name, uid string
		want      int
	}{
		{"128 emoji (512 bytes)", strings.Repeat("😀", 128), http.StatusNotFound},
		{"129 ASCII", strings.Repeat("a", 129), http.StatusBadRequest},
		{"129 emoji", strings.Repeat("😀", 129), http.StatusBadRequest},
		{"C1 control", "a\u0085b", http.StatusBadRequest},
	} {
		hdr := map[string]string{"X-Shared-Secret": servertest.SharedSecret, "X-User-ID": tt.uid}
		if r := c.Do(http.MethodGet, "/api/tenants/me", hdr, nil); r.Code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, r.Code, r.Body, tt.want)
		}
	}
	r := c.Admin(http.MethodPost, "/api/admin/tenants", map[string]any{"ownerId": strings.Repeat("ü", 129), "plan": "free", "name": "x"})
	if r.Code != http.StatusBadRequest || r.JSON(t)["code"] != "invalid_user" {
		t.Errorf("admin create with a 129-character owner: %d %s", r.Code, r.Body)
	}
	// What the edge accepts, the protocol carries: 128 emoji reach the host.
	hostID, secret := c.Provision("box-1")
	ag := c.NewAgent(hostID, secret)
	owner := strings.Repeat("😀", 128)
	r = c.Do(http.MethodPost, "/api/tenants", map[string]string{"X-Shared-Secret": servertest.SharedSecret, "X-User-ID": owner}, map[string]any{"plan": "free", "name": "emoji"})
	if r.Code != http.StatusCreated {
		t.Fatalf("create for a 128-emoji owner: %d %s", r.Code, r.Body)
	}
	d := ag.WaitDesired("the 128-emoji owner's tenant on its host", servertest.HasTenant(r.JSON(t)["id"].(string)))
	if d.Tenants[0].Owner != owner {
		t.Errorf("owner on the host = %q", d.Tenants[0].Owner)
	}
}
