// Package reconcile makes a host run what the cloud wants, like a kubelet:
// it takes the retained desired state (down/desired), converges the runtime
// to it after every change, reconnect and restart, probes readiness, and
// reports each tenant's real status (up/event). It also answers commands
// (down/cmd) such as log requests.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Publisher sends a message on one of the device's up/ topics; the agent's
// link implements it.
type Publisher interface {
	Publish(ctx context.Context, kind string, qos byte, payload []byte) error
}

// Prober tells whether a tenant's gateway, running as in, is ready.
type Prober func(ctx context.Context, spec proto.TenantSpec, in runtime.Instance) bool

// Options configure a Reconciler.
type Options struct {
	Runtime   runtime.Runtime
	Publisher Publisher
	// StateDir keeps the last desired state (desired.json), so tenants are
	// restarted after an agent restart even before the cloud is reachable.
	StateDir string
	// Interval between convergence passes (default 3 s); ReportEvery is
	// the longest time between two reports (default 30 s).
	Interval, ReportEvery time.Duration
	// Probe checks readiness (default: HTTPProbe).
	Probe Prober
	// OnDesired, when set, sees every accepted desired state (also the one
	// loaded from disk at start), e.g. to open the tenants' ports on the
	// tunnel. It must not block.
	OnDesired func(*proto.Desired)
	Logger    *slog.Logger
}

// Reconciler converges one host's tenants.
type Reconciler struct {
	opts Options
	log  *slog.Logger
	wake chan struct{}

	// passMu serialises convergence passes with Wipe.
	passMu sync.Mutex

	mu        sync.Mutex
	held      bool   // a factory reset waits for the cloud: desired states wait
	deferred  []byte // the newest desired state received while held
	desired   *proto.Desired
	upstreams map[int]string // port → upstream of the desired tenants' instances
	statuses  map[string]proto.TenantStatus
	purged    []string
	reported  time.Time
	dirty     bool
	// A gateway started in a pass is watched on its own until it answers
	// (watchStart), and reported running then, not when the pass's slowest
	// start is done: readyAt holds those readings (kept by the pass that
	// ends after them), watching the watched, early the readings not yet
	// sent, flushed by earlyTimer.
	readyAt    map[string]readiness
	watching   map[string]bool
	watchSem   chan struct{}
	early      map[string]earlyReading
	earlyTimer *time.Timer
}

// earlyReading is a watcher's reading not yet reported: the spec it was
// watched for, and the status to send.
type earlyReading struct {
	spec   proto.TenantSpec
	status proto.TenantStatus
}

// readiness is a watcher's reading: the gateway of restart generation gen
// answered at at.
type readiness struct {
	gen int64
	at  time.Time
}

// New returns a Reconciler; call Run, and route down/desired to
// HandleDesired and down/cmd to HandleCommand.
func New(o Options) *Reconciler {
	if o.Interval == 0 {
		o.Interval = 3 * time.Second
	}
	if o.ReportEvery == 0 {
		o.ReportEvery = 30 * time.Second
	}
	if o.Probe == nil {
		o.Probe = HTTPProbe
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Reconciler{opts: o, log: o.Logger.With("component", "reconcile"), wake: make(chan struct{}, 1), statuses: map[string]proto.TenantStatus{},
		readyAt: map[string]readiness{}, watching: map[string]bool{}, early: map[string]earlyReading{}, watchSem: make(chan struct{}, ensureParallel)}
	if d, err := r.loadDesired(); err == nil {
		r.desired = d
		if o.OnDesired != nil {
			o.OnDesired(d)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		r.log.Warn("ignoring saved desired state", "err", err)
	}
	return r
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// HTTPProbe asks the gateway's /readyz at the instance's upstream
// (runtime.UpstreamOf), i.e. from the gateway's trusted proxy address. In
// trusted-proxy mode it names runtime.ProbeForwardedFor as the client:
// OpenClaw answers 403 to its trusted proxy without a non-loopback
// X-Forwarded-For. It sends no user header.
func HTTPProbe(ctx context.Context, spec proto.TenantSpec, in runtime.Instance) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+runtime.UpstreamOf(in)+"/readyz", nil)
	if err != nil {
		return false
	}
	if spec.AuthMode() == proto.GatewayAuthTrustedProxy {
		req.Header.Set("X-Forwarded-For", runtime.ProbeForwardedFor)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (r *Reconciler) desiredPath() string { return filepath.Join(r.opts.StateDir, "desired.json") }

func (r *Reconciler) loadDesired() (*proto.Desired, error) {
	if r.opts.StateDir == "" {
		return nil, os.ErrNotExist
	}
	b, err := os.ReadFile(r.desiredPath())
	if err != nil {
		return nil, err
	}
	return proto.DecodeDesired(b)
}

func (r *Reconciler) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// HandleDesired takes a new desired state: validate, keep (also on disk),
// acknowledge, converge.
func (r *Reconciler) HandleDesired(ctx context.Context, payload []byte) {
	if len(payload) == 0 {
		return // a cleared retained message
	}
	r.mu.Lock()
	if r.held {
		r.deferred = append([]byte(nil), payload...)
		r.mu.Unlock()
		r.log.Info("desired state set aside until the cloud has the factory reset")
		return
	}
	r.mu.Unlock()
	d, err := proto.DecodeDesired(payload)
	if err != nil {
		r.log.Warn("desired state refused", "err", err)
		var rev struct {
			Revision int64 `json:"revision"`
		}
		if json.Unmarshal(payload, &rev) == nil && rev.Revision > 0 {
			r.reply(ctx, proto.Reply{ID: proto.DesiredReplyID(rev.Revision), OK: false, Error: err.Error()})
		}
		return
	}
	r.mu.Lock()
	old := r.desired
	if old != nil && d.Revision < old.Revision {
		r.mu.Unlock()
		r.log.Warn("older desired state ignored", "revision", d.Revision, "have", old.Revision)
		r.reply(ctx, proto.Reply{ID: proto.DesiredReplyID(d.Revision), OK: true})
		return
	}
	r.desired = d
	r.dirty = true
	r.mu.Unlock()
	if r.opts.StateDir != "" {
		if err := atomicfile.WriteFile(r.desiredPath(), payload, 0o600); err != nil {
			r.log.Warn("could not save desired state", "err", err)
		}
	}
	r.log.Info("desired state received", "revision", d.Revision, "tenants", len(d.Tenants), "purge", len(d.Purge))
	if r.opts.OnDesired != nil {
		r.opts.OnDesired(d)
	}
	r.reply(ctx, proto.Reply{ID: proto.DesiredReplyID(d.Revision), OK: true})
	r.poke()
}

// Hold sets desired states aside (held) or applies the newest one set
// aside (released): a box reset on the box itself runs none of its former
// owner's tenants until the cloud has heard of the reset.
func (r *Reconciler) Hold(ctx context.Context, held bool) {
	r.mu.Lock()
	r.held = held
	d := r.deferred
	if !held {
		r.deferred = nil
	}
	r.mu.Unlock()
	if !held && d != nil {
		r.HandleDesired(ctx, d)
	}
}

// Wipe is a factory reset's part here: every tenant instance is removed and
// its data purged, with those of every tenant the desired state named, and
// the desired state is forgotten (also on disk) but for its revision and
// purge list, so the next one the cloud sends is taken.
func (r *Reconciler) Wipe(ctx context.Context) error {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	r.mu.Lock()
	ids := map[string]bool{}
	var rev int64
	var purge []string
	if d := r.desired; d != nil {
		rev, purge = d.Revision, d.Purge
		for _, s := range d.Tenants {
			ids[s.ID] = true
		}
		for _, id := range d.Purge {
			ids[id] = true
		}
	}
	// The purge list stays, so the next report tells the cloud they are
	// purged (it keeps asking until then).
	r.desired = &proto.Desired{Revision: rev, Purge: purge}
	r.statuses = map[string]proto.TenantStatus{}
	r.upstreams = nil
	r.dirty = true
	r.mu.Unlock()
	if r.opts.StateDir != "" {
		if err := os.Remove(r.desiredPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("forget the desired state: %w", err)
		}
	}
	if r.opts.OnDesired != nil {
		r.opts.OnDesired(&proto.Desired{Revision: rev})
	}
	rt := r.opts.Runtime
	insts, err := rt.List(ctx)
	if err != nil {
		return fmt.Errorf("list tenant instances: %w", err)
	}
	for _, in := range insts {
		ids[in.TenantID] = true
	}
	var errs []error
	for id := range ids {
		if err := rt.Remove(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", id, err))
			continue
		}
		if err := rt.Purge(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("purge %s: %w", id, err))
		}
	}
	r.log.Info("tenants wiped", "tenants", len(ids), "errors", len(errs))
	r.poke()
	return errors.Join(errs...)
}

// HandleCommand answers one command.
func (r *Reconciler) HandleCommand(ctx context.Context, payload []byte) {
	c, err := proto.DecodeCommand(payload)
	if err != nil {
		r.log.Warn("command refused", "err", err)
		var id struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(payload, &id) == nil && id.ID != "" && len(id.ID) <= 64 {
			r.reply(ctx, proto.Reply{ID: id.ID, Error: err.Error()})
		}
		return
	}
	switch c.Op {
	case proto.OpLogs:
		tail := c.Tail
		if tail == 0 {
			tail = 200
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		lines, err := r.opts.Runtime.Logs(lctx, c.TenantID, tail)
		cancel()
		if err != nil {
			r.reply(ctx, proto.Reply{ID: c.ID, Error: err.Error()})
			return
		}
		r.reply(ctx, proto.Reply{ID: c.ID, OK: true, Lines: boundLines(lines)})
	case proto.OpInspectContainer:
		r.reply(ctx, r.inspectContainer(ctx, c))
	case proto.OpListContainers:
		r.reply(ctx, r.listContainers(ctx, c))
	}
}

// noDocker refuses an adoption command on a runtime that cannot adopt.
func (r *Reconciler) noDocker(c *proto.Command) proto.Reply {
	return proto.Reply{ID: c.ID, Code: proto.AdoptNoDocker,
		Error: fmt.Sprintf("this host runs gateways with the %q runtime; only the docker runtime adopts containers", r.opts.Runtime.Name())}
}

// listContainers answers OpListContainers: the OpenClaw containers there
// are to adopt, as many as fit in a reply.
func (r *Reconciler) listContainers(ctx context.Context, c *proto.Command) proto.Reply {
	a, ok := r.opts.Runtime.(runtime.Adopter)
	if !ok {
		return r.noDocker(c)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cs, left, err := a.Candidates(lctx)
	if err != nil {
		r.log.Warn("listing containers to adopt", "err", err)
		return proto.Reply{ID: c.ID, Error: "listing the Docker engine's containers: " + err.Error()}
	}
	rep := proto.Reply{ID: c.ID, OK: true, Containers: cs, ContainersLeftOut: left}
	boundContainers(&rep)
	return rep
}

// boundContainers keeps a listing within the protocol's bounds: the first
// that fit, the rest counted in ContainersLeftOut.
func boundContainers(rep *proto.Reply) {
	if n := len(rep.Containers) - proto.MaxContainers; n > 0 {
		rep.Containers, rep.ContainersLeftOut = rep.Containers[:proto.MaxContainers], rep.ContainersLeftOut+n
	}
	for len(rep.Containers) > 0 && len(proto.MustEncode(rep)) > proto.MaxPayload-1024 {
		rep.Containers = rep.Containers[:len(rep.Containers)-1]
		rep.ContainersLeftOut++
	}
}

// inspectContainer answers OpInspectContainer: what the runtime finds of
// an existing container to adopt, or why it cannot be adopted.
func (r *Reconciler) inspectContainer(ctx context.Context, c *proto.Command) proto.Reply {
	a, ok := r.opts.Runtime.(runtime.Adopter)
	if !ok {
		return r.noDocker(c)
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := a.Inspect(ictx, c.Container)
	if err != nil {
		var coded interface{ AdoptCode() string }
		code := ""
		if errors.As(err, &coded) {
			code = coded.AdoptCode()
		}
		r.log.Info("container not adoptable", "container", c.Container, "code", code, "err", err)
		return proto.Reply{ID: c.ID, Code: code, Error: err.Error()}
	}
	r.log.Info("container inspected for adoption", "container", info.Name, "id", info.ID[:12], "port", info.Port, "image", info.Image)
	return proto.Reply{ID: c.ID, OK: true, Container: info}
}

// boundLines keeps the newest lines within MaxLogLines and MaxLogBytes.
func boundLines(lines []string) []string {
	if len(lines) > proto.MaxLogLines {
		lines = lines[len(lines)-proto.MaxLogLines:]
	}
	total := 0
	for i := len(lines) - 1; i >= 0; i-- {
		total += len(lines[i]) + 8
		if total > proto.MaxLogBytes {
			return lines[i+1:]
		}
	}
	return lines
}

func (r *Reconciler) reply(ctx context.Context, rep proto.Reply) {
	if err := r.opts.Publisher.Publish(ctx, proto.KindReply, 1, proto.MustEncode(&rep)); err != nil {
		r.log.Warn("reply not sent", "id", rep.ID, "err", err)
	}
}

// ensureParallel bounds concurrent Ensure calls (and probes) in one pass:
// one more than the machine's cores. Starting a gateway is mostly forks
// and kernel work (namespaces, mkfs, mounts), so more at once only share
// the cores: a burst of 20 on 2 cores, in interleaved runs, had half of
// them running after 1.18–1.24 s 8 at a time and 1.05–1.11 s 3 at a time
// (docs/benchmarks.md).
var ensureParallel = min(max(goruntime.NumCPU()+1, 2), 8)

// startingProbe is how often a gateway that is starting is probed, so it is
// reported running moments after it is ready rather than a whole Interval.
const startingProbe = 100 * time.Millisecond

// Run converges until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.wake:
		}
		next := r.opts.Interval
		if r.pass(ctx) {
			next = min(next, startingProbe)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// pass is one convergence round. It reports whether a tenant is still
// starting (so the next pass should come soon).
func (r *Reconciler) pass(ctx context.Context) (starting bool) {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	r.mu.Lock()
	d := r.desired
	r.mu.Unlock()
	if d == nil {
		return false // nothing known yet: touch nothing
	}
	rt := r.opts.Runtime
	passStart := time.Now()
	want := map[string]proto.TenantSpec{}
	for _, s := range d.Tenants {
		want[s.ID] = s
	}
	// Ensure tenants concurrently (bounded): creating a container or
	// starting a process takes a while, and 20 tenants created at once
	// should not wait for each other.
	errs := map[string]string{}
	var errMu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, ensureParallel)
	for _, s := range d.Tenants {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := rt.Ensure(ctx, s)
			if err == nil {
				r.watchStart(ctx, s)
				return
			}
			r.mu.Lock()
			seen := r.statuses[s.ID].Error == err.Error()
			r.mu.Unlock()
			if !seen { // log each new error once, not every pass
				r.log.Warn("tenant not converged", "tenant", s.ID, "err", err)
			}
			errMu.Lock()
			errs[s.ID] = err.Error()
			errMu.Unlock()
		}()
	}
	wg.Wait()
	insts, err := rt.List(ctx)
	if err != nil {
		r.log.Warn("listing tenant instances failed", "err", err)
		return false
	}
	have := map[string]runtime.Instance{}
	for _, in := range insts {
		if _, ok := want[in.TenantID]; !ok {
			r.log.Info("removing tenant no longer desired", "tenant", in.TenantID)
			if err := rt.Remove(ctx, in.TenantID); err != nil {
				r.log.Warn("remove failed", "tenant", in.TenantID, "err", err)
			}
			continue
		}
		have[in.TenantID] = in
	}
	var purged []string
	for _, id := range d.Purge {
		if err := rt.Purge(ctx, id); err != nil {
			r.log.Warn("purge failed", "tenant", id, "err", err)
			continue
		}
		purged = append(purged, id)
	}

	// Readiness probes run concurrently too: a gateway that accepts but
	// answers slowly would otherwise hold up every other tenant's status
	// for up to the probe's timeout.
	ready := map[string]bool{}
	var readyMu sync.Mutex
	for _, s := range d.Tenants {
		in, ok := have[s.ID]
		if !ok || errs[s.ID] != "" || in.State == proto.TenantFailed || s.State == proto.TenantStopped ||
			in.State == proto.TenantStopped || in.RestartGen != s.RestartGen {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok := r.opts.Probe(ctx, s, in)
			readyMu.Lock()
			ready[s.ID] = ok
			readyMu.Unlock()
		}()
	}
	wg.Wait()
	statuses := map[string]proto.TenantStatus{}
	for _, s := range d.Tenants {
		in, ok := have[s.ID]
		st := proto.TenantStatus{ID: s.ID, State: proto.TenantStarting, Restarts: in.Restarts, RestartGen: in.RestartGen, StartedAt: in.StartedAtMs,
			DiskUsedBytes: in.DiskUsedBytes, DiskTotalBytes: in.DiskTotalBytes, Usage: in.Usage}
		switch {
		case errs[s.ID] != "":
			st.State, st.Error = proto.TenantFailed, errs[s.ID]
		case !ok:
			st.State, st.Error = proto.TenantFailed, "instance missing after ensure"
		case in.State == proto.TenantFailed:
			st.State, st.Error = proto.TenantFailed, in.Error
		case s.State == proto.TenantStopped || in.State == proto.TenantStopped:
			st.State = proto.TenantStopped
		case in.RestartGen == s.RestartGen && ready[s.ID]:
			st.State = proto.TenantRunning
		}
		statuses[s.ID] = st
		starting = starting || st.State == proto.TenantStarting
	}

	upstreams := map[int]string{}
	for _, s := range d.Tenants {
		if in, ok := have[s.ID]; ok && in.Port == s.Port {
			upstreams[s.Port] = runtime.UpstreamOf(in)
		}
	}
	r.mu.Lock()
	for id, st := range statuses {
		// A watcher saw it answer after this pass began: as fresh as the
		// pass's own probe, which may have come before the gateway was up.
		if ra, ok := r.readyAt[id]; ok && st.State == proto.TenantStarting && ra.gen == st.RestartGen && ra.at.After(passStart) {
			st.State = proto.TenantRunning
			statuses[id] = st
		}
	}
	for id, ra := range r.readyAt {
		if !ra.at.After(passStart) {
			delete(r.readyAt, id) // this pass's probe has the last word
		}
	}
	r.upstreams = upstreams
	changed := r.dirty || !sameStatuses(r.statuses, statuses) || !slices.Equal(r.purged, purged)
	due := changed || time.Since(r.reported) >= r.opts.ReportEvery
	r.statuses, r.purged = statuses, purged
	r.mu.Unlock()
	if due {
		r.report(ctx, d.Revision, statuses, purged)
	}
	return starting
}

func sameStatuses(a, b map[string]proto.TenantStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok || x.State != y.State || x.Error != y.Error || x.Restarts != y.Restarts || x.RestartGen != y.RestartGen {
			return false
		}
	}
	return true
}

func (r *Reconciler) report(ctx context.Context, rev int64, statuses map[string]proto.TenantStatus, purged []string) {
	if err := r.publishReport(ctx, rev, statuses, purged); err != nil {
		// Not connected: the next pass reports again.
		r.log.Debug("tenant report not sent", "err", err)
		return
	}
	r.mu.Lock()
	r.reported = time.Now()
	r.dirty = false
	r.mu.Unlock()
	r.log.Debug("tenant report sent", "revision", rev, "tenants", len(statuses))
}

// publishReport sends statuses (all of the host's tenants, or, from
// watchers, those that changed: the cloud updates the tenants a report
// names).
func (r *Reconciler) publishReport(ctx context.Context, rev int64, statuses map[string]proto.TenantStatus, purged []string) error {
	rep := proto.TenantReport{Type: proto.EventTenants, Revision: rev, Runtime: r.opts.Runtime.Name(), Purged: purged}
	for _, st := range statuses {
		rep.Tenants = append(rep.Tenants, st)
	}
	slices.SortFunc(rep.Tenants, func(a, b proto.TenantStatus) int { return strings.Compare(a.ID, b.ID) })
	return r.opts.Publisher.Publish(ctx, proto.KindEvent, 1, proto.MustEncode(&rep))
}

// Watching a start: how long a watcher waits for a gateway at most (the
// passes go on probing after), how often it asks (at first, then half as
// often again each time up to watchEveryMax: a real OpenClaw takes 20 s,
// and each look asks the runtime, e.g. dockerd), and how long readings are
// gathered into one report.
const (
	watchFor      = 30 * time.Second
	watchEvery    = 20 * time.Millisecond
	watchEveryMax = 500 * time.Millisecond
	earlyGather   = 10 * time.Millisecond
)

// watchStart follows a gateway that Ensure has (re)started until it
// answers its probe, then reports it running at once, with its upstream
// in place for the tunnel, instead of at the end of the pass, which waits
// for every tenant it starts. Runtimes that can look one instance up
// (runtime.InstanceGetter) are watched; a tenant reported running already
// is not.
func (r *Reconciler) watchStart(ctx context.Context, s proto.TenantSpec) {
	g, ok := r.opts.Runtime.(runtime.InstanceGetter)
	if !ok || s.State != proto.TenantRunning {
		return
	}
	r.mu.Lock()
	if st, ok := r.statuses[s.ID]; (ok && st.State == proto.TenantRunning && st.RestartGen == s.RestartGen) || r.watching[s.ID] {
		r.mu.Unlock()
		return
	}
	r.watching[s.ID] = true
	r.mu.Unlock()
	go func() {
		defer func() {
			r.mu.Lock()
			delete(r.watching, s.ID)
			r.mu.Unlock()
		}()
		every := watchEvery
		for deadline := time.Now().Add(watchFor); time.Now().Before(deadline); every = min(every*3/2, watchEveryMax) {
			// As many looks at once as Ensures: after an agent restart
			// every tenant is watched.
			select {
			case r.watchSem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			in, ok := g.Instance(ctx, s.ID)
			gone := !ok || in.State == proto.TenantFailed || in.State == proto.TenantStopped || in.RestartGen != s.RestartGen || in.Port != s.Port
			up := !gone && r.opts.Probe(ctx, s, in)
			<-r.watchSem
			if gone {
				return // the passes report what became of it
			}
			if up {
				r.ready(ctx, s, in)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
}

// ready records a watcher's reading and sends it within earlyGather, with
// the others that come meanwhile.
func (r *Reconciler) ready(ctx context.Context, s proto.TenantSpec, in runtime.Instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stillWanted(s) {
		return
	}
	st := proto.TenantStatus{ID: s.ID, State: proto.TenantRunning, Restarts: in.Restarts, RestartGen: in.RestartGen, StartedAt: in.StartedAtMs,
		DiskUsedBytes: in.DiskUsedBytes, DiskTotalBytes: in.DiskTotalBytes, Usage: in.Usage}
	if prev, ok := r.statuses[s.ID]; ok {
		// A runtime's one-instance look may lack what List measures (the
		// docker runtime's disk): a report without it would clear it.
		if st.DiskTotalBytes == 0 {
			st.DiskUsedBytes, st.DiskTotalBytes = prev.DiskUsedBytes, prev.DiskTotalBytes
		}
		if st.Usage == nil {
			st.Usage = prev.Usage
		}
	}
	r.readyAt[s.ID] = readiness{gen: s.RestartGen, at: time.Now()}
	// Copied, never written in place: the pass's report may be reading
	// the map it handed over.
	sts := maps.Clone(r.statuses)
	sts[s.ID] = st
	r.statuses = sts
	up := maps.Clone(r.upstreams)
	if up == nil {
		up = map[int]string{}
	}
	up[s.Port] = runtime.UpstreamOf(in)
	r.upstreams = up
	r.early[s.ID] = earlyReading{spec: s, status: st}
	if r.earlyTimer == nil {
		rev := r.desired.Revision
		r.earlyTimer = time.AfterFunc(earlyGather, func() {
			r.mu.Lock()
			sts := r.early
			r.early, r.earlyTimer = map[string]earlyReading{}, nil
			report := map[string]proto.TenantStatus{}
			for id, e := range sts {
				if r.stillWanted(e.spec) { // not stopped, restarted or removed meanwhile
					report[id] = e.status
				}
			}
			r.mu.Unlock()
			if len(report) == 0 {
				return
			}
			if err := r.publishReport(ctx, rev, report, nil); err != nil {
				r.log.Debug("tenant report not sent", "err", err)
				r.mu.Lock()
				r.dirty = true // the next pass reports everything
				r.mu.Unlock()
				return
			}
			r.log.Debug("running gateways reported", "tenants", len(report))
		})
	}
}

// stillWanted: the desired state still asks for s as it was watched
// (running, same restart generation and port). The caller holds r.mu.
func (r *Reconciler) stillWanted(s proto.TenantSpec) bool {
	if r.desired == nil {
		return false
	}
	i := slices.IndexFunc(r.desired.Tenants, func(x proto.TenantSpec) bool { return x.ID == s.ID })
	return i >= 0 && r.desired.Tenants[i].RestartGen == s.RestartGen && r.desired.Tenants[i].State == proto.TenantRunning && r.desired.Tenants[i].Port == s.Port
}

// Upstream returns where the gateway of the desired tenant with this port
// answers on this host (runtime.Instance.Upstream), as of the last pass;
// ok is false for a port of no desired tenant, or before its instance was
// listed. The tunnel forwarder dials it.
func (r *Reconciler) Upstream(port int) (addr string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	addr, ok = r.upstreams[port]
	return addr, ok
}

// Poke asks for a pass now (e.g. after reconnecting, to report at once).
func (r *Reconciler) Poke() {
	r.mu.Lock()
	r.dirty = true
	r.mu.Unlock()
	r.poke()
}
