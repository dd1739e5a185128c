package docker

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// What a container's state reads as: a crash loop stays failed between
// Docker's restarts (it used to read "starting" whenever the container
// was up for a moment) and ends once a run lasts.
func TestInstanceOfCrashLoop(t *testing.T) {
	ago := func(d time.Duration) string { return time.Now().Add(-d).UTC().Format(time.RFC3339Nano) }
	tests := []struct {
		name             string
		running, restart bool
		restarts, exit   int
		startedAgo       time.Duration
		state, errHas    string
	}{
		{name: "up, never crashed", running: true, startedAgo: time.Second, state: proto.TenantStarting},
		{name: "first crashes: restarting", restart: true, restarts: 2, exit: 3, state: proto.TenantFailed, errHas: "exited with code 3; restarting (2 restarts)"},
		{name: "first crashes: up again", running: true, restarts: 2, startedAgo: time.Second, state: proto.TenantStarting},
		{name: "loop: restarting", restart: true, restarts: 7, exit: 3, state: proto.TenantFailed, errHas: "crash loop: gateway exited with code 3 (7 restarts)"},
		{name: "loop: up for a moment", running: true, restarts: 7, startedAgo: time.Second, state: proto.TenantFailed, errHas: "crash loop: the gateway keeps exiting (7 restarts)"},
		{name: "loop over: a run lasted", running: true, restarts: 7, startedAgo: 2 * loopLasted, state: proto.TenantStarting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ci := &containerInspect{RestartCount: tt.restarts}
			ci.State.Running, ci.State.Restarting, ci.State.ExitCode = tt.running || tt.restart, tt.restart, tt.exit
			if tt.running {
				ci.State.StartedAt = ago(tt.startedAgo)
			}
			in := instanceOf("ten_x", ci)
			if in.State != tt.state || !strings.Contains(in.Error, tt.errHas) {
				t.Fatalf("%s %q, want %s with %q", in.State, in.Error, tt.state, tt.errHas)
			}
			if in.State == proto.TenantFailed && tt.restarts > loopRestarts && !strings.Contains(in.Error, "restart the tenant") {
				t.Fatalf("the crash loop does not say what to do: %q", in.Error)
			}
		})
	}
}

// The stand-in made to exit at once, in a real container: it settles in
// the crash loop's failed state and stays there while Docker retries.
func TestDockerCrashLoop(t *testing.T) {
	old := loopRestarts
	loopRestarts = 2 // Docker's own backoff doubles from 100 ms: 3 restarts in about a second
	t.Cleanup(func() { loopRestarts = old })
	d := newTestDocker(t, filepath.Join(runtimetest.Dir(t), "tenants"), "STANDIN_EXIT=3")
	ctx := runtimetest.Ctx(t)
	s := runtimetest.Spec("ten_dockcrash01", runtimetest.FreeBase(t))
	s.Image = runtimetest.StandinImage
	t.Cleanup(func() { d.Purge(runtimetest.Ctx(t), s.ID) })
	if err := d.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	get := func() runtime.Instance {
		list, _ := d.List(ctx)
		in, _ := runtimetest.Find(list, s.ID)
		return in
	}
	inLoop := func(in runtime.Instance) error {
		if in.State != proto.TenantFailed || !strings.Contains(in.Error, "crash loop") || !strings.Contains(in.Error, "restart the tenant") {
			return fmt.Errorf("%+v", in)
		}
		return nil
	}
	tstest.AwaitErr(t, "the crash loop's failed state", 30*time.Second, func() error { return inLoop(get()) })
	first := get().Restarts
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if err := inLoop(get()); err != nil {
			t.Fatalf("the crash loop's state changed: %v", err)
		}
	}
	if get().Restarts <= first {
		tstest.AwaitErr(t, "Docker retrying", 30*time.Second, func() error {
			if n := get().Restarts; n <= first {
				return fmt.Errorf("%d restarts", n)
			}
			return nil
		})
	}
	logs, _ := d.Logs(ctx, s.ID, 20)
	if !strings.Contains(strings.Join(logs, "\n"), "exiting at once with code 3") {
		t.Fatalf("the gateway's logs do not show why: %q", logs)
	}
}
