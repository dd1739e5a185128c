//go:build !linux

package pairing

import "net"

// listenConfig is plain elsewhere: the hotspot exists only on Linux boxes.
func listenConfig() net.ListenConfig { return net.ListenConfig{} }
