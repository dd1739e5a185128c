// Package provisioning is the factory side of device identity: it
// pre-registers devices with the cloud and writes the credentials.json that is
// flashed onto each box (the same format `clawfleet-agent enroll` writes).
package provisioning

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/pkg/creds"
)

// Client talks to the cloud's admin API.
type Client struct {
	CloudURL   string // e.g. https://cloud.example.com
	AdminToken string
	HTTP       *http.Client // nil = 30 s timeout client
}

// APIError is an error answer from the cloud.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("cloud answered %d %s: %s", e.Status, e.Code, e.Message)
}

// ProvisionDevice pre-registers one device and returns its credentials.
// mqttURL, when set, replaces the broker URL the cloud suggests (a factory
// often reaches the cloud by another name than the boxes will).
func (c *Client) ProvisionDevice(ctx context.Context, name string, labels map[string]string, mqttURL string) (*creds.Credentials, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "labels": labels})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.CloudURL, "/")+"/api/admin/devices", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("cloud URL %q: %w", c.CloudURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the cloud at %s: %w", c.CloudURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the cloud's answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct{ Error, Code string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
	}
	var cr creds.Credentials
	if err := json.Unmarshal(b, &cr); err != nil {
		return nil, fmt.Errorf("the cloud's answer is not credentials: %w", err)
	}
	if mqttURL != "" {
		cr.MQTTURL = mqttURL
	}
	if err := cr.Validate(); err != nil {
		return nil, err
	}
	return &cr, nil
}
