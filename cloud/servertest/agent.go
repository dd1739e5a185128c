package servertest

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// Agent is a fake host agent: a paho client speaking the real protocol
// with the cloud's broker. It registers with a docker runtime, heartbeats
// every second, keeps every desired state and command it receives, and
// answers commands with its log lines (SetLogs), an error (SetLogsError),
// or not at all (SetAnswer(false)). Acknowledgements and reports are sent
// when the test says so (Ack, Report).
type Agent struct {
	// ID is the host's device ID.
	ID string

	t      testing.TB
	cl     paho.Client
	stopHB chan struct{}

	mu       sync.Mutex
	desired  []*proto.Desired
	cmds     []*proto.Command
	logLines []string
	answer   bool
	logsErr  string
	autoRun  bool
	claims   []*proto.Claim // nil entries: the retained claim was cleared
	tunnels  [][]byte       // tunnel configs as received; empty: cleared
	inspect  func(ref string) proto.Reply
	listing  *proto.Reply // list-containers' answer

	// runMu orders AutoRun's answers: desired states are acted on one at a
	// time, never an older revision after a newer one, as a real agent does (two goroutines
	// could otherwise report an older, shorter tenant list last).
	runMu  sync.Mutex
	ranRev int64
}

// NewAgent connects a fake agent with a host's credentials and waits until
// the cloud has it online and registered (its runtimes known, so it can
// take tenants). It registers as a 4-CPU, 8 GiB docker host and disconnects
// when the test ends.
func (c *Cloud) NewAgent(id, secret string) *Agent {
	c.t.Helper()
	return c.NewAgentWith(id, secret, proto.Register{Hostname: "vm-" + id, OS: "linux", Arch: "amd64", CPUs: 4, MemTotalBytes: 8 << 30,
		AgentVersion: "test", Capabilities: proto.Capabilities{Docker: true, Runtimes: []string{"docker"}}})
}

// NewAgentWith is NewAgent with the registration the agent sends (its
// runtimes must not be empty).
func (c *Cloud) NewAgentWith(id, secret string, reg proto.Register) *Agent {
	t := c.t
	t.Helper()
	f := &Agent{ID: id, t: t, stopHB: make(chan struct{}), answer: true}
	o := paho.NewClientOptions().AddBroker("tcp://" + c.App.MQTTAddr().String()).SetClientID(id).SetUsername(id).SetPassword(secret).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetCleanSession(true)
	f.cl = paho.NewClient(o)
	if tok := f.cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("agent connect: %v", tok.Error())
	}
	tok := f.cl.Subscribe(proto.DeviceFilter(id), 1, func(_ paho.Client, m paho.Message) { f.receive(m) })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("agent subscribe: %v", tok.Error())
	}
	f.Publish(proto.KindRegister, &reg)
	f.Publish(proto.KindStatus, &proto.Status{State: proto.StateOnline})
	go f.heartbeat()
	t.Cleanup(f.Close)
	// The status and the registration are separate messages.
	tstest.Await(t, "host "+id+" online and registered", 10*time.Second, func() bool {
		r := c.Admin(http.MethodGet, "/api/hosts/"+id, nil)
		if r.Code != http.StatusOK || r.JSON(t)["status"] != "online" {
			return false
		}
		caps, _ := r.JSON(t)["capabilities"].(map[string]any)
		rts, _ := caps["runtimes"].([]any)
		return len(rts) > 0
	})
	return f
}

func (f *Agent) receive(m paho.Message) {
	_, _, kind, err := proto.ParseTopic(m.Topic())
	if err != nil {
		return
	}
	switch kind {
	case proto.KindClaim:
		var cl *proto.Claim
		if len(m.Payload()) > 0 {
			var err error
			if cl, err = proto.DecodeClaim(m.Payload()); err != nil {
				f.t.Errorf("agent %s: invalid claim message: %v", f.ID, err)
				return
			}
		}
		f.mu.Lock()
		f.claims = append(f.claims, cl)
		f.mu.Unlock()
	case proto.KindTunnel:
		f.mu.Lock()
		f.tunnels = append(f.tunnels, slices.Clone(m.Payload()))
		f.mu.Unlock()
	case proto.KindDesired:
		if len(m.Payload()) == 0 {
			return
		}
		d, err := proto.DecodeDesired(m.Payload())
		if err != nil {
			f.t.Errorf("agent %s: invalid desired state: %v", f.ID, err)
			return
		}
		f.mu.Lock()
		f.desired = append(f.desired, d)
		auto := f.autoRun
		f.mu.Unlock()
		if auto {
			go f.run(d)
		}
	case proto.KindCmd:
		cmd, err := proto.DecodeCommand(m.Payload())
		if err != nil {
			f.t.Errorf("agent %s: invalid command: %v", f.ID, err)
			return
		}
		f.mu.Lock()
		f.cmds = append(f.cmds, cmd)
		answer, lines, logsErr, inspect, listing := f.answer, slices.Clone(f.logLines), f.logsErr, f.inspect, f.listing
		f.mu.Unlock()
		if answer && cmd.Op == proto.OpListContainers && listing != nil {
			r := *listing
			r.ID = cmd.ID
			go f.reply(&r)
		} else if answer && cmd.Op == proto.OpInspectContainer && inspect != nil {
			r := inspect(cmd.Container)
			r.ID = cmd.ID
			go f.reply(&r)
		} else if answer && logsErr != "" {
			go f.reply(&proto.Reply{ID: cmd.ID, OK: false, Error: logsErr})
		} else if answer {
			if len(lines) > cmd.Tail {
				lines = lines[len(lines)-cmd.Tail:]
			}
			go f.reply(&proto.Reply{ID: cmd.ID, OK: true, Lines: lines})
		}
	}
}

// reply answers a command; a reply cut off by Close is no failure (a
// followed log polls until the test's end).
func (f *Agent) reply(r *proto.Reply) {
	tok := f.cl.Publish(proto.UpTopic(f.ID, proto.KindReply), 1, false, proto.MustEncode(r))
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		select {
		case <-f.stopHB:
		default:
			f.t.Errorf("agent reply %s: %v", r.ID, tok.Error())
		}
	}
}

func (f *Agent) heartbeat() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-f.stopHB:
			return
		case <-tick.C:
			if f.cl.IsConnected() {
				f.cl.Publish(proto.UpTopic(f.ID, proto.KindHeartbeat), 1, false, proto.MustEncode(&proto.Heartbeat{SentAt: time.Now().UnixMilli(),
					Metrics: proto.Metrics{MemUsedBytes: 1 << 30, MemTotalBytes: 8 << 30}}))
			}
		}
	}
}

// Close stops heartbeats and disconnects (again: nothing). Without a
// status message first, the cloud notices by the broker's session end.
func (f *Agent) Close() {
	select {
	case <-f.stopHB:
	default:
		close(f.stopHB)
	}
	if f.cl.IsConnected() {
		f.cl.Disconnect(100)
	}
}

// GoOffline says the host is going offline, as an agent stopping does, and
// disconnects.
func (f *Agent) GoOffline() {
	f.Publish(proto.KindStatus, &proto.Status{State: proto.StateOffline})
	f.Close()
}

// Publish sends msg on the agent's up/<kind> topic.
func (f *Agent) Publish(kind string, msg any) { f.PublishRaw(kind, proto.MustEncode(msg)) }

// PublishRaw sends payload as it is (malformed messages, for instance).
func (f *Agent) PublishRaw(kind string, payload []byte) {
	tok := f.cl.Publish(proto.UpTopic(f.ID, kind), 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		select {
		case <-f.stopHB: // closed meanwhile: the test is over
			return
		default:
		}
		f.t.Errorf("agent publish %s: %v", kind, tok.Error())
	}
}

// WaitDesired waits for a desired state satisfying cond (the newest first)
// and returns it.
func (f *Agent) WaitDesired(what string, cond func(*proto.Desired) bool) *proto.Desired {
	f.t.Helper()
	var got *proto.Desired
	tstest.Await(f.t, what, 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := len(f.desired) - 1; i >= 0; i-- {
			if cond(f.desired[i]) {
				got = f.desired[i]
				return true
			}
		}
		return false
	})
	return got
}

// WaitClaim waits until the newest claim message received satisfies cond
// (nil: none, or cleared) and returns it.
func (f *Agent) WaitClaim(what string, cond func(*proto.Claim) bool) *proto.Claim {
	f.t.Helper()
	var got *proto.Claim
	tstest.Await(f.t, what, 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.claims) == 0 {
			return cond(nil)
		}
		got = f.claims[len(f.claims)-1]
		return cond(got)
	})
	return got
}

// Claims are the claim messages received so far (nil: cleared).
func (f *Agent) Claims() []*proto.Claim {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.claims)
}

// Tunnel is the newest tunnel config received: nil before any, and after
// the cloud cleared it.
func (f *Agent) Tunnel() *proto.TunnelConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tunnels) == 0 || len(f.tunnels[len(f.tunnels)-1]) == 0 {
		return nil
	}
	cfg, err := proto.DecodeTunnelConfig(f.tunnels[len(f.tunnels)-1])
	if err != nil {
		f.t.Errorf("agent %s: invalid tunnel config: %v", f.ID, err)
		return nil
	}
	return cfg
}

// TunnelCount counts the tunnel messages received (cleared ones too).
func (f *Agent) TunnelCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tunnels)
}

// DesiredCount counts the desired states received with revision rev.
func (f *Agent) DesiredCount(rev int64) int {
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

// Ack acknowledges desired revision rev.
func (f *Agent) Ack(rev int64) {
	f.Publish(proto.KindReply, &proto.Reply{ID: proto.DesiredReplyID(rev), OK: true})
}

// Report sends a tenant report: the tenants' states and the purged ids.
func (f *Agent) Report(ts []proto.TenantStatus, purged ...string) {
	f.Publish(proto.KindEvent, &proto.TenantReport{Type: proto.EventTenants, Runtime: "docker", Tenants: ts, Purged: purged})
}

// Commands are the commands received so far.
func (f *Agent) Commands() []*proto.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

// LastCommand is the newest command received (nil before any).
func (f *Agent) LastCommand() *proto.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cmds) == 0 {
		return nil
	}
	return f.cmds[len(f.cmds)-1]
}

// SetLogs sets the log lines commands are answered with.
func (f *Agent) SetLogs(lines ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logLines = lines
}

// AppendLogs adds log lines, as a running gateway does.
func (f *Agent) AppendLogs(lines ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logLines = append(f.logLines, lines...)
}

// SetLogsError makes commands fail with msg as the host's error ("" to
// answer with lines again).
func (f *Agent) SetLogsError(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logsErr = msg
}

// AutoRun makes the agent act on every desired state from now on as a
// real one whose gateways start at once: it acknowledges the revision and
// reports each tenant running at its restartGen, and the purged ones
// purged. For tests that need running tenants and drive them through the
// API only (a node client, say).
func (f *Agent) AutoRun() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.autoRun = true
}

func (f *Agent) run(d *proto.Desired) {
	select {
	case <-f.stopHB: // closed: the test may be over
		return
	default:
	}
	f.runMu.Lock()
	defer f.runMu.Unlock()
	if d.Revision < f.ranRev {
		return
	}
	f.ranRev = d.Revision
	ts := make([]proto.TenantStatus, 0, len(d.Tenants))
	for _, s := range d.Tenants {
		ts = append(ts, proto.TenantStatus{ID: s.ID, State: proto.TenantRunning, RestartGen: s.RestartGen, StartedAt: time.Now().UnixMilli()})
	}
	f.Ack(d.Revision)
	f.Report(ts, d.Purge...)
}

// SetInspect answers inspect-container commands with what inspect says of
// the container named (its ID is set here), as a docker agent would.
func (f *Agent) SetInspect(inspect func(ref string) proto.Reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inspect = inspect
}

// SetListing answers list-containers commands with r (its ID is set
// here), as a docker agent would.
func (f *Agent) SetListing(r proto.Reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listing = &r
}

// SetAnswer sets whether commands are answered at all.
func (f *Agent) SetAnswer(answer bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

// HasTenant matches a desired state listing tenant id.
func HasTenant(id string) func(*proto.Desired) bool {
	return func(d *proto.Desired) bool {
		return slices.ContainsFunc(d.Tenants, func(s proto.TenantSpec) bool { return s.ID == id })
	}
}

// TryConnect makes one MQTT connection with a device's credentials and
// closes it: nil when the broker lets the device in, else why not (paho's
// "not Authorized" for refused credentials).
func (c *Cloud) TryConnect(id, secret string) error {
	o := paho.NewClientOptions().AddBroker("tcp://" + c.App.MQTTAddr().String()).SetClientID(id).SetUsername(id).SetPassword(secret).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	cl := paho.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("connecting as %s timed out", id)
	}
	if tok.Error() == nil {
		cl.Disconnect(0)
	}
	return tok.Error()
}
