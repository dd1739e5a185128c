// Package apperr is the cloud's one typed error: a kind that decides the HTTP
// status, a stable machine-readable code, a message for the client, and the
// cause, which is logged but never shown. Services return these; cloud/api
// maps them to responses in one place, so no handler parses error text.
//
// Sentinels are *Error values made with New; a copy made from one with Wrap
// (a cause) or Withf (a message) still answers errors.Is(err, Sentinel).
// errors.Is matches the sentinel, not the code: two sentinels may share a
// public code ("not_found" for hosts and for tokens) and stay distinct.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind is the class of failure; it decides the HTTP status.
type Kind int

const (
	Internal         Kind = iota // 500: a fault of ours; the client sees a generic message
	Invalid                      // 400: the request is wrong
	Unauthorized                 // 401: who is asking is unknown
	Forbidden                    // 403: known, but not allowed
	NotFound                     // 404
	Conflict                     // 409: the state does not allow it now
	Gone                         // 410: it existed, and is no more
	TooLarge                     // 413
	RateLimited                  // 429
	Unavailable                  // 503: a dependency (a host, capacity) is missing
	Upstream                     // 502: a host answered with an error
	Timeout                      // 504: a host did not answer in time
	MethodNotAllowed             // 405
)

var statuses = map[Kind]int{
	Internal:     http.StatusInternalServerError,
	Invalid:      http.StatusBadRequest,
	Unauthorized: http.StatusUnauthorized,
	Forbidden:    http.StatusForbidden,
	NotFound:     http.StatusNotFound,
	Conflict:     http.StatusConflict,
	Gone:         http.StatusGone,
	TooLarge:     http.StatusRequestEntityTooLarge,
	RateLimited:  http.StatusTooManyRequests,
	Unavailable:  http.StatusServiceUnavailable,
	Upstream:     http.StatusBadGateway,
	Timeout:      http.StatusGatewayTimeout,

	MethodNotAllowed: http.StatusMethodNotAllowed,
}

// Status is the HTTP status of k.
func (k Kind) Status() int {
	if s, ok := statuses[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is a failure with what a client may be told kept apart from its cause.
type Error struct {
	Kind Kind
	Code string // stable, machine-readable: "no_tenant", "host_offline", …
	Msg  string // for the client; never holds the cause's text unless put there on purpose
	Err  error  // the cause, for logs; may be nil
	// RetryAfter, when set, is how long the client should wait before
	// asking again (the API sends it as Retry-After).
	RetryAfter time.Duration

	from *Error // the sentinel this is a copy of; nil for a sentinel
}

// New makes a sentinel.
func New(kind Kind, code, msg string) *Error { return &Error{Kind: kind, Code: code, Msg: msg} }

// Retrying returns a copy of e that asks the client to retry after d. On a
// sentinel it makes a new sentinel (var ErrBusy = New(…).Retrying(time.Minute)).
func (e *Error) Retrying(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches e's sentinel, so copies made by Wrap and Withf are still it.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.sentinel() == e.sentinel()
}

func (e *Error) sentinel() *Error {
	if e.from != nil {
		return e.from
	}
	return e
}

func (e *Error) copy() *Error {
	c := *e
	c.from = e.sentinel()
	return &c
}

// Wrap returns a copy of e carrying cause (logged, not shown).
func (e *Error) Wrap(cause error) *Error {
	c := e.copy()
	c.Err = cause
	return c
}

// Withf returns a copy of e whose client message is the formatted text.
func (e *Error) Withf(format string, args ...any) *Error {
	c := e.copy()
	c.Msg = fmt.Sprintf(format, args...)
	return c
}

// Prefixf puts context before err's client message, the way
// fmt.Errorf("context: %w", err) puts it before err's text: when err holds
// an *Error, the result is a copy of it whose message starts with the
// formatted text and ": "; any other error is wrapped with fmt.Errorf.
func Prefixf(err error, format string, args ...any) error {
	prefix := fmt.Sprintf(format, args...)
	e, ok := As(err)
	if !ok {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	c := e.copy()
	c.Msg = prefix + ": " + e.Msg
	return c
}

// As finds the *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Invalidf is a 400 "invalid_request" with the formatted message, the common
// case of input checked at the edge.
func Invalidf(format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: "invalid_request", Msg: fmt.Sprintf(format, args...)}
}

// Public is what a client may see of err: the status, the code and the
// message of the *Error in its chain; any other error is an internal one with
// a generic message (the caller logs err).
func Public(err error) (status int, code, msg string) {
	if e, ok := As(err); ok && e.Kind != Internal {
		return e.Kind.Status(), e.Code, e.Msg
	}
	return http.StatusInternalServerError, "internal", "internal error; see the cloud's log"
}
