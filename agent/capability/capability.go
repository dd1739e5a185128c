// Package capability detects what the agent can do on its host: whether a
// Docker engine answers, which WireGuard modes are available and which
// workload runtimes follow from that.
package capability

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// WireGuard modes and runtimes, as reported in proto.Capabilities.
const (
	WGKernel   = "kernel"
	WGTun      = "tun"
	WGNetstack = "netstack"

	RuntimeDocker  = "docker"
	RuntimeProcess = "process"
)

// DefaultDockerSocket is where the Docker engine listens unless DOCKER_HOST
// names another unix socket.
const DefaultDockerSocket = "/var/run/docker.sock"

// Detector probes the host. Its zero value probes the real host; tests point
// the fields elsewhere.
type Detector struct {
	// DockerSocket is the engine's unix socket; empty means DOCKER_HOST when
	// it is a unix:// URL, else DefaultDockerSocket.
	DockerSocket string
	// DockerTimeout bounds the /_ping request; 1 s when zero.
	DockerTimeout time.Duration
	// WireGuardModule exists when the kernel module is loaded; default /sys/module/wireguard.
	WireGuardModule string
	// TunDevice is opened to test for TUN support; default /dev/net/tun.
	TunDevice string
	// IsRoot reports whether the agent runs as root; default os.Geteuid() == 0.
	IsRoot func() bool
}

// Detect probes the host with the default Detector.
func Detect(ctx context.Context) proto.Capabilities { return Detector{}.Detect(ctx) }

// Detect probes the host. It takes at most DockerTimeout.
func (d Detector) Detect(ctx context.Context) proto.Capabilities {
	c := proto.Capabilities{Docker: d.DockerAvailable(ctx), WireGuardModes: d.WireGuardModes()}
	if c.Docker {
		c.Runtimes = append(c.Runtimes, RuntimeDocker)
	}
	c.Runtimes = append(c.Runtimes, RuntimeProcess)
	return c
}

// WireGuardModes lists the WireGuard modes this host can run, best first:
// kernel when the module is loaded, tun when root can open the TUN device,
// and always netstack. The agent's auto mode tries them in this order.
func (d Detector) WireGuardModes() []string {
	var modes []string
	if exists(or(d.WireGuardModule, "/sys/module/wireguard")) {
		modes = append(modes, WGKernel)
	}
	isRoot := d.IsRoot
	if isRoot == nil {
		isRoot = func() bool { return os.Geteuid() == 0 }
	}
	if isRoot() && canOpen(or(d.TunDevice, "/dev/net/tun")) {
		modes = append(modes, WGTun)
	}
	return append(modes, WGNetstack)
}

// DockerSocketPath returns the socket Detect will ping.
func (d Detector) DockerSocketPath() string {
	if d.DockerSocket != "" {
		return d.DockerSocket
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if u, err := url.Parse(h); err == nil && u.Scheme == "unix" && u.Path != "" {
			return u.Path
		}
	}
	return DefaultDockerSocket
}

// DockerAvailable reports whether a Docker engine answers GET /_ping on the
// socket within the timeout.
func (d Detector) DockerAvailable(ctx context.Context) bool {
	timeout := d.DockerTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sock := d.DockerSocketPath()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "OK"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func canOpen(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
