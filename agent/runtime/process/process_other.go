//go:build !linux

package process

import (
	"errors"

	"github.com/clawfleet/clawfleet/agent/runtime"
)

// Runtime is the process runtime; it is only available on Linux.
type Runtime struct{ runtime.Runtime }

// New fails: the process runtime needs Linux.
func New(Options) (*Runtime, error) {
	return nil, errors.New("process runtime: only available on Linux")
}
