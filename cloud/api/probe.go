package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// probe checks a tenant's gateway from the cloud through its host's
// WireGuard tunnel: GET /healthz on the gateway's port. It is the path the
// subdomain router will take, so it tells an operator whether the tunnel,
// the agent's forwarder and the gateway all work.
func (ta *tenantAPI) probe(c *gin.Context) {
	t := tenantOf(c)
	dial := ta.opts.TunnelDial
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dial(ctx, t.HostID, t.Port)
			},
			DisableKeepAlives: true,
		},
	}
	start := time.Now()
	req, _ := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, fmt.Sprintf("http://%s.tunnel/healthz", t.Slug), nil)
	resp, err := client.Do(req)
	if err != nil {
		c.JSON(http.StatusBadGateway, gin.H{"ok": false, "code": "tunnel_unreachable", "error": "gateway not reachable through the tunnel: " + err.Error(),
			"hostId": t.HostID, "port": t.Port})
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	c.JSON(http.StatusOK, gin.H{"ok": resp.StatusCode == http.StatusOK, "status": resp.StatusCode, "via": "tunnel",
		"hostId": t.HostID, "port": t.Port, "latencyMs": time.Since(start).Milliseconds()})
}
