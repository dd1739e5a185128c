// Package netns gives each tenant gateway of the process runtime its own
// network namespace, joined to the host by a veth pair on a /30 of a pool,
// with forwarding rules that keep every other source out of it (Linux, as
// root, with iproute2 and util-linux; the rules go to the kernel's nftables
// over netlink, no iptables needed).
package netns

// DefaultPool is the address pool of the per-tenant /30 networks.
const DefaultPool = "10.231.0.0/16"
