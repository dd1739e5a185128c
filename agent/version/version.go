// Package version holds the agent's version string, set at build time with
//
//	-ldflags "-X github.com/clawfleet/clawfleet/agent/version.Version=1.2.3"
package version

// Version is the agent's version; "dev" for builds without -ldflags.
var Version = "dev"
