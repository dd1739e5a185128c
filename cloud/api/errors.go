package api

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/clawfleet/clawfleet/cloud/accounts"
	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/gin-gonic/gin"
)

// The API's own failures: the shape of a request, who sends it, and how
// often. The services declare theirs (tenant.ErrNoTenant, fleet.ErrHostNotFound,
// store.ErrTokenExpired, …); every one reaches the client through failErr.
var (
	errNoEndpoint   = apperr.New(apperr.NotFound, "not_found", "no such endpoint")
	errNoMethod     = apperr.New(apperr.MethodNotAllowed, "method_not_allowed", "method not allowed on this endpoint")
	errTooLarge     = apperr.New(apperr.TooLarge, "too_large", fmt.Sprintf("request body over %d bytes", MaxBody))
	errInvalidJSON  = apperr.New(apperr.Invalid, "invalid_json", "invalid JSON body")
	errAdminToken   = apperr.New(apperr.Unauthorized, "unauthorized", "missing or wrong admin token: send Authorization: Bearer <admin token>")
	errUnauthorized = apperr.New(apperr.Unauthorized, "unauthorized", "missing or wrong X-Shared-Secret")
	errInvalidToken = apperr.New(apperr.Unauthorized, "invalid_token", "bearer token refused: get a fresh token from the SSO")
	errAuthRate     = apperr.New(apperr.RateLimited, "rate_limited", "too many failed authentications from this address; wait and retry").Retrying(time.Second)
	errEnrollRate   = apperr.New(apperr.RateLimited, "rate_limited", "too many enrollment attempts from this address; wait and retry").Retrying(time.Second)
	errUserStreams  = apperr.New(apperr.RateLimited, "too_many_streams", "too many log streams open for this user; close one (another tab or window) and retry").Retrying(5 * time.Second)
	errAddrStreams  = apperr.New(apperr.RateLimited, "too_many_streams", "too many log streams open from this address; close one and retry").Retrying(5 * time.Second)
	errInvalidUser  = apperr.New(apperr.Invalid, "invalid_user", "the user id must be 1-128 characters without control characters")
	errInvalidEmail = apperr.New(apperr.Invalid, "invalid_email", "the email must be an address of at most 254 characters with an @")
	errInvalidPath  = apperr.New(apperr.Invalid, "invalid_path", "path is not a path in the gateway")
	errTunnelsOff   = apperr.New(apperr.Unavailable, "tunnels_disabled", "tunnels are disabled on this cloud (wg-addr is empty)")
)

// apiError is the JSON error body.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// publicError is what the client is told of err; a 5xx's cause is logged
// (at error level when it is a fault of ours, else as a warning).
func publicError(log *slog.Logger, c *gin.Context, err error) (int, apiError) {
	status, code, msg := apperr.Public(err)
	// The account and sign-in errors a person reads, in their language.
	if m, ok := accounts.Localized(err, lang(c)); ok && code != "internal" {
		msg = m
	}
	switch {
	case code == "internal":
		log.Error("request failed", "route", c.FullPath(), "err", err)
	case status >= 500:
		log.Warn("request failed", "route", c.FullPath(), "code", code, "err", err)
	}
	return status, apiError{Error: msg, Code: code}
}

// failErr answers err as the JSON error body, with Retry-After when the
// error asks for one. It is the one place errors become HTTP answers.
func (s *server) failErr(c *gin.Context, err error) {
	status, body := publicError(s.log, c, err)
	if e, ok := apperr.As(err); ok && e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	c.AbortWithStatusJSON(status, body)
}

// errorPage answers a failed browser navigation (what failed, logged when
// err is internal) with a page of pageTmpl in the user's language, with
// err's status: title or titleZH, and message's text for the language and
// err's public message.
func errorPage(c *gin.Context, log *slog.Logger, what string, err error, title, titleZH string, message func(lang, public string) string) {
	status, code, public := apperr.Public(err)
	if code == "internal" {
		log.Error(what+" failed", "route", c.FullPath(), "err", err)
	}
	l := lang(c)
	back := "Back to the start page"
	if l == "zh-CN" {
		title, back = titleZH, "返回首页"
	}
	htmlPage(c, status, l, title, message(l, public), back)
}
