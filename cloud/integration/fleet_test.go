package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestFleetLifecycle is the spine end to end: several real agent processes
// enroll, come online with metrics, one is SIGKILLed and goes offline, the
// cloud restarts and the rest come back by themselves.
func TestFleetLifecycle(t *testing.T) {
	c := newCloud(t)
	token, _ := c.enrollToken(3, "1h")
	agents := []*agent{c.enrollAgent(token, "it-a"), c.enrollAgent(token, "it-b"), c.enrollAgent(token, "it-c")}
	for _, a := range agents {
		info, err := os.Stat(filepath.Join(a.stateDir, "credentials.json"))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("credentials.json mode = %v, %v; want 0600", info.Mode().Perm(), err)
		}
		a.start()
	}

	// The token is used up: a fourth enrollment is refused and writes nothing.
	extra := t.TempDir()
	out, err := exec.Command(bin("clawfleet-agent"), "enroll", "--cloud", c.url(""), "--token", token, "--state-dir", extra).CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "no uses left") {
		t.Fatalf("enroll with a used-up token: err=%v out=%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(extra, "credentials.json")); !os.IsNotExist(err) {
		t.Fatal("refused enrollment wrote credentials")
	}

	online := func(ids ...string) func() bool {
		return func() bool {
			hs := c.hosts()
			for _, id := range ids {
				h := hs[id]
				if h.Status != "online" || h.Metrics.MemTotalBytes == 0 || h.LastHeartbeat == nil {
					return false
				}
			}
			return true
		}
	}
	ids := []string{agents[0].deviceID, agents[1].deviceID, agents[2].deviceID}
	tstest.Await(t, "all agents online with metrics", 30*time.Second, online(ids...))
	hs := c.hosts()
	for _, id := range ids {
		h := hs[id]
		if h.OS != "linux" || h.Arch == "" || h.AgentVersion == "" || h.Metrics.DiskTotalBytes == 0 || h.Metrics.MemUsedBytes > h.Metrics.MemTotalBytes {
			t.Fatalf("host %s = %+v", id, h)
		}
		if _, err := time.Parse(time.RFC3339, *h.LastHeartbeat); err != nil {
			t.Fatalf("lastHeartbeat %q is not RFC 3339", *h.LastHeartbeat)
		}
	}
	if n := c.metric("clawfleet_agents_connected"); n != 3 {
		t.Fatalf("clawfleet_agents_connected = %v, want 3", n)
	}

	// SIGKILL one agent: offline within its keepalive window (Last Will),
	// far sooner than the 3-missed-heartbeat sweep would need.
	killed := agents[2]
	killed.p.stop(syscall.SIGKILL)
	took := tstest.Await(t, "killed agent offline", 10*time.Second, func() bool { return c.hosts()[killed.deviceID].Status == "offline" })
	t.Logf("killed agent offline after %s", took)

	// A frozen agent (SIGSTOP: the socket stays open, nothing is sent) is
	// noticed by keepalive and missed heartbeats, then recovers by itself.
	frozen := agents[1]
	frozen.p.cmd.Process.Signal(syscall.SIGSTOP)
	took = tstest.Await(t, "frozen agent offline", 15*time.Second, func() bool { return c.hosts()[frozen.deviceID].Status == "offline" })
	t.Logf("frozen agent offline after %s (keepalive 2 s, heartbeat 1 s)", took)
	frozen.p.cmd.Process.Signal(syscall.SIGCONT)
	took = tstest.Await(t, "thawed agent online again", 30*time.Second, online(frozen.deviceID))
	t.Logf("thawed agent online again after %s", took)

	// Restart the cloud: hosts are still listed, the two live agents come
	// back by themselves, the killed one stays offline.
	if err := c.p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("cloud exit on SIGTERM: %v", err)
	}
	c.start()
	hs = c.hosts()
	if len(hs) != 3 {
		t.Fatalf("after restart %d hosts listed, want 3", len(hs))
	}
	reconnect := time.Now()
	tstest.Await(t, "agents reconnected after cloud restart", 60*time.Second, func() bool {
		return c.metric("clawfleet_agents_connected") == 2 && c.metric("clawfleet_registrations_total") >= 2
	})
	t.Logf("agents reconnected %s after the cloud restarted", time.Since(reconnect).Round(time.Millisecond))
	tstest.Await(t, "live agents online, killed one offline", 30*time.Second, func() bool {
		hs := c.hosts()
		return online(ids[0], ids[1])() && hs[killed.deviceID].Status == "offline"
	})
}

// mqttClient connects a raw MQTT client as a device.
func mqttClient(t *testing.T, c *cloud, user, pass, clientID string) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(c.mqttURL()).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetConnectRetry(false)
	cl := mqtt.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl, nil
}

func publish(t *testing.T, cl mqtt.Client, topic string, payload []byte) {
	t.Helper()
	tok := cl.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// TestDeviceSecurity checks what a device cannot do: wrong credentials,
// another device's topics, malformed payloads; and that deleting a host
// revokes it at once.
func TestDeviceSecurity(t *testing.T) {
	c := newCloud(t)
	token, _ := c.enrollToken(2, "1h")
	victim := c.enrollAgent(token, "victim")
	attacker := c.enrollAgent(token, "attacker")
	victim.start()
	tstest.Await(t, "victim online", 30*time.Second, func() bool { return c.hosts()[victim.deviceID].Status == "online" })

	t.Run("wrong password refused", func(t *testing.T) {
		failures := c.metric("clawfleet_mqtt_auth_failures_total")
		if _, err := mqttClient(t, c, attacker.deviceID, attacker.secret+"x", attacker.deviceID); err == nil {
			t.Fatal("wrong password accepted")
		}
		if _, err := mqttClient(t, c, attacker.deviceID, victim.secret, attacker.deviceID); err == nil {
			t.Fatal("another device's password accepted")
		}
		if _, err := mqttClient(t, c, attacker.deviceID, attacker.secret, victim.deviceID); err == nil {
			t.Fatal("client ID of another device accepted")
		}
		if got := c.metric("clawfleet_mqtt_auth_failures_total"); got < failures+3 {
			t.Fatalf("auth failures %v → %v, want +3", failures, got)
		}
	})

	attackerClient := func(t *testing.T) mqtt.Client {
		cl, err := mqttClient(t, c, attacker.deviceID, attacker.secret, attacker.deviceID)
		if err != nil {
			t.Fatalf("attacker with its own credentials: %v", err)
		}
		return cl
	}

	t.Run("publishing to another device's topic changes nothing", func(t *testing.T) {
		denials := c.metric("clawfleet_mqtt_acl_denials_total")
		before := c.hosts()[victim.deviceID]
		forged := proto.MustEncode(&proto.Heartbeat{Seq: 1, Metrics: proto.Metrics{CPUPercent: 99.5, MemUsedBytes: 1, MemTotalBytes: 1}})
		// QoS 0: a refused QoS 1 publish ends an MQTT 3.1.1 session (it has
		// no negative PUBACK), which is tested below.
		cl := attackerClient(t)
		for _, m := range []struct {
			kind    string
			payload []byte
		}{
			{proto.KindHeartbeat, forged},
			{proto.KindStatus, proto.MustEncode(&proto.Status{State: proto.StateOffline})},
			{proto.KindRegister, proto.MustEncode(&proto.Register{Hostname: "pwned"})},
		} {
			cl.Publish(proto.UpTopic(victim.deviceID, m.kind), 0, false, m.payload).WaitTimeout(5 * time.Second)
		}
		tstest.Await(t, "ACL denials counted", 5*time.Second, func() bool { return c.metric("clawfleet_mqtt_acl_denials_total") >= denials+3 })
		// A refused QoS 1 publish disconnects the offender.
		cl.Publish(proto.UpTopic(victim.deviceID, proto.KindHeartbeat), 1, false, forged).WaitTimeout(3 * time.Second)
		tstest.Await(t, "QoS 1 offender disconnected", 5*time.Second, func() bool { return !cl.IsConnected() })
		time.Sleep(1500 * time.Millisecond) // more than a heartbeat and a flush
		after := c.hosts()[victim.deviceID]
		if after.Status != "online" || after.Metrics.CPUPercent == 99.5 || after.Metrics.MemTotalBytes == 1 {
			t.Fatalf("forged messages changed the victim: %+v → %+v", before, after)
		}
		var h struct{ Hostname string }
		c.admin("GET", "/api/hosts/"+victim.deviceID, nil, 200, &h)
		if h.Hostname == "pwned" {
			t.Fatal("forged register accepted")
		}
	})

	t.Run("subscribing to other devices receives nothing", func(t *testing.T) {
		cl := attackerClient(t)
		got := make(chan string, 10)
		for _, f := range []string{"#", proto.DeviceFilter(victim.deviceID), "clawfleet/v1/dev/+/up/#"} {
			tok := cl.Subscribe(f, 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() })
			tok.WaitTimeout(5 * time.Second)
		}
		// The victim keeps heartbeating and the cloud may publish to it.
		select {
		case topic := <-got:
			t.Fatalf("attacker received %s", topic)
		case <-time.After(2500 * time.Millisecond):
		}
	})

	t.Run("malformed payloads are refused and counted", func(t *testing.T) {
		cl := attackerClient(t)
		refused := c.metric("clawfleet_device_messages_refused_total")
		before := c.hosts()[attacker.deviceID]
		for _, p := range []string{"{nope", `{"v":99}`, `{"v":1,"metrics":{"cpuPercent":-5}}`, strings.Repeat("x", 70000)} {
			publish(t, cl, proto.UpTopic(attacker.deviceID, proto.KindHeartbeat), []byte(p))
		}
		tstest.Await(t, "refusals counted", 5*time.Second, func() bool { return c.metric("clawfleet_device_messages_refused_total") >= refused+4 })
		after := c.hosts()[attacker.deviceID]
		if after.Status != before.Status || after.Metrics != before.Metrics {
			t.Fatalf("malformed payloads changed the host: %+v → %+v", before, after)
		}
	})

	t.Run("oversized packet disconnects", func(t *testing.T) {
		big, err := mqttClient(t, c, attacker.deviceID, attacker.secret, attacker.deviceID)
		if err != nil {
			t.Fatal(err)
		}
		big.Publish(proto.UpTopic(attacker.deviceID, proto.KindEvent), 1, false, make([]byte, 300<<10)).WaitTimeout(3 * time.Second)
		tstest.Await(t, "oversized client dropped", 5*time.Second, func() bool { return !big.IsConnected() })
	})

	t.Run("deleting a host revokes it at once", func(t *testing.T) {
		c.admin("DELETE", "/api/hosts/"+victim.deviceID, nil, 204, nil)
		if _, ok := c.hosts()[victim.deviceID]; ok {
			t.Fatal("deleted host still listed")
		}
		tstest.Await(t, "victim disconnected", 10*time.Second, func() bool { return c.metric("clawfleet_agents_connected") <= 1 })
		if _, err := mqttClient(t, c, victim.deviceID, victim.secret, victim.deviceID); err == nil {
			t.Fatal("revoked credentials still connect")
		}
		time.Sleep(2 * time.Second)
		if _, ok := c.hosts()[victim.deviceID]; ok {
			t.Fatal("revoked agent re-created its host")
		}
		var audit []struct{ Action, Target string }
		c.admin("GET", "/api/admin/audit", nil, 200, &audit)
		if len(audit) == 0 || audit[0].Action != "host.delete" || audit[0].Target != victim.deviceID {
			t.Fatalf("audit = %+v", audit)
		}
	})
}

// TestHTTPBadInput checks the API's answers to bad requests and that none of
// them changes state.
func TestHTTPBadInput(t *testing.T) {
	c := newCloud(t)
	tok, tokID := c.enrollToken(5, "1h")
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"no admin token", "GET", "/api/hosts", "", nil, 401, "unauthorized"},
		{"wrong admin token", "GET", "/api/hosts", "cfa_wrong_wrong_wrong_wrong", nil, 401, "unauthorized"},
		{"bad json", "POST", "/api/admin/enrollment-tokens", c.adminToken, `{"ttl":`, 400, "invalid_json"},
		{"unknown field", "POST", "/api/admin/enrollment-tokens", c.adminToken, `{"ttl":"1h","usez":3}`, 400, "invalid_json"},
		{"bad ttl", "POST", "/api/admin/enrollment-tokens", c.adminToken, `{"ttl":"forever"}`, 400, "invalid_request"},
		{"zero uses", "POST", "/api/admin/enrollment-tokens", c.adminToken, `{"ttl":"1h","uses":0}`, 400, "invalid_request"},
		{"oversized body", "POST", "/api/admin/enrollment-tokens", c.adminToken, `{"ttl":"1h","labels":{"a":"` + strings.Repeat("x", 70000) + `"}}`, 413, "too_large"},
		{"unknown enrollment token", "POST", "/api/enroll", "", `{"token":"cfe_nope"}`, 401, "token_invalid"},
		{"enroll bad json", "POST", "/api/enroll", "", `[1,2]`, 400, "invalid_json"},
		{"enroll bad label", "POST", "/api/enroll", "", `{"token":"` + tok + `","labels":{"BAD KEY":"x"}}`, 400, "invalid_request"},
		{"unknown host", "GET", "/api/hosts/dev_nosuchhost0", c.adminToken, nil, 404, "not_found"},
		{"delete unknown host", "DELETE", "/api/hosts/dev_nosuchhost0", c.adminToken, nil, 404, "not_found"},
		{"bad heartbeat setting", "PUT", "/api/admin/settings", c.adminToken, `{"heartbeatInterval":"0s"}`, 400, "invalid_request"},
		{"no route", "GET", "/api/nope", "", nil, 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := c.do(tc.method, tc.path, tc.token, tc.body)
			var e struct{ Error, Code string }
			if code != tc.status || json.Unmarshal(out, &e) != nil || e.Code != tc.code || e.Error == "" {
				t.Fatalf("= %d %s, want %d code %q", code, out, tc.status, tc.code)
			}
		})
	}
	// Nothing above changed state: one token with 5 uses, no hosts.
	var toks []struct {
		ID       string
		UsesLeft int `json:"usesLeft"`
	}
	c.admin("GET", "/api/admin/enrollment-tokens", nil, 200, &toks)
	if len(toks) != 1 || toks[0].ID != tokID || toks[0].UsesLeft != 5 {
		t.Fatalf("tokens = %+v", toks)
	}
	if hs := c.hosts(); len(hs) != 0 {
		t.Fatalf("hosts = %+v", hs)
	}
	// Expired and revoked tokens are refused.
	c.admin("DELETE", "/api/admin/enrollment-tokens/"+tokID, nil, 200, nil)
	if code, out := c.do("POST", "/api/enroll", "", map[string]string{"token": tok}); code != 401 || !strings.Contains(string(out), "token_revoked") {
		t.Fatalf("revoked token: %d %s", code, out)
	}
	// Repeated wrong admin tokens from one address are rate limited.
	limited := false
	for range 30 {
		if code, _ := c.do("GET", "/api/hosts", "cfa_guess_guess_guess_guess", nil); code == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("30 wrong admin tokens in a row were never rate limited")
	}
}

// TestProvisionedDevice runs the factory flow: clawfleet-provision writes
// credentials, the agent runs with them, the host comes online.
func TestProvisionedDevice(t *testing.T) {
	c := newCloud(t)
	dir := t.TempDir()
	out, err := exec.Command(bin("clawfleet-provision"), "device", "--cloud", c.url(""), "--admin-token", c.adminToken, "--out", dir, "--name", "box-1", "--label", "kind=box").CombinedOutput()
	if err != nil {
		t.Fatalf("provision: %v\n%s", err, out)
	}
	out, err = exec.Command(bin("clawfleet-provision"), "device", "--cloud", c.url(""), "--admin-token", "cfa_wrong_token_wrong_token", "--out", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "401") {
		t.Fatalf("provision with wrong token: %v %s", err, out)
	}
	a := &agent{t: t, name: "box-1", stateDir: dir}
	a.loadCreds()
	if hs := c.hosts(); hs[a.deviceID].Status != "pending" || hs[a.deviceID].Name != "box-1" {
		t.Fatalf("provisioned host = %+v", hs[a.deviceID])
	}
	a.start()
	tstest.Await(t, "provisioned box online", 30*time.Second, func() bool { return c.hosts()[a.deviceID].Status == "online" })
}
