// Package login signs people in to the cloud: the identity providers (OIDC by
// discovery, GitHub, WeChat website login), the sign-in flow that runs
// between the browser, the cloud and a provider (state, nonce and PKCE kept
// sealed, single use, expiring; return_to only to our own origin), and the
// primitives of local accounts (argon2id password hashes, the password
// policy, a login rate limiter that never refuses a correct password for
// someone else's failures, one-time tokens for email verification and
// password reset, and the text of the mails that carry them).
//
// It knows nothing of users, sessions or HTTP routes: the caller maps an
// Identity to a user and keeps the flow value in a cookie. See
// docs/sign-in.md.
package login

import (
	"context"
	"net/http"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
)

// Identity is who a provider says signed in. (Provider, Subject) identifies
// a person at that provider; an email never does on its own.
type Identity struct {
	// Provider is the configured provider name: "oidc", "google", "github",
	// "wechat", or a name from the providers file.
	Provider string `json:"provider"`
	// Issuer is the OIDC issuer URL ("iss"); for GitHub and WeChat the
	// provider's API base URL. It lets a caller map the identities of an
	// issuer that also signs the SSO tokens to the same users.
	Issuer string `json:"issuer"`
	// Subject is stable at the provider: the OIDC "sub", GitHub's numeric
	// user id, WeChat's unionid (or openid without one).
	Subject string `json:"subject"`
	// Email is empty when the provider gave none. It may be used to link
	// accounts only when EmailVerified is true.
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"emailVerified"`
	Name          string `json:"name,omitempty"`
	AvatarURL     string `json:"avatarUrl,omitempty"`
}

// VerifiedEmail is the email the provider vouches for, or "" and false.
func (id Identity) VerifiedEmail() (string, bool) {
	if id.Email == "" || !id.EmailVerified {
		return "", false
	}
	return id.Email, true
}

// Provider is one way to sign in. Implementations are safe for concurrent
// use.
type Provider interface {
	// Name is the provider's name in URLs (/auth/<name>) and identities.
	Name() string
	// DisplayName is what its sign-in button says.
	DisplayName() string
	// AuthURL is where the browser is sent to sign in for f.
	AuthURL(ctx context.Context, f Flow) (string, error)
	// Finish exchanges the code the provider sent back for f, verifies what
	// it got and says who signed in.
	Finish(ctx context.Context, f Flow, code string) (Identity, error)
}

// Every error a sign-in can end with wraps one of these, so the HTTP layer
// answers with apperr.Public and the console can show Describe(err, lang).
var (
	ErrUnknownProvider = sentinel(apperr.NotFound, "unknown_provider", "no such sign-in provider", "没有这个登录方式。")
	ErrFlowInvalid     = sentinel(apperr.Invalid, "sign_in_invalid", "this sign-in was not started in this browser or was tampered with; start it again", "这次登录不是在本浏览器中发起的，或已被篡改，请重新登录。")
	ErrFlowExpired     = sentinel(apperr.Invalid, "sign_in_expired", "the sign-in took too long; start it again", "登录用时过长，请重新登录。")
	ErrFlowUsed        = sentinel(apperr.Invalid, "sign_in_used", "this sign-in was already completed; start it again", "这次登录已经完成过，请重新登录。")
	ErrDenied          = sentinel(apperr.Forbidden, "sign_in_denied", "the sign-in was cancelled or refused at the provider", "登录已在身份提供方处被取消或拒绝。")
	ErrCodeRefused     = sentinel(apperr.Unauthorized, "sign_in_code_refused", "the provider refused the sign-in code (used already, expired or not ours); start the sign-in again", "身份提供方拒绝了登录授权码（已被使用、已过期或不属于本站），请重新登录。")
	ErrTokenInvalid    = sentinel(apperr.Unauthorized, "sign_in_token_invalid", "the provider's answer could not be verified", "无法验证身份提供方的应答。")
	ErrProvider        = sentinel(apperr.Upstream, "sign_in_provider_error", "the sign-in provider could not be reached or answered with an error; try again later", "无法连接登录服务，或其返回了错误，请稍后再试。")
	ErrBusy            = sentinel(apperr.RateLimited, "sign_in_busy", "too many sign-ins are under way; try again in a minute", "正在进行的登录过多，请一分钟后再试。")
)

// DefaultHTTPClient is what providers talk to their servers with when the
// configuration names none: a bounded time for each call.
func DefaultHTTPClient() *http.Client { return &http.Client{Timeout: 15 * time.Second} }

// maxBody bounds what is read from a provider's answer.
const maxBody = 1 << 20
