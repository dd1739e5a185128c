package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/downloads"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/gin-gonic/gin"
)

// bindJSON decodes exactly one JSON object with no unknown fields,
// answering 400 (or 413) and reporting false when the body is not one.
func (s *server) bindJSON(c *gin.Context, v any) bool {
	if err := decodeJSON(c.Request.Body, v); err != nil {
		s.failErr(c, err)
		return false
	}
	return true
}

func decodeJSON(r io.Reader, v any) error {
	body, err := io.ReadAll(r)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return errTooLarge
		}
		return errInvalidJSON.Withf("could not read the request body").Wrap(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errInvalidJSON.Withf("invalid JSON body: %v", err)
	}
	if dec.More() {
		return errInvalidJSON.Withf("invalid JSON body: more than one JSON value")
	}
	return nil
}

// parseDuration accepts Go durations plus a whole number of days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, apperr.Invalidf("duration %q: use e.g. \"30m\", \"1h\" or \"7d\"", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, apperr.Invalidf("duration %q: use e.g. \"30m\", \"1h\" or \"7d\"", s)
	}
	return d, nil
}

func (s *server) health(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	check := func(h Health) string {
		if h == nil {
			return "absent"
		}
		if err := h.Healthy(ctx); err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	}
	st, br := check(s.opts.Store), check(s.opts.Broker)
	status, code := "ok", http.StatusOK
	if st != "ok" || br != "ok" {
		status, code = "degraded", http.StatusServiceUnavailable
	}
	counts := s.opts.Fleet.Counts()
	c.JSON(code, gin.H{
		"status": status, "store": st, "broker": br, "version": s.opts.Version,
		"uptimeSeconds": int(time.Since(s.started).Seconds()),
		"hosts":         gin.H{"online": counts[store.HostOnline], "offline": counts[store.HostOffline], "pending": counts[store.HostPending]},
	})
}

// tokenView is an enrollment token as listed (never the token or its hash).
type tokenView struct {
	ID         string            `json:"id"`
	Labels     map[string]string `json:"labels"`
	Uses       int               `json:"uses"`
	UsesLeft   int               `json:"usesLeft"`
	ExpiresAt  time.Time         `json:"expiresAt"`
	Expired    bool              `json:"expired"`
	RevokedAt  *time.Time        `json:"revokedAt,omitempty"`
	LastUsedAt *time.Time        `json:"lastUsedAt,omitempty"`
	CreatedAt  time.Time         `json:"createdAt"`
	placementView
}

// placementView is a worker's pool and caps (0 = no cap), as the operator
// gives them and the API shows them.
type placementView struct {
	Pool           string `json:"pool"`
	MaxCPUMillis   int64  `json:"maxCpuMillis"`
	MaxMemoryBytes int64  `json:"maxMemoryBytes"`
}

func (p placementView) placement() store.HostPlacement {
	return store.HostPlacement{Pool: p.Pool, MaxCPUMillis: p.MaxCPUMillis, MaxMemoryBytes: p.MaxMemoryBytes}
}

func viewToken(t *store.EnrollmentToken) tokenView {
	labels := t.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return tokenView{ID: t.ID, Labels: labels, Uses: t.UsesTotal, UsesLeft: t.UsesLeft, ExpiresAt: t.ExpiresAt,
		Expired: !time.Now().Before(t.ExpiresAt), RevokedAt: t.RevokedAt, LastUsedAt: t.LastUsedAt, CreatedAt: t.CreatedAt,
		placementView: placementView{t.Pool, t.MaxCPUMillis, t.MaxMemoryBytes}}
}

func (s *server) createToken(c *gin.Context) {
	var req struct {
		TTL    string            `json:"ttl"`
		Uses   *int              `json:"uses"`
		Labels map[string]string `json:"labels"`
		placementView
	}
	if !s.bindJSON(c, &req) {
		return
	}
	if req.TTL == "" {
		req.TTL = "1h"
	}
	ttl, err := parseDuration(req.TTL)
	if err != nil {
		s.failErr(c, err)
		return
	}
	uses := 1
	if req.Uses != nil {
		uses = *req.Uses
	}
	plain, t, err := s.opts.Fleet.CreateEnrollmentToken(c.Request.Context(), fleet.TokenRequest{TTL: ttl, Uses: uses, Labels: req.Labels, Placement: req.placement()}, actorOf(c).Audit())
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, struct {
		Token string `json:"token"`
		tokenView
		EnrollCommand  string `json:"enrollCommand"`
		InstallCommand string `json:"installCommand"`
	}{plain, viewToken(t), fmt.Sprintf("clawfleet-agent enroll --cloud %s --token %s --state-dir /var/lib/clawfleet-agent", s.opts.CloudURL(c.Request), plain),
		downloads.InstallCommand(s.opts.CloudURL(c.Request), plain)})
}

func (s *server) listTokens(c *gin.Context) {
	ts, err := s.opts.Fleet.ListEnrollmentTokens(c.Request.Context())
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, views(ts, viewToken))
}

func (s *server) revokeToken(c *gin.Context) {
	t, err := s.opts.Fleet.RevokeEnrollmentToken(c.Request.Context(), c.Param("id"), actorOf(c).Audit())
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, viewToken(t))
}

// credentialsView is what a new device receives: the same fields as
// pkg/creds.Credentials, so it can be saved as credentials.json.
type credentialsView struct {
	DeviceID string `json:"deviceId"`
	Secret   string `json:"secret"`
	MQTTURL  string `json:"mqttUrl"`
	CloudURL string `json:"cloudUrl"`
}

func (s *server) enroll(c *gin.Context) {
	if !s.enrollRL.allow(s.clientIP(c.Request)) {
		s.failErr(c, errEnrollRate)
		return
	}
	var req struct {
		Token    string            `json:"token"`
		Name     string            `json:"name"`
		Hostname string            `json:"hostname"`
		Labels   map[string]string `json:"labels"`
	}
	if !s.bindJSON(c, &req) {
		return
	}
	if req.Token == "" {
		s.failErr(c, apperr.Invalidf("token is required"))
		return
	}
	id, secret, err := s.opts.Fleet.Enroll(c.Request.Context(), fleet.EnrollRequest{Token: req.Token, Name: req.Name, Hostname: req.Hostname, Labels: req.Labels})
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Kind == apperr.Unauthorized {
			s.log.Warn("enrollment refused", "ip", s.clientIP(c.Request), "err", err)
		}
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, credentialsView{DeviceID: id, Secret: secret, MQTTURL: s.opts.MQTTURL(c.Request.Host), CloudURL: s.opts.CloudURL(c.Request)})
}

func (s *server) provision(c *gin.Context) {
	var req struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
		placementView
	}
	if !s.bindJSON(c, &req) {
		return
	}
	id, secret, err := s.opts.Fleet.ProvisionWorker(c.Request.Context(), fleet.ProvisionRequest{Name: req.Name, Labels: req.Labels, Placement: req.placement()}, actorOf(c).Audit())
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, credentialsView{DeviceID: id, Secret: secret, MQTTURL: s.opts.MQTTURL(c.Request.Host), CloudURL: s.opts.CloudURL(c.Request)})
}

// hostView is a host as the API returns it.
type hostView struct {
	ID            string              `json:"id"`
	Name          string              `json:"name"`
	Hostname      string              `json:"hostname"`
	Status        string              `json:"status"`
	LastHeartbeat *string             `json:"lastHeartbeat"`
	AgentVersion  string              `json:"agentVersion"`
	OS            string              `json:"os"`
	Arch          string              `json:"arch"`
	CPUs          int                 `json:"cpus"`
	MemTotalBytes uint64              `json:"memTotalBytes"`
	Labels        map[string]string   `json:"labels"`
	Capabilities  proto.Capabilities  `json:"capabilities"`
	Metrics       proto.Metrics       `json:"metrics"`
	Tunnel        *proto.TunnelStatus `json:"tunnel,omitempty"`
	// CredentialsSharedAt: two devices use the host's credentials (the
	// latest sign of it, within a day).
	CredentialsSharedAt *string `json:"credentialsSharedAt,omitempty"`
	// WGPublicKey is the host's current WireGuard public key (it changes
	// with every rotation).
	WGPublicKey string `json:"wgPublicKey,omitempty"`
	CreatedAt   string `json:"createdAt"`
	// Kind is worker or box; a worker's pool and caps follow.
	Kind string `json:"kind"`
	placementView
}

func viewHost(h *store.Host) hostView {
	v := hostView{ID: h.ID, Name: h.Name, Hostname: h.Hostname, Status: h.Status, AgentVersion: h.AgentVersion, OS: h.OS, Arch: h.Arch,
		CPUs: h.CPUs, MemTotalBytes: h.MemTotalBytes, Labels: h.Labels, Capabilities: h.Capabilities, Metrics: h.Metrics, Tunnel: h.Tunnel,
		WGPublicKey: h.WGPublicKey, CreatedAt: h.CreatedAt.UTC().Format(time.RFC3339),
		Kind: h.Kind, placementView: placementView{h.Pool, h.MaxCPUMillis, h.MaxMemoryBytes}}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if h.LastHeartbeat != nil {
		t := h.LastHeartbeat.UTC().Format(time.RFC3339)
		v.LastHeartbeat = &t
	}
	if h.CredentialsSharedAt != nil {
		t := h.CredentialsSharedAt.UTC().Format(time.RFC3339)
		v.CredentialsSharedAt = &t
	}
	return v
}

// hostLoadView is a host with, when the API has HostLoads, its tenant
// capacity, what its tenants reserve and their number.
type hostLoadView struct {
	hostView
	*tenant.HostLoad
}

// viewHosts is hs as the API returns them.
func (s *server) viewHosts(ctx context.Context, hs []store.Host) ([]hostLoadView, error) {
	var loads map[string]tenant.HostLoad
	if s.opts.HostLoads != nil {
		var err error
		if loads, err = s.opts.HostLoads.HostLoads(ctx, hs); err != nil {
			return nil, err
		}
	}
	out := make([]hostLoadView, 0, len(hs))
	for i := range hs {
		v := hostLoadView{hostView: viewHost(&hs[i])}
		if loads != nil {
			l := loads[hs[i].ID]
			v.HostLoad = &l
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *server) listHosts(c *gin.Context) {
	hs, err := s.opts.Fleet.ListHosts(c.Request.Context())
	if err != nil {
		s.failErr(c, err)
		return
	}
	out, err := s.viewHosts(c.Request.Context(), hs)
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *server) getHost(c *gin.Context) {
	h, err := s.opts.Fleet.GetHost(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.failErr(c, err)
		return
	}
	out, err := s.viewHosts(c.Request.Context(), []store.Host{*h})
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, out[0])
}

// rotateHostKey makes a host replace its WireGuard key (admin-forced
// rotation, e.g. after a suspected leak); answers with the new public key.
func (s *server) rotateHostKey(c *gin.Context) {
	pub, err := s.opts.HostKeys.Rotate(c.Request.Context(), c.Param("id"), actorOf(c).Audit())
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"hostId": c.Param("id"), "wgPublicKey": pub})
}

// setPlacement changes a worker's pool and caps (PATCH /api/hosts/:id);
// fields left out keep their value.
func (s *server) setPlacement(c *gin.Context) {
	var req struct {
		Pool           *string `json:"pool"`
		MaxCPUMillis   *int64  `json:"maxCpuMillis"`
		MaxMemoryBytes *int64  `json:"maxMemoryBytes"`
	}
	if !s.bindJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	h, err := s.opts.Fleet.GetHost(ctx, c.Param("id"))
	if err != nil {
		s.failErr(c, err)
		return
	}
	p := store.HostPlacement{Pool: h.Pool, MaxCPUMillis: h.MaxCPUMillis, MaxMemoryBytes: h.MaxMemoryBytes}
	if req.Pool != nil {
		p.Pool = *req.Pool
	}
	if req.MaxCPUMillis != nil {
		p.MaxCPUMillis = *req.MaxCPUMillis
	}
	if req.MaxMemoryBytes != nil {
		p.MaxMemoryBytes = *req.MaxMemoryBytes
	}
	if h, err = s.opts.Fleet.SetPlacement(ctx, h.ID, p, actorOf(c).Audit()); err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, viewHost(h))
}

func (s *server) deleteHost(c *gin.Context) {
	if err := s.opts.Fleet.DeleteHost(c.Request.Context(), c.Param("id"), actorOf(c).Audit()); err != nil {
		s.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *server) getSettings(c *gin.Context) {
	// cloudUrl is what hosts are told to reach (the public URL when set):
	// the console builds its commands with it, not with the browser's address.
	c.JSON(http.StatusOK, gin.H{"heartbeatInterval": s.opts.Fleet.HeartbeatInterval().String(), "cloudUrl": s.opts.CloudURL(c.Request)})
}

func (s *server) putSettings(c *gin.Context) {
	var req struct {
		HeartbeatInterval string `json:"heartbeatInterval"`
	}
	if !s.bindJSON(c, &req) {
		return
	}
	d, err := parseDuration(req.HeartbeatInterval)
	if err == nil {
		err = s.opts.Fleet.SetHeartbeatInterval(c.Request.Context(), d, actorOf(c).Audit())
	}
	if err != nil {
		s.failErr(c, err)
		return
	}
	s.getSettings(c)
}

func (s *server) listAudit(c *gin.Context) {
	limit, err := strconv.Atoi(c.DefaultQuery("limit", "100"))
	if err != nil || limit < 1 || limit > 1000 {
		s.failErr(c, apperr.Invalidf("limit must be a number between 1 and 1000"))
		return
	}
	q := store.AuditQuery{Limit: limit, Actor: c.Query("actor"), Target: c.Query("target"), Action: c.Query("action")}
	if v := c.Query("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			s.failErr(c, apperr.Invalidf("before must be an event id (a positive number)"))
			return
		}
		q.Before = uint(n)
	}
	for _, v := range []string{q.Actor, q.Target, q.Action} {
		if len(v) > 255 {
			s.failErr(c, apperr.Invalidf("actor, target and action are at most 255 characters"))
			return
		}
	}
	es, err := s.opts.Fleet.QueryAudit(c.Request.Context(), q)
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, es)
}
