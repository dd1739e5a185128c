// Package servertest runs the whole cloud in-process for tests: the store on
// a SQLite file in a temporary directory, the embedded broker on a loopback
// TCP port, the fleet, the tenant service, the router and the API on real
// listeners. It starts them through cloud/app, the wiring main uses, so a
// test runs what production runs. Agents are fakes speaking the real MQTT
// protocol through paho (agent.go).
//
//	c := servertest.New(t, servertest.WithSharedSecret())
//	ag := c.AddHost("box-1")
//	r := c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free"})
//
// Everything started is stopped when the test ends.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/app"
	"github.com/clawfleet/clawfleet/cloud/config"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// AdminToken is every test cloud's admin token.
const AdminToken = "cfa_dashboard-test-admin-token-0123456789"

// SharedSecret is the SSO web app's shared secret of clouds started
// WithSharedSecret; UserHeaders sends it.
const SharedSecret = "shared-secret-for-tenant-tests-0123"

// Cloud is a running in-process cloud.
type Cloud struct {
	// App is the cloud itself: its services (Tenants, Fleet) and addresses.
	App *app.App
	// URL is the base URL of its HTTP listener ("http://127.0.0.1:port").
	URL string
	// Dir is its data directory; start a cloud WithDataDir(c.Dir) after
	// Stop to restart it on the same data.
	Dir string

	t      testing.TB
	cancel context.CancelFunc
	done   chan error
}

type settings struct {
	dir   string
	flags []string
	env   map[string]string
	log   io.Writer
}

// An Option configures a test cloud.
type Option func(*settings)

// WithDataDir keeps the cloud's data in dir (default: a new temporary
// directory).
func WithDataDir(dir string) Option { return func(s *settings) { s.dir = dir } }

// WithLog copies the cloud's log (warnings and errors, as text) to w too,
// for a test that reads what the cloud logs (a local account's link when
// no SMTP is configured).
func WithLog(w io.Writer) Option { return func(s *settings) { s.log = w } }

// WithSharedSecret enables the SSO web app's calls with SharedSecret.
func WithSharedSecret() Option { return WithFlags("--shared-secret", SharedSecret) }

// WithEnv gives the cloud these environment variables (and no others):
// its settings (CLAWFLEET_*), the sign-in providers and mail.
func WithEnv(env map[string]string) Option {
	return func(s *settings) {
		if s.env == nil {
			s.env = map[string]string{}
		}
		for k, v := range env {
			s.env[k] = v
		}
	}
}

// WithFlags passes command-line flags of clawfleet-cloud
// ("--command-timeout", "1s"); later flags win over earlier ones and over
// the test defaults (loopback listeners on free ports, the admin token).
func WithFlags(args ...string) Option {
	return func(s *settings) { s.flags = append(s.flags, args...) }
}

// New starts a cloud and waits until it is ready; it is stopped when the
// test ends.
func New(t testing.TB, opts ...Option) *Cloud {
	t.Helper()
	var s settings
	for _, o := range opts {
		o(&s)
	}
	if s.dir == "" {
		s.dir = t.TempDir()
	}
	args := append([]string{
		"--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--wg-addr", "127.0.0.1:0", "--internal-upstream-addr", "127.0.0.1:0",
		"--data-dir", s.dir, "--admin-token", AdminToken,
	}, s.flags...)
	getenv := func(k string) string { return s.env[k] }
	cfg, err := config.Load(args, getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out io.Writer = t.Output()
	if s.log != nil {
		out = io.MultiWriter(out, s.log)
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.NewEnv(ctx, cfg, getenv, log, io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &Cloud{App: a, URL: "http://" + a.HTTPAddr().String(), Dir: s.dir, t: t, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() { c.done <- a.Run(ctx, func() { close(ready) }) }()
	t.Cleanup(c.Stop)
	select {
	case <-ready:
	case err := <-c.done:
		t.Fatalf("cloud failed to start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("cloud did not become ready")
	}
	return c
}

// Stop stops the cloud (again: nothing) and fails the test if it stopped
// with an error.
func (c *Cloud) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	select {
	case err := <-c.done:
		if err != nil {
			c.t.Errorf("cloud stopped with: %v", err)
		}
	case <-time.After(15 * time.Second):
		c.t.Errorf("cloud did not stop")
	}
}

// Response is an HTTP answer, read whole.
type Response struct {
	Code   int
	Body   []byte
	Header http.Header
	// URL is where the answer came from, after redirects (Browser).
	URL *url.URL
}

// JSON is the body as a JSON object; the test fails if it is not one.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %s", r.Code, r.Body)
	}
	return m
}

// JSONList is the body as a JSON array of objects.
func (r Response) JSONList(t testing.TB) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(r.Body, &l); err != nil {
		t.Fatalf("response %d is not a JSON array: %s", r.Code, r.Body)
	}
	return l
}

// Do sends a request to the cloud's HTTP listener. A string body is sent
// as it is, anything else as JSON.
func (c *Cloud) Do(method, path string, hdr map[string]string, body any) Response {
	c.t.Helper()
	return c.send(http.DefaultClient, method, c.URL+path, hdr, body)
}

// send sends a request with client: a string body as it is, anything else
// as JSON; hdr is set last.
func (c *Cloud) send(client *http.Client, method, target string, hdr map[string]string, body any) Response {
	c.t.Helper()
	var rd io.Reader
	if raw, ok := body.(string); ok {
		rd = strings.NewReader(raw)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return Response{Code: res.StatusCode, Body: raw, Header: res.Header, URL: res.Request.URL}
}

// UserHeaders are the SSO web app's headers for user uid (with SharedSecret
// and an email made from uid).
func UserHeaders(uid string) map[string]string {
	return map[string]string{"X-Shared-Secret": SharedSecret, "X-User-ID": uid, "X-User-Email": uid + "@example.com"}
}

// User sends a request as the web app's user uid.
func (c *Cloud) User(method, path, uid string, body any) Response {
	c.t.Helper()
	return c.Do(method, path, UserHeaders(uid), body)
}

// Admin sends a request with the admin token.
func (c *Cloud) Admin(method, path string, body any) Response {
	c.t.Helper()
	return c.Do(method, path, map[string]string{"Authorization": "Bearer " + AdminToken}, body)
}

// Metric is the value of one /metrics series ("name" or `name{label="v"}`),
// 0 when absent.
func (c *Cloud) Metric(name string) float64 {
	c.t.Helper()
	r := c.Do(http.MethodGet, "/metrics", nil, nil)
	for _, line := range strings.Split(string(r.Body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// Provision pre-registers a host and returns its credentials.
func (c *Cloud) Provision(name string) (id, secret string) {
	c.t.Helper()
	r := c.Admin(http.MethodPost, "/api/admin/devices", map[string]any{"name": name})
	if r.Code != http.StatusCreated {
		c.t.Fatalf("provision: %d %s", r.Code, r.Body)
	}
	m := r.JSON(c.t)
	return m["deviceId"].(string), m["secret"].(string)
}

// Box is a factory box registered in a batch: its credentials and its
// claim code, as its label and credentials.json carry them.
type Box struct {
	ID, Secret, ClaimCode string
}

// AddBox registers a box at index of batch (created for model "OpenClaw
// Box v1" if it does not exist) and returns it; it does not connect.
func (c *Cloud) AddBox(batch string, index int) Box {
	c.t.Helper()
	if r := c.Admin(http.MethodPut, "/api/admin/batches/"+batch, map[string]any{"model": "OpenClaw Box v1"}); r.Code != http.StatusOK && r.Code != http.StatusCreated {
		c.t.Fatalf("create batch %s: %d %s", batch, r.Code, r.Body)
	}
	b := Box{ID: creds.NewDeviceID(), Secret: creds.NewSecret(), ClaimCode: creds.NewClaimCode()}
	r := c.Admin(http.MethodPost, "/api/admin/batches/"+batch+"/devices", map[string]any{"devices": []any{
		map[string]any{"index": index, "deviceId": b.ID, "secretHash": creds.Hash(b.Secret), "claimCode": b.ClaimCode}}})
	if r.Code != http.StatusOK {
		c.t.Fatalf("register box %d of %s: %d %s", index, batch, r.Code, r.Body)
	}
	return b
}

// AddHost provisions a host and connects a fake agent for it.
func (c *Cloud) AddHost(name string) *Agent {
	c.t.Helper()
	id, secret := c.Provision(name)
	return c.NewAgent(id, secret)
}

// WaitTenant waits until user uid's tenant (GET /api/tenants/me) satisfies
// cond, and returns it.
func (c *Cloud) WaitTenant(uid, what string, cond func(m map[string]any) bool) map[string]any {
	c.t.Helper()
	var m map[string]any
	tstest.Await(c.t, what, 10*time.Second, func() bool {
		r := c.User(http.MethodGet, "/api/tenants/me", uid, nil)
		if r.Code != http.StatusOK {
			return false
		}
		m = r.JSON(c.t)
		return cond(m)
	})
	return m
}
