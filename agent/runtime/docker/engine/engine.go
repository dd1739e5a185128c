// Package engine is a small client of the Docker Engine API over its unix
// socket: the calls the docker runtime (and its tests and benchmarks) make,
// without the Docker SDK and its dependencies in the agent.
package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxAPI is the newest Engine API version this client speaks; older
// daemons (down to minAPI) are spoken to in their own version.
const (
	maxAPI = "1.43"
	minAPI = "1.40"
)

// Client speaks the Engine API over a unix socket.
type Client struct {
	http    *http.Client
	version string
}

// APIError is an Engine API error response.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("docker: %d: %s", e.Status, e.Message) }

// IsNotFound reports whether err is the Engine's 404 (no such container,
// volume, image...).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// DefaultSocket is the unix path of DOCKER_HOST, else /var/run/docker.sock.
func DefaultSocket() string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	return "/var/run/docker.sock"
}

// New connects to the Engine on socket ("": DefaultSocket) with GET /version
// and negotiates the API version.
func New(socket string) (*Client, error) {
	if socket == "" {
		socket = DefaultSocket()
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    8,
		IdleConnTimeout: 30 * time.Second,
	}
	c := &Client{http: &http.Client{Transport: tr}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v struct{ ApiVersion, MinAPIVersion, Version string }
	if _, err := c.Do(ctx, "GET", "/version", nil, nil, &v); err != nil {
		return nil, fmt.Errorf("no Docker Engine answering on %s: %w", socket, err)
	}
	switch {
	case v.ApiVersion == "":
		return nil, errors.New("/version has no ApiVersion")
	case versionLess(v.ApiVersion, minAPI):
		return nil, fmt.Errorf("Docker Engine %s (API %s) is too old; API %s or newer is needed", v.Version, v.ApiVersion, minAPI)
	case versionLess(v.ApiVersion, maxAPI):
		c.version = v.ApiVersion
	default:
		c.version = maxAPI
	}
	return c, nil
}

// Version is the negotiated Engine API version.
func (c *Client) Version() string { return c.version }

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func versionLess(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	for i := 0; i < 2; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// Raw sends a request and returns the response when its status is < 400
// (the caller closes its body), else an *APIError.
func (c *Client) Raw(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := "http://docker"
	if c.version != "" {
		u += "/v" + c.version
	}
	u += path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var m struct{ Message string }
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: m.Message}
	}
	return resp, nil
}

// Do sends a JSON request (body may be nil) and decodes a JSON answer into
// out (may be nil). 304 Not Modified (already started/stopped) is success.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body, out any) (int, error) {
	var rd io.Reader
	ct := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.Raw(ctx, method, path, q, rd, ct)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("docker %s %s: %w", method, path, err)
		}
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	}
	return resp.StatusCode, nil
}

// Pull pulls an image from its registry.
func (c *Client) Pull(ctx context.Context, ref string) error {
	q := url.Values{"fromImage": {ref}}
	resp, err := c.Raw(ctx, "POST", "/images/create", q, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readJSONStream(resp.Body, nil)
}

// ImageLabels returns the labels of a local image, or ok=false when the
// image is not on this host.
func (c *Client) ImageLabels(ctx context.Context, ref string) (labels map[string]string, ok bool, err error) {
	var img struct {
		Config struct{ Labels map[string]string }
	}
	if _, err := c.Do(ctx, "GET", "/images/"+ref+"/json", nil, nil, &img); err != nil {
		if IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return img.Config.Labels, true, nil
}

// BuildImage builds an image with the classic builder (no BuildKit, no
// registry needed for FROM scratch) from a tar build context containing a
// Dockerfile.
func (c *Client) BuildImage(ctx context.Context, tag string, contextTar io.Reader) error {
	q := url.Values{"t": {tag}, "rm": {"1"}, "forcerm": {"1"}}
	resp, err := c.Raw(ctx, "POST", "/build", q, contextTar, "application/x-tar")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out strings.Builder
	if err := readJSONStream(resp.Body, &out); err != nil {
		return fmt.Errorf("building %s: %w\n%s", tag, err, out.String())
	}
	return nil
}

// readJSONStream consumes a progress stream ({"stream":...} / {"error":...}
// objects) and returns its error, if any.
func readJSONStream(r io.Reader, log *strings.Builder) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if log != nil && log.Len() < 64<<10 {
			log.WriteString(m.Stream)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// DemuxLogs reads a multiplexed log stream (8-byte headers: stream type,
// 3 zero bytes, big-endian payload length) and returns the payloads,
// keeping the last max bytes. A stream without headers (TTY) is returned
// as is.
func DemuxLogs(r io.Reader, max int) ([]byte, error) {
	br := bufio.NewReader(r)
	var out []byte
	keep := func(p []byte) {
		out = append(out, p...)
		if len(out) > 2*max {
			out = append([]byte(nil), out[len(out)-max:]...)
		}
	}
	first := true
	for {
		hdr, err := br.Peek(8)
		if len(hdr) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if first && (len(hdr) < 8 || hdr[0] > 2 || hdr[1] != 0 || hdr[2] != 0 || hdr[3] != 0) {
			b, err := io.ReadAll(io.LimitReader(br, 64<<20))
			keep(b)
			return tailBytes(out, max), err
		}
		first = false
		if len(hdr) < 8 {
			return tailBytes(out, max), io.ErrUnexpectedEOF
		}
		n := binary.BigEndian.Uint32(hdr[4:8])
		br.Discard(8)
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return tailBytes(out, max), err
		}
		keep(p)
	}
	return tailBytes(out, max), nil
}

func tailBytes(b []byte, max int) []byte {
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}

// ReadFile returns the last max bytes of the regular file at path inside a
// container (running or not; Docker reads it through the container's
// mounts), from the archive endpoint, and whether it was longer. A missing
// file (or container) is an error IsNotFound recognises.
func (c *Client) ReadFile(ctx context.Context, container, path string, max int) (data []byte, truncated bool, err error) {
	resp, err := c.Raw(ctx, "GET", "/containers/"+url.PathEscape(container)+"/archive", url.Values{"path": {path}}, nil, "")
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	tr := tar.NewReader(resp.Body)
	h, err := tr.Next()
	if err != nil {
		return nil, false, fmt.Errorf("reading %s of container %s: %w", path, container, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil, false, fmt.Errorf("%s of container %s is not a regular file", path, container)
	}
	// Keep the tail: log files are read for their newest lines.
	buf := make([]byte, 0, min(int64(max), h.Size))
	chunk := make([]byte, 32<<10)
	for {
		n, rerr := tr.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if len(buf) > 2*max {
			buf, truncated = append([]byte(nil), buf[len(buf)-max:]...), true
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, false, fmt.Errorf("reading %s of container %s: %w", path, container, rerr)
		}
	}
	if len(buf) > max {
		buf, truncated = buf[len(buf)-max:], true
	}
	return buf, truncated, nil
}

// PutArchive extracts a tar stream into the directory dir of a container
// (running or not), through the archive endpoint.
func (c *Client) PutArchive(ctx context.Context, container, dir string, tarStream io.Reader) error {
	resp, err := c.Raw(ctx, "PUT", "/containers/"+url.PathEscape(container)+"/archive", url.Values{"path": {dir}}, tarStream, "application/x-tar")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
