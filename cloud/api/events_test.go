package api_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// eventStream opens GET /api/tenants/events as the web app's user uid and
// returns its events ("name data") as they come, after "ready".
func eventStream(t *testing.T, c *servertest.Cloud, uid string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/api/tenants/events", nil)
	for k, v := range servertest.UserHeaders(uid) {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan string, 64)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				out <- name + " " + strings.TrimPrefix(line, "data: ")
			}
		}
		close(out)
	}()
	if ev := <-out; ev != "ready {}" {
		t.Fatalf("first event = %q", ev)
	}
	return out
}

// nextEvent waits for the next event matching want.
func nextEvent(t *testing.T, evs <-chan string, want string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-evs:
			if strings.Contains(ev, want) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event with %q", want)
		}
	}
}

// TestTenantEvents: a user's stream carries its own tenant's changes
// (created, starting, running, deleted) and never another user's; the
// streams one user holds are bounded.
func TestTenantEvents(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags("--max-streams-per-user", "2"))
	ag := c.AddHost("events-host")
	mine := eventStream(t, c, "ev-alice")
	other := eventStream(t, c, "ev-bob")

	r := c.User(http.MethodPost, "/api/tenants", "ev-alice", map[string]any{"plan": "free", "name": "Alice events"})
	if r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	id := r.JSON(t)["id"].(string)
	ev := nextEvent(t, mine, id)
	if !strings.HasPrefix(ev, "tenant ") || !strings.Contains(ev, `"status":"pending"`) || !strings.Contains(ev, `"hostKind":"worker"`) {
		t.Errorf("creation event = %q", ev)
	}
	d := ag.WaitDesired("alice's tenant", servertest.HasTenant(id))
	ag.Ack(d.Revision)
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantStarting}})
	nextEvent(t, mine, `"status":"starting"`)
	ag.Report([]proto.TenantStatus{{ID: id, State: proto.TenantRunning}})
	nextEvent(t, mine, `"status":"running"`)
	if r := c.User(http.MethodDelete, "/api/tenants/me", "ev-alice", nil); r.Code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", r.Code, r.Body)
	}
	if ev := nextEvent(t, mine, "deleted"); ev != `deleted {"id":"`+id+`"}` {
		t.Errorf("deletion event = %q", ev)
	}
	select {
	case ev := <-other:
		t.Errorf("another user saw alice's tenant: %q", ev)
	default:
	}

	// At most 2 streams a user (--max-streams-per-user): alice holds 1.
	eventStream(t, c, "ev-alice")
	r = c.User(http.MethodGet, "/api/tenants/events", "ev-alice", nil)
	if r.Code != http.StatusTooManyRequests || r.JSON(t)["code"] != "too_many_streams" || !strings.Contains(string(r.Body), "status streams") {
		t.Fatalf("third stream: %d %s", r.Code, r.Body)
	}
	// The plans, with their limits, for any user.
	if r := c.User(http.MethodGet, "/api/plans", "ev-alice", nil); r.Code != http.StatusOK || !strings.Contains(string(r.Body), `"name":"free"`) {
		t.Fatalf("plans: %d %s", r.Code, r.Body)
	}
}
