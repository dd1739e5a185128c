package proto

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic    string
		id, kind string
		dir      Direction
		ok       bool
	}{
		{"clawfleet/v1/dev/dev_abcdefgh/up/heartbeat", "dev_abcdefgh", "heartbeat", Up, true},
		{"clawfleet/v1/dev/dev_abcdefgh/down/config", "dev_abcdefgh", "config", Down, true},
		{"clawfleet/v1/dev/dev_abcdefgh/up/config", "", "", "", false},   // config is a down kind
		{"clawfleet/v1/dev/dev_abcdefgh/down/status", "", "", "", false}, // status is an up kind
		{"clawfleet/v1/dev/dev_abcdefgh/up/heartbeat/x", "", "", "", false},
		{"clawfleet/v1/dev/+/up/heartbeat", "", "", "", false},
		{"clawfleet/v1/dev/dev_ABCDEFGH/up/heartbeat", "", "", "", false},
		{"clawfleet/v2/dev/dev_abcdefgh/up/heartbeat", "", "", "", false},
		{"clawfleet/v1/dev/dev_short/up/heartbeat", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			id, dir, kind, err := ParseTopic(tc.topic)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (id != tc.id || dir != tc.dir || kind != tc.kind) {
				t.Fatalf("got %s %s %s", id, dir, kind)
			}
			if tc.ok && Topic(id, dir, kind) != tc.topic {
				t.Fatalf("round trip: %s", Topic(id, dir, kind))
			}
		})
	}
}

func TestDecoders(t *testing.T) {
	big := `{"v":1,"hostname":"` + strings.Repeat("a", MaxPayload) + `"}`
	tests := []struct {
		name    string
		decode  func([]byte) error
		in      string
		wantErr error
	}{
		{"register ok", decReg, `{"v":1,"hostname":"vm1","os":"linux","arch":"amd64","cpus":2,"agentVersion":"1.0","capabilities":{"docker":true}}`, nil},
		{"register unknown field ok", decReg, `{"v":1,"hostname":"vm1","future":42}`, nil},
		{"register no hostname", decReg, `{"v":1,"os":"linux"}`, ErrInvalid},
		{"register control chars", decReg, `{"v":1,"hostname":"a\u0000b"}`, ErrInvalid},
		{"register v2", decReg, `{"v":2,"hostname":"vm1"}`, ErrUnsupportedVersion},
		{"register no version", decReg, `{"hostname":"vm1"}`, ErrUnsupportedVersion},
		{"register not json", decReg, `hello`, ErrMalformed},
		{"register trailing", decReg, `{"v":1,"hostname":"a"} {}`, ErrMalformed},
		{"register wrong type", decReg, `{"v":1,"hostname":5}`, ErrMalformed},
		{"register too large", decReg, big, ErrTooLarge},
		{"heartbeat ok", decHB, `{"v":1,"seq":3,"sentAt":1,"metrics":{"cpuPercent":5,"memUsedBytes":1,"memTotalBytes":2,"diskUsedBytes":1,"diskTotalBytes":2,"load1":0.1}}`, nil},
		{"heartbeat cpu>100", decHB, `{"v":1,"metrics":{"cpuPercent":101}}`, ErrInvalid},
		{"heartbeat negative load", decHB, `{"v":1,"metrics":{"load1":-1}}`, ErrInvalid},
		{"heartbeat used>total", decHB, `{"v":1,"metrics":{"memUsedBytes":3,"memTotalBytes":2}}`, ErrInvalid},
		{"heartbeat negative seq", decHB, `{"v":1,"seq":-1}`, ErrMalformed},
		{"status online", decStatus, `{"v":1,"state":"online"}`, nil},
		{"status bogus", decStatus, `{"v":1,"state":"sleepy"}`, ErrInvalid},
		{"config ok", decConfig, `{"v":1,"heartbeatIntervalSeconds":5}`, nil},
		{"config zero", decConfig, `{"v":1,"heartbeatIntervalSeconds":0}`, ErrInvalid},
		{"config huge", decConfig, `{"v":1,"heartbeatIntervalSeconds":100000}`, ErrInvalid},
		{"empty", decStatus, ``, ErrMalformed},
		{"null", decStatus, `null`, ErrUnsupportedVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode([]byte(tc.in))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func decReg(b []byte) error    { _, err := DecodeRegister(b); return err }
func decHB(b []byte) error     { _, err := DecodeHeartbeat(b); return err }
func decStatus(b []byte) error { _, err := DecodeStatus(b); return err }
func decConfig(b []byte) error { _, err := DecodeConfig(b); return err }

func TestEncodeRoundTrip(t *testing.T) {
	hb := &Heartbeat{Seq: 9, SentAt: 123, Metrics: Metrics{CPUPercent: 50, MemUsedBytes: 1, MemTotalBytes: 2}}
	got, err := DecodeHeartbeat(MustEncode(hb))
	if err != nil || got.V != Version || got.Seq != 9 || got.Metrics != hb.Metrics {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	cfg, err := DecodeConfig(MustEncode(&Config{HeartbeatIntervalSeconds: 7}))
	if err != nil || cfg.HeartbeatInterval().Seconds() != 7 {
		t.Fatalf("config = %+v, %v", cfg, err)
	}
}

func TestValidateDeviceID(t *testing.T) {
	for id, ok := range map[string]bool{"dev_abcdefgh": true, "dev_abc": false, "abcdefghij": false, "dev_abcd/efgh": false, "dev_abcd#efgh": false, "dev_" + strings.Repeat("a", 65): false} {
		if err := ValidateDeviceID(id); (err == nil) != ok {
			t.Errorf("%q: err = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestReason(t *testing.T) {
	_, _, _, badTopic := ParseTopic("clawfleet/v1/dev/x/up/heartbeat")
	_, tooLarge := DecodeHeartbeat(make([]byte, MaxPayload+1))
	_, version := DecodeHeartbeat([]byte(`{"v":9}`))
	_, malformed := DecodeHeartbeat([]byte(`{not json`))
	_, invalid := DecodeStatus([]byte(`{"v":1,"state":"asleep"}`))
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"bad topic", badTopic, "topic"},
		{"too large", tooLarge, "too_large"},
		{"version", version, "version"},
		{"malformed", malformed, "malformed"},
		{"invalid", invalid, "invalid"},
		{"wrapped", fmt.Errorf("register: %w", invalid), "invalid"},
		{"not a decoding error", errors.New("database is locked"), ""},
		{"nil", nil, ""},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("%s: Reason(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}
