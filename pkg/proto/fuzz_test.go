package proto

import (
	"encoding/json"
	"strings"
	"testing"
)

// The decoders take bytes straight from the network: they must never panic,
// and whatever they accept must satisfy their own validation.

func FuzzDecodeRegister(f *testing.F) {
	f.Add([]byte(`{"v":1,"hostname":"vm1","os":"linux","arch":"amd64","cpus":2,"labels":{"a":"b"}}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeRegister(b)
		if err != nil {
			return
		}
		if m.V != Version || m.Hostname == "" || len(m.Hostname) > 255 || len(m.Labels) > 32 {
			t.Fatalf("accepted invalid register %+v", m)
		}
		if _, err := DecodeRegister(MustEncode(m)); err != nil {
			t.Fatalf("re-encoded register refused: %v", err)
		}
	})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	f.Add([]byte(`{"v":1,"seq":1,"metrics":{"cpuPercent":1.5,"memUsedBytes":1,"memTotalBytes":2}}`))
	f.Add([]byte(`{"v":1,"metrics":{"cpuPercent":1e400}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeHeartbeat(b)
		if err != nil {
			return
		}
		mt := m.Metrics
		if mt.CPUPercent < 0 || mt.CPUPercent > 100 || mt.MemUsedBytes > mt.MemTotalBytes || mt.DiskUsedBytes > mt.DiskTotalBytes {
			t.Fatalf("accepted invalid heartbeat %+v", m)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("accepted heartbeat cannot be re-encoded: %v", err)
		}
	})
}

func FuzzDecodeStatusConfig(f *testing.F) {
	f.Add([]byte(`{"v":1,"state":"offline"}`))
	f.Add([]byte(`{"v":1,"heartbeatIntervalSeconds":5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeStatus(b); err == nil && s.State != StateOnline && s.State != StateOffline {
			t.Fatalf("accepted status %q", s.State)
		}
		if c, err := DecodeConfig(b); err == nil && (c.HeartbeatInterval() < MinHeartbeatInterval || c.HeartbeatInterval() > MaxHeartbeatInterval) {
			t.Fatalf("accepted interval %v", c.HeartbeatInterval())
		}
	})
}

func FuzzParseTopic(f *testing.F) {
	f.Add("clawfleet/v1/dev/dev_abcdefgh/up/heartbeat")
	f.Add("clawfleet/v1/dev/#")
	f.Fuzz(func(t *testing.T, topic string) {
		id, dir, kind, err := ParseTopic(topic)
		if err != nil {
			return
		}
		if strings.ContainsAny(id, "/+#") || Topic(id, dir, kind) != topic {
			t.Fatalf("accepted %q as %q %q %q", topic, id, dir, kind)
		}
	})
}

func FuzzDecodeTenantMessages(f *testing.F) {
	f.Add([]byte(`{"v":1,"revision":3,"tenants":[{"id":"ten_abcdefgh","slug":"a","owner":"u","state":"running","port":20000,"gatewayToken":"0123456789abcdef","allowedOrigins":["http://a.localhost:8080"]}],"purge":["ten_zzzzzzzz"]}`))
	f.Add([]byte(`{"v":1,"type":"tenants","revision":1,"runtime":"process","tenants":[{"id":"ten_abcdefgh","state":"running"}],"purged":["ten_zzzzzzzz"]}`))
	f.Add([]byte(`{"v":1,"id":"c1","op":"logs","tenantId":"ten_abcdefgh","tail":10}`))
	f.Add([]byte(`{"v":1,"id":"c2","op":"rotate-key"}`))
	f.Add([]byte(`{"v":1,"id":"c1","ok":true,"lines":["a","b"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := DecodeDesired(b); err == nil {
			seen := map[string]bool{}
			for _, s := range d.Tenants {
				if ValidateTenantID(s.ID) != nil || ValidateSlug(s.Slug) != nil || seen[s.ID] || s.Port < 1024 {
					t.Fatalf("accepted invalid desired tenant %+v", s)
				}
				seen[s.ID] = true
			}
			if _, err := DecodeDesired(MustEncode(d)); err != nil {
				t.Fatalf("re-encoded desired refused: %v", err)
			}
		}
		if r, err := DecodeTenantReport(b); err == nil && r.Type != EventTenants {
			t.Fatalf("accepted report type %q", r.Type)
		}
		if c, err := DecodeCommand(b); err == nil && (c.ID == "" || (c.Op != OpLogs && c.Op != OpRotateKey) || c.Tail < 0 || c.Tail > MaxLogLines || (c.Op == OpRotateKey && c.TenantID != "")) {
			t.Fatalf("accepted command %+v", c)
		}
		if r, err := DecodeReply(b); err == nil && (r.ID == "" || len(r.Lines) > MaxLogLines) {
			t.Fatalf("accepted reply %+v", r)
		}
	})
}

func FuzzDecodeClaim(f *testing.F) {
	f.Add([]byte(`{"v":1,"claimed":true,"owner":"u1","teamId":"t","claimedAt":1}`))
	f.Add([]byte(`{"v":1,"claimed":false,"claimCode":"ABCD-EFGH-JKMN"}`))
	f.Add([]byte(`{"v":1,"type":"factory-reset","requestedAt":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := DecodeClaim(b); err == nil {
			if m.ClaimCode != "" && ValidateClaimCode(m.ClaimCode) != nil {
				t.Fatalf("accepted claim code %q", m.ClaimCode)
			}
			if m.Claimed && ValidateOwner(m.Owner) != nil {
				t.Fatalf("accepted claimed box %+v", m)
			}
			if !m.Claimed && (m.Owner != "" || m.TeamID != "") {
				t.Fatalf("accepted unclaimed box %+v", m)
			}
			if _, err := DecodeClaim(MustEncode(m)); err != nil {
				t.Fatalf("re-encoded claim refused: %v", err)
			}
		}
		if e, err := DecodeFactoryReset(b); err == nil && (e.Type != EventFactoryReset || e.RequestedAt < 0) {
			t.Fatalf("accepted factory reset %+v", e)
		}
	})
}
