//go:build !linux

package wgif

import (
	"errors"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Interface is one WireGuard interface; only Linux has them here.
type Interface struct{ name, mode string }

var errNotLinux = errors.New("wgif: kernel and tun modes need Linux")

// Open fails: kernel and tun modes need Linux.
func Open(Options) (*Interface, error) { return nil, errNotLinux }

func (i *Interface) Name() string                      { return i.name }
func (i *Interface) Mode() string                      { return i.mode }
func (i *Interface) Configure(wgtypes.Config) error    { return errNotLinux }
func (i *Interface) Device() (*wgtypes.Device, error)  { return nil, errNotLinux }
func (i *Interface) SetInputPorts([]int) error         { return errNotLinux }
func (i *Interface) SetPorts([]int, map[int]int) error { return errNotLinux }
func (i *Interface) Close() error                      { return nil }
