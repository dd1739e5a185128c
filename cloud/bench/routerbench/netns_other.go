//go:build !linux

package main

import (
	"context"
	"errors"
	"net"
)

// hostNS is the -agent-netns layout, Linux only.
type hostNS struct {
	name, path, rootAddr, nsAddr string
	tag                          byte
}

func newHostNS() (*hostNS, error) { return nil, errors.New("-agent-netns needs Linux") }

func (h *hostNS) Prefix() []string { return nil }

func (h *hostNS) Close([]byte) {}

func (h *hostNS) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("-agent-netns needs Linux")
}

func hubLeftovers(string) {}
