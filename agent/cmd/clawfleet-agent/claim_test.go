package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/pairing"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// startAgent runs the agent (process runtime, /bin/true as OpenClaw, the
// local page on a free port) on dir until ctx ends; done gets run's error.
func startAgent(ctx context.Context, dir string) (log *tstest.Buffer, done chan error) {
	log, done = &tstest.Buffer{}, make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"run", "--heartbeat", "1s", "--runtime", "process", "--openclaw-bin", "/bin/true", "--local-page", "127.0.0.1:0"}, io.Discard, log, func(k string) string {
			return map[string]string{"CLAWFLEET_STATE_DIR": dir, "CLAWFLEET_LOG_LEVEL": "debug"}[k]
		})
	}()
	return log, done
}

// localPage is the state the running agent's local page serves, once its
// log names the page's address.
func localPage(t *testing.T, log *tstest.Buffer) pairing.State {
	t.Helper()
	var st pairing.State
	tstest.Await(t, "the local page", 10*time.Second, func() bool {
		m := regexp.MustCompile(`local page listening.*addr=(\S+)`).FindStringSubmatch(log.String())
		if m == nil {
			return false
		}
		resp, err := http.Get("http://" + m[1] + "/api/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return json.Unmarshal(b, &st) == nil
	})
	return st
}

// TestBoxClaimAndFactoryReset runs the real agent (process runtime) as a
// factory box against a whole in-process cloud: unclaimed, it says so in
// its heartbeats and shows its code; claimed through the API, it hears it
// and runs its owner's instance; a reprint reaches its local page; a
// factory reset asked for on the box (the factory-reset command, as a
// button runs it) wipes the instance's data and the cloud forgets the
// owner, so the box is unclaimed on both sides.
func TestBoxClaimAndFactoryReset(t *testing.T) {
	c := servertest.New(t, servertest.WithSharedSecret())
	b := c.AddBox("b1", 0)
	dir := runtimetest.Dir(t)
	cr := &creds.Credentials{DeviceID: b.ID, Secret: b.Secret, MQTTURL: "tcp://" + c.App.MQTTAddr().String(), CloudURL: c.URL, ClaimCode: b.ClaimCode}
	if err := creds.Save(filepath.Join(dir, creds.FileName), cr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr, done := startAgent(ctx, dir)
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop")
		}
	}()
	box := func() map[string]any { return c.Admin(http.MethodGet, "/api/admin/boxes/"+b.ID, nil).JSON(t) }
	tstest.Await(t, "the box online, reporting unclaimed", 15*time.Second, func() bool {
		m := box()
		return m["status"] == "online" && m["claimState"] == "unclaimed"
	})
	if st := localPage(t, stderr); st.Claim.Claimed || st.Claim.Code != b.ClaimCode {
		t.Fatalf("unclaimed box's page: %+v", st.Claim)
	}

	r := c.User(http.MethodPost, "/api/claims", "u1", map[string]any{"deviceId": b.ID, "claimCode": b.ClaimCode})
	if r.Code != http.StatusCreated {
		t.Fatalf("claim: %d %s", r.Code, r.Body)
	}
	tenantID := r.JSON(t)["tenant"].(map[string]any)["id"].(string)
	tstest.Await(t, "the box reporting claimed", 10*time.Second, func() bool { return box()["claimState"] == "claimed" })
	tstest.Await(t, "the local page says claimed", 10*time.Second, func() bool { return localPage(t, stderr).Claim.Claimed })
	tenantDir := filepath.Join(dir, "tenants", tenantID)
	tstest.Await(t, "the owner's instance on the box", 15*time.Second, func() bool {
		_, err := os.Stat(tenantDir)
		return err == nil
	})

	// A reprint: the box shows the new code and keeps it.
	r = c.Admin(http.MethodPost, "/api/admin/boxes/"+b.ID+"/reprint", nil)
	code, _ := r.JSON(t)["claimCode"].(string)
	if r.Code != http.StatusOK || code == "" {
		t.Fatalf("reprint: %d %s", r.Code, r.Body)
	}
	tstest.Await(t, "the reprinted code on the local page", 10*time.Second, func() bool { return localPage(t, stderr).Claim.Code == code })
	if raw, err := os.ReadFile(filepath.Join(dir, claimCodeFile)); err != nil || strings.TrimSpace(string(raw)) != code {
		t.Fatalf("reprinted code not kept: %q %v", raw, err)
	}

	// The reset button.
	if res := invoke(ctx, nil, "factory-reset", "--state-dir", dir); res.err != nil || !strings.Contains(res.stdout, "Factory reset requested") {
		t.Fatalf("factory-reset: %v %s %s", res.err, res.stdout, res.stderr)
	}
	tstest.Await(t, "the cloud forgets the owner", 15*time.Second, func() bool { return box()["claimed"] == false })
	tstest.Await(t, "the instance's data wiped", 10*time.Second, func() bool {
		_, err := os.Stat(tenantDir)
		return errors.Is(err, os.ErrNotExist)
	})
	tstest.Await(t, "the box unclaimed on both sides", 10*time.Second, func() bool {
		_, pending := os.Stat(filepath.Join(dir, resetPendingFile))
		_, asked := os.Stat(filepath.Join(dir, ResetFile))
		return errors.Is(pending, os.ErrNotExist) && errors.Is(asked, os.ErrNotExist) && box()["claimState"] == "unclaimed"
	})
	if r := c.User(http.MethodGet, "/api/tenants/me", "u1", nil); r.Code != http.StatusNotFound {
		t.Fatalf("the owner's instance after the reset: %d %s", r.Code, r.Body)
	}
	if st := localPage(t, stderr); st.Claim.Claimed || st.Claim.Code != code {
		t.Fatalf("page after the reset: %+v", st.Claim)
	}
	// The label claims it again.
	if r := c.User(http.MethodPost, "/api/claims", "u2", map[string]any{"deviceId": b.ID, "claimCode": code}); r.Code != http.StatusCreated {
		t.Fatalf("claim after the reset: %d %s", r.Code, r.Body)
	}
	tstest.Await(t, "claimed again", 10*time.Second, func() bool { return box()["claimState"] == "claimed" })
}
