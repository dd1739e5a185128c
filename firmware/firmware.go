// Package firmware provides the files a host's root filesystem gets from
// firmware/rootfs (the agent's systemd unit and its environment file), for
// the tools that install them elsewhere: the cloud's install.sh and the
// Debian package (cloud/downloads, firmware/deb).
package firmware

import _ "embed"

// AgentUnit is etc/systemd/system/clawfleet-agent.service.
//
//go:embed rootfs/etc/systemd/system/clawfleet-agent.service
var AgentUnit string

// AgentEnv is etc/clawfleet/agent.env, the unit's optional environment.
//
//go:embed rootfs/etc/clawfleet/agent.env
var AgentEnv string
