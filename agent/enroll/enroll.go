// Package enroll exchanges an enrollment token for device credentials
// (POST {cloud}/api/enroll) and saves them in the agent's state directory.
package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/pkg/creds"
)

// maxResponse bounds the cloud's answer.
const maxResponse = 1 << 20

// ErrExists is returned when the state directory already holds credentials
// and Force is not set.
var ErrExists = errors.New("credentials already exist")

// Request is the body of POST /api/enroll.
type Request struct {
	Token    string            `json:"token"`
	Name     string            `json:"name"`
	Hostname string            `json:"hostname"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// APIError is an error answer of the cloud: JSON {"error","code"} with a 4xx
// or 5xx status.
type APIError struct {
	Status  int    // HTTP status code
	Code    string // machine-readable code, may be empty
	Message string // human-readable message
}

func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("enrollment refused (HTTP %d, %s): %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("enrollment refused (HTTP %d): %s", e.Status, e.Message)
}

// Params of an enrollment.
type Params struct {
	CloudURL string // http(s)://host[:port] of the cloud API
	Token    string
	StateDir string
	Name     string // default: Hostname
	Hostname string // default: os.Hostname()
	Labels   map[string]string
	Force    bool         // overwrite existing credentials
	Client   *http.Client // default: 30 s timeout
}

// Path returns the credentials file of a state directory.
func Path(stateDir string) string { return filepath.Join(stateDir, creds.FileName) }

// Enroll checks that no credentials exist (unless Force), asks the cloud for
// credentials and saves them with mode 0600. It returns the saved file's path
// and its contents. Nothing is written when any step fails.
func Enroll(ctx context.Context, p Params) (string, *creds.Credentials, error) {
	path := Path(p.StateDir)
	if p.StateDir == "" {
		return "", nil, errors.New("no state directory")
	}
	if !p.Force {
		if _, err := os.Stat(path); err == nil {
			return path, nil, fmt.Errorf("%w: %s", ErrExists, path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return path, nil, err
		}
	}
	c, err := Request{Token: p.Token, Name: p.Name, Hostname: p.Hostname, Labels: p.Labels}.Do(ctx, p.Client, p.CloudURL)
	if err != nil {
		return path, nil, err
	}
	if err := creds.Save(path, c); err != nil {
		return path, nil, fmt.Errorf("save credentials: %w", err)
	}
	return path, c, nil
}

// Do sends the request to the cloud and returns the credentials it issued.
// Empty Hostname and Name default to the host's name; an answer without
// cloudUrl gets cloudURL.
func (r Request) Do(ctx context.Context, client *http.Client, cloudURL string) (*creds.Credentials, error) {
	r.Token = creds.TrimToken(r.Token)
	if r.Token == "" {
		return nil, errors.New("no enrollment token")
	}
	base, err := url.Parse(strings.TrimRight(cloudURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("cloud URL %q is not a URL such as https://cloud.example.com", cloudURL)
	}
	if r.Hostname == "" {
		r.Hostname, _ = os.Hostname()
	}
	if r.Name == "" {
		r.Name = r.Hostname
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/api/enroll", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("contact the cloud: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("read the cloud's answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, apiError(resp, b)
	}
	var c creds.Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("the cloud's answer is not valid JSON: %w", err)
	}
	if c.CloudURL == "" {
		c.CloudURL = base.String()
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("the cloud's answer: %w", err)
	}
	return &c, nil
}

func apiError(resp *http.Response, body []byte) error {
	e := &APIError{Status: resp.StatusCode}
	var j struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(body, &j) == nil && j.Error != "" {
		e.Message, e.Code = j.Error, j.Code
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}
