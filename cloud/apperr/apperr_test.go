package apperr

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

var errNoThing = New(NotFound, "no_thing", "no such thing")

func TestIsAndPublic(t *testing.T) {
	tests := []struct {
		name              string
		err               error
		isSentinel        bool
		status            int
		code, msg, detail string
	}{
		{name: "sentinel", err: errNoThing, isSentinel: true, status: 404, code: "no_thing", msg: "no such thing"},
		{name: "wrapped by fmt", err: fmt.Errorf("load: %w", errNoThing), isSentinel: true, status: 404, code: "no_thing", msg: "no such thing"},
		{name: "with a cause", err: errNoThing.Wrap(io.EOF), isSentinel: true, status: 404, code: "no_thing", msg: "no such thing"},
		{name: "with a message", err: errNoThing.Withf("no thing %q", "x"), isSentinel: true, status: 404, code: "no_thing", msg: `no thing "x"`},
		{name: "invalid", err: Invalidf("name %q is too long", "abc"), status: 400, code: "invalid_request", msg: `name "abc" is too long`},
		{name: "plain error", err: errors.New("disk on fire"), status: 500, code: "internal", msg: "internal error; see the cloud's log"},
		{name: "internal kind hides its message", err: New(Internal, "db", "the database said no"), status: 500, code: "internal", msg: "internal error; see the cloud's log"},
		{name: "other code", err: New(NotFound, "no_other", "x"), status: 404, code: "no_other", msg: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.Is(tt.err, errNoThing); got != tt.isSentinel {
				t.Errorf("errors.Is = %v, want %v", got, tt.isSentinel)
			}
			status, code, msg := Public(tt.err)
			if status != tt.status || code != tt.code || msg != tt.msg {
				t.Errorf("Public = %d %q %q, want %d %q %q", status, code, msg, tt.status, tt.code, tt.msg)
			}
		})
	}
}

func TestCauseKeptApart(t *testing.T) {
	err := errNoThing.Wrap(io.ErrUnexpectedEOF)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal("the cause is not in the chain")
	}
	if _, _, msg := Public(err); msg != "no such thing" {
		t.Fatalf("the client sees %q", msg)
	}
	if errNoThing.Err != nil {
		t.Fatal("Wrap changed the sentinel")
	}
}

func TestStatuses(t *testing.T) {
	for k := Internal; k <= MethodNotAllowed; k++ {
		if s := k.Status(); s < 400 || http.StatusText(s) == "" {
			t.Errorf("kind %d has status %d", k, s)
		}
	}
	if Kind(99).Status() != 500 {
		t.Error("an unknown kind is not a 500")
	}
}

func TestSentinelsSharingACode(t *testing.T) {
	errNoOther := New(NotFound, "no_thing", "no such other thing")
	if errors.Is(errNoOther, errNoThing) || errors.Is(errNoThing.Withf("x"), errNoOther) {
		t.Fatal("two sentinels with one code match each other")
	}
	if !errors.Is(errNoThing.Withf("x").Wrap(io.EOF), errNoThing) {
		t.Fatal("a copy of a copy is not its sentinel")
	}
}

func TestPrefixf(t *testing.T) {
	err := Prefixf(fmt.Errorf("place: %w", errNoThing.Withf("none has %d", 3)), "plan %s", "basic")
	if !errors.Is(err, errNoThing) || err.Error() != "plan basic: none has 3" {
		t.Fatalf("Prefixf = %v", err)
	}
	if _, _, msg := Public(err); msg != "plan basic: none has 3" {
		t.Fatalf("the client sees %q", msg)
	}
	plain := Prefixf(io.EOF, "read %s", "x")
	if !errors.Is(plain, io.EOF) || plain.Error() != "read x: EOF" {
		t.Fatalf("Prefixf of a plain error = %v", plain)
	}
}

func TestRetrying(t *testing.T) {
	errBusy := New(Unavailable, "busy", "busy").Retrying(time.Minute)
	e, ok := As(errBusy.Withf("busy: %d queued", 3))
	if !ok || e.RetryAfter != time.Minute || !errors.Is(e, errBusy) {
		t.Fatalf("copy = %+v", e)
	}
}
