// Package proto defines clawfleet's device wire protocol: MQTT topics and the
// JSON payloads exchanged between agents and the cloud. It depends on the
// standard library only, so every binary (and any external broker adapter) can
// import it.
package proto

import (
	"errors"
	"fmt"
	"strings"
)

// Version is the protocol version carried in every payload ("v") and in the
// topic prefix. A receiver refuses payloads of another version.
const Version = 1

// TopicRoot is the prefix of every device topic.
const TopicRoot = "clawfleet/v1/dev/"

// MaxPayload bounds every payload this protocol accepts. The broker enforces a
// packet limit too; decoders check again so a payload that arrived through an
// external broker is bounded as well.
const MaxPayload = 64 << 10

// Direction of a device topic.
type Direction string

const (
	Up   Direction = "up"   // device → cloud
	Down Direction = "down" // cloud → device
)

// Up kinds (device → cloud).
const (
	KindRegister  = "register"
	KindHeartbeat = "heartbeat"
	KindStatus    = "status" // online on connect, offline as Last Will
	KindEvent     = "event"
	KindReply     = "reply"
)

// Down kinds (cloud → device).
const (
	KindConfig  = "config" // retained: agent settings such as the heartbeat interval
	KindCmd     = "cmd"
	KindClaim   = "claim"   // retained
	KindTunnel  = "tunnel"  // retained
	KindDesired = "desired" // retained
)

var upKinds = map[string]bool{KindRegister: true, KindHeartbeat: true, KindStatus: true, KindEvent: true, KindReply: true}
var downKinds = map[string]bool{KindConfig: true, KindCmd: true, KindClaim: true, KindTunnel: true, KindDesired: true}

// Errors returned by topic and payload decoders.
var (
	ErrBadTopic           = errors.New("proto: not a clawfleet device topic")
	ErrTooLarge           = errors.New("proto: payload too large")
	ErrUnsupportedVersion = errors.New("proto: unsupported protocol version")
	ErrMalformed          = errors.New("proto: malformed payload")
	ErrInvalid            = errors.New("proto: invalid payload")
)

// Reason names which of the errors above err carries, as the cloud's
// refused-message metrics label it: "topic", "too_large", "version",
// "malformed" or "invalid"; "" when it carries none of them (a failure after
// decoding, which the caller names).
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrBadTopic):
		return "topic"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrUnsupportedVersion):
		return "version"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return ""
}

// Topic returns clawfleet/v1/dev/{deviceID}/{dir}/{kind}.
func Topic(deviceID string, dir Direction, kind string) string {
	return TopicRoot + deviceID + "/" + string(dir) + "/" + kind
}

// UpTopic is Topic(deviceID, Up, kind).
func UpTopic(deviceID, kind string) string { return Topic(deviceID, Up, kind) }

// DownTopic is Topic(deviceID, Down, kind).
func DownTopic(deviceID, kind string) string { return Topic(deviceID, Down, kind) }

// DeviceFilter returns the filter a device subscribes to: its own down/#.
func DeviceFilter(deviceID string) string { return TopicRoot + deviceID + "/down/#" }

// CloudFilter is the filter the cloud subscribes to: every device's up/ topics.
const CloudFilter = TopicRoot + "+/up/#"

// ParseTopic splits a device topic into its device ID, direction and kind.
// It accepts only the exact shape clawfleet/v1/dev/{id}/{up|down}/{kind} with a
// known kind and a valid device ID.
func ParseTopic(topic string) (deviceID string, dir Direction, kind string, err error) {
	rest, ok := strings.CutPrefix(topic, TopicRoot)
	if !ok {
		return "", "", "", ErrBadTopic
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return "", "", "", ErrBadTopic
	}
	deviceID, dir, kind = parts[0], Direction(parts[1]), parts[2]
	if err := ValidateDeviceID(deviceID); err != nil {
		return "", "", "", fmt.Errorf("%w: %v", ErrBadTopic, err)
	}
	switch {
	case dir == Up && upKinds[kind], dir == Down && downKinds[kind]:
		return deviceID, dir, kind, nil
	}
	return "", "", "", ErrBadTopic
}

// DeviceIDPrefix starts every device ID.
const DeviceIDPrefix = "dev_"

// ValidateDeviceID checks the shape of a device ID: "dev_" followed by 8 to 64
// characters from [a-z0-9]. The shape keeps IDs safe inside MQTT topics (no
// '/', '+', '#'), file names and URLs.
func ValidateDeviceID(id string) error {
	rest, ok := strings.CutPrefix(id, DeviceIDPrefix)
	if !ok || len(rest) < 8 || len(rest) > 64 {
		return fmt.Errorf("device id %q must be %q followed by 8 to 64 lowercase letters or digits", truncate(id, 80), DeviceIDPrefix)
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return fmt.Errorf("device id %q must be %q followed by 8 to 64 lowercase letters or digits", truncate(id, 80), DeviceIDPrefix)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
