// Package firewall programs the kernel's packet filter over netlink
// (nftables), with no iptables or nft binary: each user keeps its rules in
// a table of its own (family inet, IPv4 and IPv6), replaced atomically,
// checked and removed whole, so nothing is left behind and nobody else's
// rules are touched. A drop in any table is final whatever other tables
// (Docker's, an operator's) accept, and their order does not matter.
//
// A foreign rule (ForeignRule) is the one exception: an accept put into
// another table's chain (Docker's DOCKER-USER, whose FORWARD policy drops
// what no chain of its own accepts), tagged so that only ours are found.
package firewall

import (
	"errors"
	"net/netip"
)

// Hook is where a chain sees packets.
type Hook int

const (
	Input       Hook = iota // for this host
	Forward                 // routed through it
	Postrouting             // leaving it (NAT)
	// Prerouting: arriving, before routing (NAT), ahead of Docker's
	// destination NAT, so a Redirect of ours is what the connection gets.
	Prerouting
)

// Proto is a rule's layer 4 protocol.
type Proto int

const (
	AnyProto Proto = iota
	TCP
	ICMP
	ICMPv6
)

// Verdict is what a matching rule does.
type Verdict int

const (
	Accept Verdict = iota
	Drop
	Reset      // TCP reset (what is not TCP is dropped)
	Masquerade // source NAT to the outgoing interface's address
	Redirect   // destination NAT to the incoming interface's address, port ToPort (Prerouting, TCP)
)

// Rule matches packets on every field set and applies Verdict. An
// interface name ending in "*" matches the names it is a prefix of.
type Rule struct {
	In, Out     string
	NotOut      string // not leaving through this interface (or prefix)
	Established bool   // connection tracking state established or related
	Proto       Proto
	DPort       uint16       // destination port (TCP)
	Src         netip.Prefix // IPv4 source prefix
	Verdict     Verdict
	ToPort      uint16 // Redirect's port
}

// Chain is a base chain of a Table, hooked at Hook, evaluating Rules in
// order; what no rule decides is accepted (by this table).
type Chain struct {
	Name  string
	Hook  Hook
	Rules []Rule
}

// Table is a table of ours.
type Table struct {
	Name   string
	Chains []Chain
}

// ErrNoChain is returned for a foreign chain that does not exist.
var ErrNoChain = errors.New("firewall: no such chain")
