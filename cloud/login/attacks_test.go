package login_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/login/logintest"
)

// TestFlowAttacks runs the attacks on the flow itself against every kind of
// provider, each served on loopback the way the real one answers.
func TestFlowAttacks(t *testing.T) {
	for _, p := range []struct {
		name string
		// setup returns the cloud and a way to make the user refuse at the
		// provider (nil: the refusal is written into the callback).
		setup func(t *testing.T) (*cloud, func(bool))
		// pkce: a code is bound to the flow that asked for it.
		pkce bool
		// usedCode is what the provider's refusal of a reused code says.
		usedCode string
	}{
		{name: "oidc", pkce: true, usedCode: "invalid_grant", setup: func(t *testing.T) (*cloud, func(bool)) {
			return newOIDCCloud(t, []string{"oidc"}, logintest.NewOIDC(t)), nil
		}},
		{name: "github", pkce: true, usedCode: "bad_verification_code", setup: func(t *testing.T) (*cloud, func(bool)) {
			gh, c := newGitHubCloud(t)
			return c, gh.Deny
		}},
		{name: "wechat", usedCode: "40163", setup: func(t *testing.T) (*cloud, func(bool)) {
			wx, c := newWeChatCloud(t)
			return c, wx.Deny
		}},
	} {
		t.Run(p.name, func(t *testing.T) {
			c, deny := p.setup(t)
			t.Run("forged state", func(t *testing.T) {
				b := c.browser(t)
				cb := c.start(t, b, p.name, "/")
				status, r := c.callback(t, b, withQuery(cb, func(q url.Values) { q.Set("state", "forged") }))
				wantCode(t, "forged state", status, r, 400, "sign_in_invalid")
				// The forged callback did not cancel the real sign-in.
				status, r = c.callback(t, b, cb)
				wantCode(t, "the real callback after a forged one", status, r, 200, "")
			})
			t.Run("callback in another browser (login CSRF)", func(t *testing.T) {
				cb := c.start(t, c.browser(t), p.name, "/")
				status, r := c.callback(t, c.browser(t), cb)
				wantCode(t, "callback without the flow cookie", status, r, 400, "sign_in_invalid")
			})
			t.Run("replayed state", func(t *testing.T) {
				b := c.browser(t)
				cb := c.start(t, b, p.name, "/")
				status, r := c.callback(t, b, cb)
				wantCode(t, "first callback", status, r, 200, "")
				// The cookie is cleared on success; an attacker who kept it
				// replays both.
				status, r = c.callback(t, browserWithFlow(t, c, c.flows.saved[len(c.flows.saved)-1]), cb)
				wantCode(t, "replayed callback", status, r, 400, "sign_in_used")
			})
			t.Run("code reuse", func(t *testing.T) {
				status, r := c.reuseCode(t, p.name)
				wantCode(t, "reused code", status, r, 401, "sign_in_code_refused")
				if !strings.Contains(r.Error, p.usedCode) {
					t.Fatalf("reused code: %s, want the provider's %s", r.Error, p.usedCode)
				}
			})
			if p.pkce {
				t.Run("stolen code without the verifier", func(t *testing.T) {
					status, r := c.stealCode(t, p.name)
					wantCode(t, "a code exchanged with another flow's PKCE verifier", status, r, 401, "sign_in_code_refused")
				})
			}
			t.Run("expired flow", func(t *testing.T) {
				c.flows.shift = -login.FlowTTL - time.Second
				defer func() { c.flows.shift = 0 }()
				b := c.browser(t)
				status, r := c.callback(t, b, c.start(t, b, p.name, "/"))
				wantCode(t, "callback after the flow expired", status, r, 400, "sign_in_expired")
			})
			t.Run("user refuses", func(t *testing.T) {
				b := c.browser(t)
				if deny != nil {
					deny(true)
					defer deny(false)
				}
				cb := c.start(t, b, p.name, "/")
				if deny == nil {
					cb = withQuery(cb, func(q url.Values) {
						q.Del("code")
						q.Set("error", "access_denied")
						q.Set("error_description", "The user denied the request")
					})
				}
				status, r := c.callback(t, b, cb)
				wantCode(t, "refused at the provider", status, r, 403, "sign_in_denied")
			})
		})
	}
}
