// Package adminapi calls the cloud's admin API as the command-line tools
// do (clawfleet-provision, clawfleet-agent adopt): JSON bodies, the admin
// token as a bearer token, and the cloud's refusals as *Error.
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client is the cloud's admin API.
type Client struct {
	// BaseURL is the cloud's API, e.g. https://cloud.example.com.
	BaseURL    string
	AdminToken string
	// HTTP is the client used; nil is one with a 60 s timeout (the cloud
	// waits up to 15 s for a host's answer).
	HTTP *http.Client
}

// Error is a refusal of the cloud: its HTTP status, the stable code and
// the message of its JSON answer {"error","code"}.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("cloud answered %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("cloud answered %d: %s", e.Status, e.Message)
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = 4 << 20

// Do sends body (JSON; nil for none) to path and decodes an answer with
// one of the statuses ok (any 2xx when none is given) into out, returning
// its status; any other answer is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, ok ...int) (int, error) {
	base, err := url.Parse(strings.TrimRight(c.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return 0, fmt.Errorf("cloud URL %q: want http(s)://host[:port]", c.BaseURL)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base.String()+path, rd)
	if err != nil {
		return 0, fmt.Errorf("cloud URL %q: %w", c.BaseURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reach the cloud at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, fmt.Errorf("read the cloud's answer: %w", err)
	}
	good := resp.StatusCode/100 == 2 && len(ok) == 0
	for _, s := range ok {
		good = good || resp.StatusCode == s
	}
	if !good {
		e := &Error{Status: resp.StatusCode}
		var j struct{ Error, Code string }
		if json.Unmarshal(raw, &j) == nil && j.Error != "" {
			e.Message, e.Code = j.Error, j.Code
		} else if e.Message = strings.TrimSpace(string(raw)); e.Message == "" || len(e.Message) > 200 {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return 0, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, fmt.Errorf("the cloud's answer to %s %s is not what was expected: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}
