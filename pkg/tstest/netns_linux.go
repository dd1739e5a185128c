package tstest

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNetns runs fn on a fresh OS thread that has entered the network
// namespace at nsPath (/run/netns/<name>, /proc/<pid>/ns/net), and returns
// its error. Sockets fn makes stay in that namespace after it returns. The
// thread is never unlocked, so it ends with fn's goroutine and nothing else
// ever runs in the namespace.
func InNetns(nsPath string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(nsPath)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", nsPath, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
