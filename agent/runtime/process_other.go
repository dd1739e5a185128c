//go:build !linux

package runtime

import "errors"

// ProcessOptions configures the process runtime (Linux only).
type ProcessOptions struct{}

// Process is the process runtime; it is only available on Linux.
type Process struct{ Runtime }

// NewProcess fails: the process runtime needs Linux.
func NewProcess(ProcessOptions) (*Process, error) {
	return nil, errors.New("process runtime: only available on Linux")
}
