package proto

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeDesired(t *testing.T) {
	good := `{"id":"ten_abcdefgh","slug":"alice","owner":"u","state":"running","port":20000,"gatewayToken":"0123456789abcdef"}`
	tests := []struct {
		name, in string
		wantErr  error
	}{
		{"ok", `{"v":1,"revision":1,"tenants":[` + good + `]}`, nil},
		{"empty", `{"v":1,"revision":2}`, nil},
		{"bad id", `{"v":1,"tenants":[` + strings.Replace(good, "ten_abcdefgh", "ten_../x", 1) + `]}`, ErrInvalid},
		{"bad slug", `{"v":1,"tenants":[` + strings.Replace(good, `"alice"`, `"-alice"`, 1) + `]}`, ErrInvalid},
		{"bad state", `{"v":1,"tenants":[` + strings.Replace(good, `"running"`, `"dancing"`, 1) + `]}`, ErrInvalid},
		{"low port", `{"v":1,"tenants":[` + strings.Replace(good, "20000", "80", 1) + `]}`, ErrInvalid},
		{"short token", `{"v":1,"tenants":[` + strings.Replace(good, "0123456789abcdef", "short", 1) + `]}`, ErrInvalid},
		{"token with quote", `{"v":1,"tenants":[` + strings.Replace(good, "0123456789abcdef", `0123456789abcde\"f`, 1) + `]}`, ErrInvalid},
		{"duplicate", `{"v":1,"tenants":[` + good + `,` + good + `]}`, ErrInvalid},
		{"purged and desired", `{"v":1,"tenants":[` + good + `],"purge":["ten_abcdefgh"]}`, ErrInvalid},
		{"bad origin", `{"v":1,"tenants":[` + strings.Replace(good, `"owner":"u"`, `"owner":"u","allowedOrigins":["javascript:alert(1)"]`, 1) + `]}`, ErrInvalid},
		{"negative revision", `{"v":1,"revision":-1}`, ErrInvalid},
		{"version", `{"v":2,"revision":1}`, ErrUnsupportedVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeDesired([]byte(tc.in))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestDecodeCommandReplyReport(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decode func([]byte) error
		in     string
		ok     bool
	}{
		{"logs", func(b []byte) error { _, e := DecodeCommand(b); return e }, `{"v":1,"id":"c1","op":"logs","tenantId":"ten_abcdefgh","tail":5}`, true},
		{"unknown op", func(b []byte) error { _, e := DecodeCommand(b); return e }, `{"v":1,"id":"c1","op":"exec","tenantId":"ten_abcdefgh"}`, false},
		{"tail too big", func(b []byte) error { _, e := DecodeCommand(b); return e }, `{"v":1,"id":"c1","op":"logs","tenantId":"ten_abcdefgh","tail":5000}`, false},
		{"no id", func(b []byte) error { _, e := DecodeCommand(b); return e }, `{"v":1,"op":"logs","tenantId":"ten_abcdefgh"}`, false},
		{"rotate-key", func(b []byte) error { _, e := DecodeCommand(b); return e }, `{"v":1,"id":"c1","op":"rotate-key"}`, true},
		{"rotate-key with a tenant", func(b []byte) error { _, e := DecodeCommand(b); return e }, `{"v":1,"id":"c1","op":"rotate-key","tenantId":"ten_abcdefgh"}`, false},
		{"reply with a key", func(b []byte) error { _, e := DecodeReply(b); return e }, `{"v":1,"id":"c1","ok":true,"publicKey":"` + validKeyB64 + `"}`, true},
		{"reply with a bad key", func(b []byte) error { _, e := DecodeReply(b); return e }, `{"v":1,"id":"c1","ok":true,"publicKey":"AAAA"}`, false},
		{"reply", func(b []byte) error { _, e := DecodeReply(b); return e }, `{"v":1,"id":"desired-3","ok":true}`, true},
		{"reply no id", func(b []byte) error { _, e := DecodeReply(b); return e }, `{"v":1,"ok":true}`, false},
		{"report", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running"}]}`, true},
		{"report disk", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running","diskUsedBytes":10,"diskTotalBytes":100}]}`, true},
		{"report disk over size", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running","diskUsedBytes":101,"diskTotalBytes":100}]}`, false},
		{"report negative disk", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running","diskUsedBytes":-1}]}`, false},
		{"report usage", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running","usage":{"cpuUsec":1500000,"memoryBytes":104857600}}]}`, true},
		{"report negative cpu", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running","usage":{"cpuUsec":-1,"memoryBytes":1}}]}`, false},
		{"report absurd memory", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running","usage":{"cpuUsec":1,"memoryBytes":9007199254740993}}]}`, false},
		{"report bad state", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"pending"}]}`, false},
		{"report wrong type", func(b []byte) error { _, e := DecodeTenantReport(b); return e }, `{"v":1,"type":"other"}`, false},
	} {
		if err := tc.decode([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if DesiredReplyID(7) != "desired-7" {
		t.Fatal(DesiredReplyID(7))
	}
}

// validKeyB64 is a syntactically valid WireGuard key (32 bytes, base64).
const validKeyB64 = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="

func TestAdoptMessages(t *testing.T) {
	id := strings.Repeat("ab", 32)
	good := `{"id":"ten_abcdefgh","slug":"alice","owner":"u","state":"running","port":20000,"gatewayToken":"0123456789abcdef","auth":"token","container":"` + id + `"}`
	if m, err := DecodeDesired([]byte(`{"v":1,"revision":1,"tenants":[` + good + `]}`)); err != nil || m.Tenants[0].Container != id {
		t.Fatalf("adopted spec: %v %+v", err, m)
	}
	if _, err := DecodeDesired([]byte(`{"v":1,"revision":1,"tenants":[` + strings.Replace(good, id, "portainer-alice", 1) + `]}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a container name in a spec: %v", err)
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"v":1,"id":"c1","op":"inspect-container","container":"openclaw-alice"}`, true},
		{`{"v":1,"id":"c1","op":"inspect-container","container":"` + id[:12] + `"}`, true},
		{`{"v":1,"id":"c1","op":"inspect-container"}`, false},
		{`{"v":1,"id":"c1","op":"inspect-container","container":"../etc"}`, false},
		{`{"v":1,"id":"c1","op":"inspect-container","container":"a?all=1"}`, false},
		{`{"v":1,"id":"c1","op":"inspect-container","container":"x","tenantId":"ten_abcdefgh"}`, false},
	} {
		if _, err := DecodeCommand([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.in, err)
		}
	}
	info := `{"id":"` + id + `","name":"openclaw-alice","image":"openclaw:1","port":18789,"gatewayToken":"0123456789abcdef","running":true}`
	r, err := DecodeReply([]byte(`{"v":1,"id":"c1","ok":true,"container":` + info + `}`))
	if err != nil || r.Container.Port != 18789 {
		t.Fatalf("reply: %v %+v", err, r)
	}
	for _, bad := range []string{
		strings.Replace(info, `"port":18789`, `"port":80`, 1),
		strings.Replace(info, `"0123456789abcdef"`, `"short"`, 1),
		strings.Replace(info, id, "nothex", 1),
	} {
		if _, err := DecodeReply([]byte(`{"v":1,"id":"c1","ok":true,"container":` + bad + `}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v", bad, err)
		}
	}
}

// TestListContainersMessages: the listing command takes nothing, and a
// reply's candidates are checked one by one and bounded.
func TestListContainersMessages(t *testing.T) {
	if _, err := DecodeCommand([]byte(`{"v":1,"id":"c1","op":"list-containers"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeCommand([]byte(`{"v":1,"id":"c1","op":"list-containers","tenantId":"ten_abcdefgh"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("list-containers with a tenant: %v", err)
	}
	id := strings.Repeat("cd", 32)
	good := `{"id":"` + id + `","name":"openclaw-bob","image":"openclaw:1","running":true,"port":18790,"adoptable":true}`
	r, err := DecodeReply([]byte(`{"v":1,"id":"c1","ok":true,"containers":[` + good + `]}`))
	if err != nil || len(r.Containers) != 1 || !r.Containers[0].Adoptable || r.Containers[0].Port != 18790 {
		t.Fatalf("reply: %v %+v", err, r)
	}
	for _, bad := range []string{
		strings.Replace(good, id, "openclaw-bob", 1),
		strings.Replace(good, `"port":18790`, `"port":70000`, 1),
		strings.Replace(good, `"adoptable":true`, `"adoptable":true,"code":"not_adoptable"`, 1),
		strings.Replace(good, `"adoptable":true`, `"tenant":"../x"`, 1),
		strings.Replace(good, `"openclaw-bob"`, `"bob\u0000"`, 1),
	} {
		if _, err := DecodeReply([]byte(`{"v":1,"id":"c1","ok":true,"containers":[` + bad + `]}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v", bad, err)
		}
	}
	many := strings.Repeat(good+",", MaxContainers) + good
	if _, err := DecodeReply([]byte(`{"v":1,"id":"c1","ok":true,"containers":[` + many + `]}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("%d containers: err %v", MaxContainers+1, err)
	}
}

// TestTenantUsageOptional: a report of an agent from before usage decodes
// with none, and one with usage round-trips.
func TestTenantUsageOptional(t *testing.T) {
	old, err := DecodeTenantReport([]byte(`{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running"}]}`))
	if err != nil || old.Tenants[0].Usage != nil {
		t.Fatalf("an old report: %v, usage %+v", err, old.Tenants[0].Usage)
	}
	b := MustEncode(&TenantReport{Type: EventTenants, Tenants: []TenantStatus{{ID: "ten_abcdefgh", State: TenantRunning, Usage: &TenantUsage{CPUUsec: 7, MemoryBytes: 9}}}})
	if strings.Contains(string(MustEncode(&TenantReport{Type: EventTenants, Tenants: []TenantStatus{{ID: "ten_abcdefgh", State: TenantRunning}}})), "usage") {
		t.Error("a status without usage sends a usage field")
	}
	got, err := DecodeTenantReport(b)
	if err != nil || got.Tenants[0].Usage == nil || *got.Tenants[0].Usage != (TenantUsage{CPUUsec: 7, MemoryBytes: 9}) {
		t.Fatalf("round trip: %v %+v", err, got.Tenants[0].Usage)
	}
	for _, bad := range []string{`{"cpuUsec":-1,"memoryBytes":1}`, `{"cpuUsec":1,"memoryBytes":-1}`, `{"cpuUsec":1,"memoryBytes":1,"at":-5}`, `{"cpuUsec":1,"memoryBytes":2000000000000000000}`} {
		if _, err := DecodeTenantReport([]byte(`{"v":1,"type":"tenants","tenants":[{"id":"ten_abcdefgh","state":"running","usage":` + bad + `}]}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("usage %s: err %v", bad, err)
		}
	}
}
