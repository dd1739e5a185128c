package benchutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Call sends a JSON request (body may be nil) and returns the status and body.
func Call(ctx context.Context, method, url string, hdr map[string]string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Admin returns the admin API's headers.
func (c *Cloud) Admin() map[string]string {
	return map[string]string{"Authorization": "Bearer " + c.AdminToken}
}

// StartAgent provisions one device through the admin API, writes its
// credentials into stateDir and starts agentBin run for it (under
// AgentPrefix) with args added (its output goes to logPath, log level from
// level). Stop it with Stop.
func (c *Cloud) StartAgent(ctx context.Context, agentBin, stateDir, logPath, level string, args ...string) (*exec.Cmd, error) {
	code, out, err := Call(ctx, "POST", c.URL("/api/admin/devices"), c.Admin(), map[string]string{"name": "bench-host"})
	if err != nil || code != 201 {
		return nil, fmt.Errorf("provision: %d %s %v", code, out, err)
	}
	var cr creds.Credentials
	if err := json.Unmarshal(out, &cr); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	if err := creds.Save(filepath.Join(stateDir, creds.FileName), &cr); err != nil {
		return nil, err
	}
	os.Chmod(stateDir, 0o711) // process-runtime gateways run unprivileged and pass through it
	argv := append(append(append([]string(nil), c.AgentPrefix...), agentBin, "run", "--state-dir", stateDir), args...)
	agent := exec.Command(argv[0], argv[1:]...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	agent.Stdout, agent.Stderr = logf, logf
	agent.Env = append(append(os.Environ(), "CLAWFLEET_LOG_LEVEL="+level), c.AgentEnv...)
	err = agent.Start()
	logf.Close() // the child has its own descriptor
	return agent, err
}

// Host is a host as GET /api/hosts shows it.
type Host struct {
	ID, Status string
	Tunnel     *proto.TunnelStatus
}

// WaitHost polls GET /api/hosts every 100 ms until the one host satisfies ok
// (60 s at most).
func (c *Cloud) WaitHost(ctx context.Context, what string, ok func(Host) bool) (Host, error) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		_, out, err := Call(ctx, "GET", c.URL("/api/hosts"), c.Admin(), nil)
		var hs []Host
		if err == nil && json.Unmarshal(out, &hs) == nil && len(hs) == 1 && ok(hs[0]) {
			return hs[0], nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return Host{}, errors.New("bench host not " + what + " after 60 s; see agent.log")
}
