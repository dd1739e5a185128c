package servertest

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// Browser is a console user's browser: it keeps cookies, follows
// redirects (to providers on loopback and back), sends JSON bodies and the
// session's CSRF token, as the console does.
//
//	b := c.Browser()
//	b.Do(http.MethodPost, "/auth/local/signup", map[string]any{"email": …, "password": …})
//	me := b.Me() // GET /api/me; keeps its csrfToken for later requests
type Browser struct {
	c      *Cloud
	Client *http.Client
	// CSRF is sent as X-CSRF-Token on requests that change state; Me sets
	// it.
	CSRF string
	// Stop, when set, ends redirect following before a request to a URL
	// it returns true for (Do then answers that redirect).
	Stop func(u *url.URL) bool
}

// Browser returns a new browser with no cookies.
func (c *Cloud) Browser() *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{c: c}
	b.Client = &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if b.Stop != nil && b.Stop(r.URL) {
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// Do sends a request to the cloud (path) or anywhere (an absolute URL),
// with body as JSON (a string as it is) and the CSRF token when set.
func (b *Browser) Do(method, path string, body any) Response {
	b.c.t.Helper()
	return b.DoHeaders(method, path, nil, body)
}

// DoHeaders is Do with more headers (they win over the defaults).
func (b *Browser) DoHeaders(method, path string, hdr map[string]string, body any) Response {
	b.c.t.Helper()
	target := path
	if !strings.Contains(path, "://") {
		target = b.c.URL + path
	}
	all := map[string]string{}
	if body != nil {
		all["Content-Type"] = "application/json"
	}
	if b.CSRF != "" && method != http.MethodGet {
		all["X-CSRF-Token"] = b.CSRF
	}
	for k, v := range hdr {
		all[k] = v
	}
	return b.c.send(b.Client, method, target, all, body)
}

// Me is GET /api/me; it fails the test unless signed in, and keeps the
// CSRF token.
func (b *Browser) Me() map[string]any {
	b.c.t.Helper()
	r := b.Do(http.MethodGet, "/api/me", nil)
	if r.Code != http.StatusOK {
		b.c.t.Fatalf("GET /api/me: %d %s", r.Code, r.Body)
	}
	m := r.JSON(b.c.t)
	b.CSRF, _ = m["csrfToken"].(string)
	return m
}

// Cookie is the value of the browser's cookie name for the cloud, "" if
// none.
func (b *Browser) Cookie(name string) string {
	u, _ := url.Parse(b.c.URL)
	for _, ck := range b.Client.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// SetCookie puts a cookie for the cloud into the browser.
func (b *Browser) SetCookie(name, value string) {
	u, _ := url.Parse(b.c.URL)
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// FreeAddr is a loopback address with a free port, for a cloud whose
// public URL must be known before it starts (a provider's redirect URI):
//
//	addr := servertest.FreeAddr(t)
//	c := servertest.New(t, servertest.WithFlags("--http-addr", addr, "--public-url", "http://"+addr))
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tstest.FreePort(t)))
}
