// Package provisioning is the factory side of device identity: it
// pre-registers devices with the cloud and writes the credentials.json that is
// flashed onto each box (the same format `clawfleet-agent enroll` writes),
// one at a time (ProvisionDevice) or as a batch of boxes with their claim
// labels (RunBatch).
package provisioning

import (
	"context"
	"net/http"
	"net/url"

	"github.com/clawfleet/clawfleet/pkg/adminapi"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// Client talks to the cloud's admin API.
type Client struct {
	CloudURL   string // e.g. https://cloud.example.com
	AdminToken string
	HTTP       *http.Client // nil = 60 s timeout client
}

// APIError is an error answer from the cloud.
type APIError = adminapi.Error

// do sends body (JSON) to path with the admin token and decodes an answer
// with one of the statuses ok into out; any other answer is an *APIError.
func (c *Client) do(ctx context.Context, method, path string, body, out any, ok ...int) (int, error) {
	a := adminapi.Client{BaseURL: c.CloudURL, AdminToken: c.AdminToken, HTTP: c.HTTP}
	return a.Do(ctx, method, path, body, out, ok...)
}

// ProvisionDevice pre-registers one worker and returns its credentials.
// mqttURL, when set, replaces the broker URL the cloud suggests (a factory
// often reaches the cloud by another name than the boxes will).
func (c *Client) ProvisionDevice(ctx context.Context, name string, labels map[string]string, mqttURL string) (*creds.Credentials, error) {
	var cr creds.Credentials
	if _, err := c.do(ctx, http.MethodPost, "/api/admin/devices", map[string]any{"name": name, "labels": labels}, &cr, http.StatusCreated); err != nil {
		return nil, err
	}
	if mqttURL != "" {
		cr.MQTTURL = mqttURL
	}
	if err := cr.Validate(); err != nil {
		return nil, err
	}
	return &cr, nil
}

// BatchInfo is a batch as the cloud answers its creation.
type BatchInfo struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Devices int    `json:"devices"`
	// MQTTURL and CloudURL are what the cloud suggests for the batch's
	// credentials.
	MQTTURL  string `json:"mqttUrl"`
	CloudURL string `json:"cloudUrl"`
}

// CreateBatch creates a batch, or finds the existing batch of that ID and
// model (created false).
func (c *Client) CreateBatch(ctx context.Context, id, model string) (b *BatchInfo, created bool, err error) {
	b = &BatchInfo{}
	st, err := c.do(ctx, http.MethodPut, "/api/admin/batches/"+url.PathEscape(id), map[string]any{"model": model}, b, http.StatusCreated, http.StatusOK)
	if err != nil {
		return nil, false, err
	}
	return b, st == http.StatusCreated, nil
}

// Device is one device of a batch as it is registered: the secret's
// SHA-256, never the secret.
type Device struct {
	Index      int    `json:"index"`
	DeviceID   string `json:"deviceId"`
	SecretHash string `json:"secretHash"`
	ClaimCode  string `json:"claimCode"`
}

// Registered says what a registration did: devices new to the cloud, and
// devices it had already.
type Registered struct {
	New      int `json:"registered"`
	Existing int `json:"existing"`
}

// RegisterDevices registers devices of a batch (at most 200 a call).
func (c *Client) RegisterDevices(ctx context.Context, batchID string, devs []Device) (Registered, error) {
	var r Registered
	_, err := c.do(ctx, http.MethodPost, "/api/admin/batches/"+url.PathEscape(batchID)+"/devices", map[string]any{"devices": devs}, &r, http.StatusOK)
	return r, err
}
