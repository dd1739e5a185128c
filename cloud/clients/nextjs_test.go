package clients_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

const authSecret = "the AUTH_SECRET of the example app: 32 bytes or more" // no comma: the cloud reads a list

// The Next.js example, built with next build and run with next start,
// against a real cloud: its route handlers call the cloud with the user's
// forwarded Auth.js session, and with the shared secret.
func TestNextExample(t *testing.T) {
	if testing.Short() {
		t.Skip("next build and next start: -short (make check) leaves them to make test")
	}
	w := workspace(t)
	app := filepath.Join(w, "nextjs-example")
	start := time.Now()
	run(t, app, []string{"NEXT_TELEMETRY_DISABLED=1"}, "node", "../node_modules/next/dist/bin/next", "build")
	t.Logf("next build took %s", time.Since(start).Round(100*time.Millisecond))

	c := servertest.New(t, servertest.WithSharedSecret(), servertest.WithFlags("--sso-authjs-secret", authSecret))
	ag := c.AddHost("box-1")
	ag.AutoRun()
	ag.SetLogs("gateway ready")

	t.Run("ForwardedSession", func(t *testing.T) {
		base := nextStart(t, app, "CLAWFLEET_URL="+c.URL)
		tok := strings.TrimSpace(run(t, w, []string{"AUTH_SECRET=" + authSecret, "USER_ID=web-alice", "USER_EMAIL=alice@example.com"}, "node", "testdata/authjs-session.mjs"))
		session := "authjs.session-token=" + tok

		expect(t, call(t, http.MethodGet, base+"/api/claw", "", nil), http.StatusUnauthorized, "unauthorized")
		expect(t, call(t, http.MethodGet, base+"/api/claw", "authjs.session-token=not-a-token", nil), http.StatusUnauthorized, "invalid_token")
		expect(t, call(t, http.MethodGet, base+"/api/claw", session, nil), http.StatusNotFound, "no_tenant")
		if r := call(t, http.MethodGet, base+"/", session, nil); r.code != http.StatusOK || !strings.Contains(r.text, "Create") {
			t.Fatalf("the page without a tenant: %d %s", r.code, r.text)
		}

		made := call(t, http.MethodPost, base+"/api/claw", session, map[string]any{"name": "Alice's claw"})
		expect(t, made, http.StatusCreated, "")
		id, _ := made.json["id"].(string)
		// The cloud took the user from the forwarded session.
		if a := c.Admin(http.MethodGet, "/api/admin/tenants/"+id, nil).JSON(t); a["ownerId"] != "web-alice" || a["ownerEmail"] != "alice@example.com" {
			t.Fatalf("the tenant's owner is %v <%v>, want web-alice <alice@example.com>", a["ownerId"], a["ownerEmail"])
		}
		awaitRunning(t, base, session)
		if r := call(t, http.MethodGet, base+"/", session, nil); !strings.Contains(r.text, `data-status="running"`) || !strings.Contains(r.text, "Alice&#x27;s claw") {
			t.Fatalf("the page does not show the running tenant: %s", r.text)
		}

		link := call(t, http.MethodPost, base+"/api/claw/open", session, map[string]any{})
		expect(t, link, http.StatusCreated, "")
		if u, _ := link.json["url"].(string); !strings.Contains(u, "?t=") {
			t.Fatalf("the access link %q carries no one-time token", u)
		}
		form := call(t, http.MethodPost, base+"/api/claw/open", session, url.Values{})
		if loc := form.header.Get("Location"); form.code != http.StatusSeeOther || !strings.Contains(loc, "?t=") {
			t.Fatalf("Open from a form: %d, Location %q; want 303 to a one-time link", form.code, loc)
		}

		restarted := call(t, http.MethodPost, base+"/api/claw/restart", session, nil)
		expect(t, restarted, http.StatusAccepted, "")
		if restarted.json["restartGen"] != float64(1) {
			t.Fatalf("restartGen %v after a restart", restarted.json["restartGen"])
		}
		logs := call(t, http.MethodGet, base+"/api/claw/logs?tail=5", session, nil)
		expect(t, logs, http.StatusOK, "")
		if l, _ := logs.json["lines"].([]any); len(l) != 1 || l[0] != "gateway ready" {
			t.Fatalf("logs: %v", logs.json)
		}

		gone := call(t, http.MethodDelete, base+"/api/claw", session, nil)
		expect(t, gone, http.StatusAccepted, "")
		if gone.json["status"] != "deleting" {
			t.Fatalf("delete answered %v", gone.json)
		}
		// A session cookie over 4 KB comes in chunks: <name>.0, <name>.1, …
		chunked := "authjs.session-token.0=" + tok[:len(tok)/2] + "; authjs.session-token.1=" + tok[len(tok)/2:]
		expect(t, call(t, http.MethodGet, base+"/api/claw", chunked, nil), http.StatusNotFound, "no_tenant")
	})

	t.Run("SharedSecret", func(t *testing.T) {
		base := nextStart(t, app, "CLAWFLEET_URL="+c.URL, "CLAWFLEET_AUTH=shared-secret",
			"CLAWFLEET_SHARED_SECRET="+servertest.SharedSecret, "DEMO_SESSION_SECRET=the example's own session secret")
		expect(t, call(t, http.MethodGet, base+"/api/claw", "", nil), http.StatusUnauthorized, "unauthorized")
		in := call(t, http.MethodPost, base+"/api/demo-session", "", map[string]any{"id": "web-bob", "email": "bob@example.com"})
		var session string
		for _, ck := range in.cookies {
			if ck.Name == "demo_user" {
				session = ck.Name + "=" + ck.Value
			}
		}
		if in.code != http.StatusNoContent || session == "" {
			t.Fatalf("demo sign-in: %d, cookies %v", in.code, in.cookies)
		}
		expect(t, call(t, http.MethodGet, base+"/api/claw", session+"x", nil), http.StatusUnauthorized, "unauthorized")

		made := call(t, http.MethodPost, base+"/api/claw", session, url.Values{"name": {"Bob's claw"}})
		if made.code != http.StatusSeeOther || made.header.Get("Location") != "/" {
			t.Fatalf("create from a form: %d, Location %q; want 303 to /", made.code, made.header.Get("Location"))
		}
		// The app's user is the cloud's: the same tenant through the shared secret.
		mine := c.User(http.MethodGet, "/api/tenants/me", "web-bob", nil)
		if mine.Code != http.StatusOK || mine.JSON(t)["name"] != "Bob's claw" {
			t.Fatalf("web-bob's tenant in the cloud: %d %s", mine.Code, mine.Body)
		}
		awaitRunning(t, base, session)
		expect(t, call(t, http.MethodDelete, base+"/api/claw", session, nil), http.StatusAccepted, "")
	})
}

type answer struct {
	code    int
	text    string
	json    map[string]any
	header  http.Header
	cookies []*http.Cookie
}

var noRedirects = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// call sends a request to the example with a Cookie header; a url.Values
// body is sent as a form, anything else as JSON.
func call(t *testing.T, method, target, cookie string, body any) answer {
	t.Helper()
	var rd io.Reader
	typ := "application/json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, typ = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", typ)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{code: res.StatusCode, text: string(raw), header: res.Header, cookies: res.Cookies()}
	_ = json.Unmarshal(raw, &a.json)
	return a
}

// expect checks an answer's status and, when code is set, its error code.
func expect(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.code != status || (code != "" && a.json["code"] != code) {
		t.Fatalf("got %d %s; want %d %s", a.code, a.text, status, code)
	}
	if code != "" {
		if msg, _ := a.json["error"].(string); msg == "" {
			t.Fatalf("the error answer has no message: %s", a.text)
		}
	}
}

func awaitRunning(t *testing.T, base, cookie string) {
	t.Helper()
	tstest.Await(t, "the tenant running, as the example reads it", 20*time.Second, func() bool {
		return call(t, http.MethodGet, base+"/api/claw", cookie, nil).json["status"] == "running"
	})
}

// nextStart runs next start for the built example on a free loopback port
// until the test ends, and returns its URL.
func nextStart(t *testing.T, app string, env ...string) string {
	t.Helper()
	port := tstest.FreePort(t)
	cmd := exec.Command("node", "../node_modules/next/dist/bin/next", "start", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Dir = app
	cmd.Env = append(os.Environ(), append(env, "NEXT_TELEMETRY_DISABLED=1")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // its process group: next and what it started
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("next start's output:\n%s", out)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	tstest.AwaitErr(t, "next start answering", 30*time.Second, func() error {
		select {
		case <-exited:
			t.Fatalf("next start exited:\n%s", out)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/claw", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		return nil
	})
	return base
}
