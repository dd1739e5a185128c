package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	tenantrt "github.com/clawfleet/clawfleet/agent/runtime"
	"github.com/clawfleet/clawfleet/agent/runtime/runtimetest"
	"github.com/clawfleet/clawfleet/agent/tunnel"
	"github.com/clawfleet/clawfleet/agent/version"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

const (
	testID     = "dev_maintest0001"
	testSecret = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	testToken  = "cfe_goodtoken"
)

type result struct {
	err            error
	stdout, stderr string
}

func invoke(ctx context.Context, env map[string]string, args ...string) result {
	var stdout, stderr tstest.Buffer
	err := run(ctx, args, &stdout, &stderr, func(k string) string { return env[k] })
	return result{err, stdout.String(), stderr.String()}
}

func TestCommandLine(t *testing.T) {
	old := version.Version
	version.Version = "1.2.3-test"
	defer func() { version.Version = old }()
	zh := map[string]string{"LANG": "zh_CN.UTF-8"}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantErr    error
		wantStdout string
		wantStderr string
	}{
		{"version", nil, []string{"version"}, nil, "clawfleet-agent 1.2.3-test (go", ""},
		{"help", nil, []string{"help"}, nil, "clawfleet-agent enroll --cloud URL", ""},
		{"help zh", zh, []string{"--help"}, nil, "将本机注册到云端", ""},
		{"no args", nil, nil, errUsage, "", "Usage:"},
		{"unknown command", nil, []string{"frobnicate"}, errUsage, "", `unknown command "frobnicate"`},
		{"unknown command zh", map[string]string{"LANG": "en_US.UTF-8", "CLAWFLEET_LANG": "zh"}, []string{"frobnicate"}, errUsage, "", `未知命令 "frobnicate"`},
		{"enroll help", nil, []string{"enroll", "-h"}, nil, "--label KEY=VALUE", ""},
		{"enroll unknown flag", nil, []string{"enroll", "--nope"}, errUsage, "", "invalid arguments"},
		{"enroll extra args", nil, []string{"enroll", "--cloud", "http://x", "--token", "t", "extra"}, errUsage, "", "unexpected arguments"},
		{"enroll no cloud", nil, []string{"enroll", "--token", "t"}, errUsage, "", "--cloud or CLAWFLEET_CLOUD_URL"},
		{"enroll no token", map[string]string{"CLAWFLEET_CLOUD_URL": "http://x"}, []string{"enroll"}, errUsage, "", "--token or CLAWFLEET_ENROLL_TOKEN"},
		{"enroll bad label zh", zh, []string{"enroll", "--cloud", "http://x", "--token", "t", "--label", "novalue"}, errUsage, "", `标签 "novalue" 的格式应为 键=值`},
		{"run help zh", zh, []string{"run", "--help"}, nil, "心跳间隔", ""},
		{"run bad heartbeat", nil, []string{"run", "--heartbeat", "100ms"}, errUsage, "", "--heartbeat 100ms is out of range"},
		{"run bad log level", map[string]string{"CLAWFLEET_LOG_LEVEL": "chatty"}, []string{"run"}, errUsage, "", `log level "chatty" is unknown`},
		{"run bad pairing", nil, []string{"run", "--pairing", "bluetooth"}, errUsage, "", `--pairing "bluetooth": use off or wifi`},
		{"run bad hotspot password zh", zh, []string{"run", "--hotspot-password", "short"}, errUsage, "", "配对设置有误：--hotspot-password: 8-63 characters"},
		{"run no credentials", nil, []string{"run", "--state-dir", "/nonexistent/clawfleet"}, errFailed, "", "Enroll this host first"},
		{"run no credentials zh", zh, []string{"run", "--state-dir", "/nonexistent/clawfleet"}, errFailed, "", "请先注册本机"},
		{"adopt help zh", zh, []string{"adopt", "--help"}, nil, "把一个容器接管为用户的租户", ""},
		{"adopt no token", nil, []string{"adopt"}, errUsage, "", "--admin-token or CLAWFLEET_ADMIN_TOKEN"},
		{"adopt one argument", nil, []string{"adopt", "--admin-token", "t", "openclaw-alice"}, errUsage, "", "give both CONTAINER and OWNER"},
		{"adopt three arguments", nil, []string{"adopt", "--admin-token", "t", "a", "b", "c"}, errUsage, "", "give both CONTAINER and OWNER"},
		{"adopt map and arguments", nil, []string{"adopt", "--admin-token", "t", "--map", "m", "a", "b"}, errUsage, "", "not both"},
		{"adopt slug to list zh", zh, []string{"adopt", "--admin-token", "t", "--slug", "x"}, errUsage, "", "--slug 和 --plan 须与"},
		{"adopt flags after the arguments", nil, []string{"adopt", "openclaw-alice", "alice", "--admin-token", "t", "--state-dir", "/nonexistent/clawfleet"}, errFailed, "", "this host is not enrolled"},
		{"adopt not enrolled", nil, []string{"adopt", "--admin-token", "t", "--state-dir", "/nonexistent/clawfleet"}, errFailed, "", "this host is not enrolled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(context.Background(), tt.env, tt.args...)
			if !errors.Is(r.err, tt.wantErr) {
				t.Errorf("err = %v, want %v", r.err, tt.wantErr)
			}
			if !strings.Contains(r.stdout, tt.wantStdout) || !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stdout %q, stderr %q; want them to contain %q and %q", r.stdout, r.stderr, tt.wantStdout, tt.wantStderr)
			}
			if strings.Contains(r.stdout+r.stderr, "%!") {
				t.Errorf("formatting error in output: %s%s", r.stdout, r.stderr)
			}
		})
	}
}

// fakeCloud answers POST /api/enroll; mqttURL is put in issued credentials.
func fakeCloud(t *testing.T, mqttURL string, got *map[string]any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if r.URL.Path != "/api/enroll" || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if got != nil {
			*got = req
		}
		w.Header().Set("Content-Type", "application/json")
		if req["token"] != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"enrollment token is invalid or expired","code":"invalid_token"}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"deviceId": testID, "secret": testSecret, "mqttUrl": mqttURL, "cloudUrl": "http://" + r.Host})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestEnrollCommand(t *testing.T) {
	var req map[string]any
	cloud := fakeCloud(t, "tcp://127.0.0.1:1883", &req)
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, creds.FileName)

	// The flag wins over the (broken) environment value.
	env := map[string]string{"CLAWFLEET_CLOUD_URL": "http://127.0.0.1:1", "CLAWFLEET_ENROLL_TOKEN": testToken, "CLAWFLEET_STATE_DIR": dir}
	r := invoke(context.Background(), env, "enroll", "--cloud", cloud.URL, "--name", "edge-7", "--label", "site=lab", "--label", "rack=3")
	if r.err != nil {
		t.Fatalf("enroll: %v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stdout, "Enrolled as "+testID) || !strings.Contains(r.stdout, path) {
		t.Errorf("stdout %q", r.stdout)
	}
	labels, _ := req["labels"].(map[string]any)
	if req["name"] != "edge-7" || req["hostname"] == "" || labels["site"] != "lab" || labels["rack"] != "3" {
		t.Errorf("request %v", req)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v", fi, err)
	}
	c, err := creds.Load(path)
	if err != nil || c.DeviceID != testID || c.Secret != testSecret || c.CloudURL != cloud.URL {
		t.Errorf("saved credentials %+v, %v", c, err)
	}

	// No overwrite without --force.
	before, _ := os.ReadFile(path)
	r = invoke(context.Background(), env, "enroll", "--cloud", cloud.URL)
	if !errors.Is(r.err, errFailed) || !strings.Contains(r.stderr, "--force") {
		t.Errorf("second enroll: %v, %q", r.err, r.stderr)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("credentials overwritten without --force")
	}
	r = invoke(context.Background(), env, "enroll", "--cloud", cloud.URL, "--force")
	if r.err != nil {
		t.Errorf("enroll --force: %v %s", r.err, r.stderr)
	}

	// A refused token: the cloud's message, non-zero exit, no file.
	dir2 := t.TempDir()
	for _, lang := range []map[string]string{{}, {"CLAWFLEET_LANG": "zh"}} {
		lang["CLAWFLEET_CLOUD_URL"] = cloud.URL // from the environment this time
		r = invoke(context.Background(), lang, "enroll", "--token", "cfe_bad", "--state-dir", dir2)
		if !errors.Is(r.err, errFailed) || !strings.Contains(r.stderr, "enrollment token is invalid or expired") {
			t.Errorf("refused enroll (%v): %v, %q", lang, r.err, r.stderr)
		}
	}
	if entries, _ := os.ReadDir(dir2); len(entries) != 0 {
		t.Errorf("files written after a refusal: %v", entries)
	}
}

// TestRunCommand runs the whole agent (`enroll` then `run`) against an
// in-process broker and checks what the cloud would receive.
func TestRunCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(&allowAll{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	type msg struct {
		kind    string
		payload []byte
	}
	msgs := make(chan msg, 100)
	srv.Subscribe(proto.CloudFilter, 1, func(cl *mqtt.Client, sub packets.Subscription, pk packets.Packet) {
		_, _, kind, _ := proto.ParseTopic(pk.TopicName)
		select {
		case msgs <- msg{kind, append([]byte(nil), pk.Payload...)}:
		default:
		}
	})

	// A state dir the gateways' own uids can reach (t.TempDir's parent is
	// private to root, which the process runtime refuses).
	dir := runtimetest.Dir(t)
	cloud := fakeCloud(t, "tcp://"+addr, nil)
	if r := invoke(context.Background(), nil, "enroll", "--cloud", cloud.URL, "--token", testToken, "--state-dir", dir); r.err != nil {
		t.Fatalf("enroll: %v %s", r.err, r.stderr)
	}

	// A factory box's claim code, for the local page.
	credsPath := filepath.Join(dir, creds.FileName)
	cr, err := creds.Load(credsPath)
	if err != nil {
		t.Fatal(err)
	}
	cr.ClaimCode = creds.NewClaimCode()
	if err := creds.Save(credsPath, cr); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr, done := startAgent(ctx, dir)
	next := func(kind string) []byte {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case m := <-msgs:
				if m.kind == kind {
					return m.payload
				}
			case <-timeout:
				t.Fatalf("no %s within 5 s; agent log:\n%s", kind, stderr.String())
			}
		}
	}
	reg, err := proto.DecodeRegister(next(proto.KindRegister))
	if err != nil {
		t.Fatal(err)
	}
	if reg.MemTotalBytes == 0 || reg.CPUs < 1 || reg.AgentVersion == "" ||
		!slices.Contains(reg.Capabilities.WireGuardModes, "netstack") || !slices.Contains(reg.Capabilities.Runtimes, "process") {
		t.Errorf("register %+v", reg)
	}
	if st, err := proto.DecodeStatus(next(proto.KindStatus)); err != nil || st.State != proto.StateOnline {
		t.Errorf("status %+v %v", st, err)
	}
	hb, err := proto.DecodeHeartbeat(next(proto.KindHeartbeat))
	if err != nil {
		t.Fatal(err)
	}
	if hb.Metrics.MemTotalBytes == 0 || hb.Metrics.DiskTotalBytes == 0 {
		t.Errorf("heartbeat metrics %+v", hb.Metrics)
	}
	// The local page shows the claim code.
	if st := localPage(t, stderr); st.Claim.Code != cr.ClaimCode || st.Claim.DeviceID != testID {
		t.Errorf("local page state %+v", st.Claim)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop within 5 s of the signal")
	}
	if st, err := proto.DecodeStatus(next(proto.KindStatus)); err != nil || st.State != proto.StateOffline {
		t.Errorf("status %+v %v", st, err)
	}
}

type allowAll struct{ mqtt.HookBase }

func (h *allowAll) ID() string { return "allow-all" }
func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

// TestInterfacePerAgent: each agent's tunnel interface has a name of its
// own (a fixed wg-cf made a second agent on the machine find its TUN device
// busy), within IFNAMSIZ, stable for a state dir, and with the same tag as
// the agent's network namespaces.
func TestInterfacePerAgent(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	os.Symlink(a, filepath.Join(base, "link-a"))
	os.MkdirAll(filepath.Join(a, "tenants"), 0o700)
	nameA := tunnel.InterfaceName(tenantrt.AgentTag(agentDataDir(a)))
	nameB := tunnel.InterfaceName(tenantrt.AgentTag(agentDataDir(b)))
	if nameA == nameB || len(nameA) > 15 || len(nameB) > 15 || !strings.HasPrefix(nameA, "wg-cf") {
		t.Fatalf("names %q and %q", nameA, nameB)
	}
	if again := tunnel.InterfaceName(tenantrt.AgentTag(agentDataDir(filepath.Join(base, "link-a")))); again != nameA {
		t.Fatalf("the same state dir through a symlink: %q, want %q", again, nameA)
	}
	real, _ := filepath.EvalSymlinks(filepath.Join(a, "tenants"))
	if want := "wg-cf" + tenantrt.AgentTag(real); nameA != want {
		t.Fatalf("%q, want the runtimes' tag: %q", nameA, want)
	}
}

// TestWriteTable: columns line up as a terminal shows them, Chinese
// characters two columns wide.
func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, [][]string{{"名称", "镜像", "能否接管"}, {"openclaw-alice", "oc:1", "可以"}, {"bob", "openclaw:2026.9.6", "不能：没有令牌"}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%q", b.String())
	}
	col := func(l, cell string) int { return displayWidth(l[:strings.Index(l, cell)]) }
	for i, cells := range [][]string{{"镜像", "能否接管"}, {"oc:1", "可以"}, {"openclaw:2026.9.6", "不能"}} {
		if a, b := col(lines[i], cells[0]), col(lines[i], cells[1]); a != 16 || b != 35 {
			t.Errorf("line %q: columns at %d and %d, want 16 and 35", lines[i], a, b)
		}
	}
}
