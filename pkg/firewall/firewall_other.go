//go:build !linux

package firewall

import "errors"

var errNotLinux = errors.New("firewall: nftables needs Linux")

func Available() error                                   { return errNotLinux }
func Apply(Table) error                                  { return errNotLinux }
func Remove(string) error                                { return nil }
func Installed(Table) bool                               { return false }
func EnsureForeign(string, string, string, Rule) error   { return errNotLinux }
func RemoveForeign(string, string, string) error         { return nil }
func ForeignInstalled(string, string, string, Rule) bool { return false }
func ChainExists(string, string) bool                    { return false }
func Insert(string, string, Rule) error                  { return errNotLinux }
func RemoveLegacyChain(string, string, ...string) error  { return nil }
