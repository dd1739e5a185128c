package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// box is a device as the factory makes it: only the secret's hash is sent.
type box struct{ id, secret, code string }

func newBoxes(n int) []box {
	out := make([]box, n)
	for i := range out {
		out[i] = box{creds.NewDeviceID(), creds.NewSecret(), creds.NewClaimCode()}
	}
	return out
}

func devicesBody(from int, bs []box) map[string]any {
	var ds []map[string]any
	for i, b := range bs {
		ds = append(ds, map[string]any{"index": from + i, "deviceId": b.id, "secretHash": creds.Hash(b.secret), "claimCode": b.code})
	}
	return map[string]any{"devices": ds}
}

// TestFactoryBatch: a batch is created and registered idempotently, its
// boxes never take pool tenants whatever they report, it is listed with
// its boxes' states, and revoking it locks its boxes out of the broker.
func TestFactoryBatch(t *testing.T) {
	t.Parallel()
	c := servertest.New(t, servertest.WithSharedSecret())
	const path = "/api/admin/batches/2026-12-sz-a"

	r := c.Admin(http.MethodPut, path, map[string]any{"model": "OpenClaw Box v1"})
	if m := r.JSON(t); r.Code != http.StatusCreated || m["id"] != "2026-12-sz-a" || m["model"] != "OpenClaw Box v1" ||
		m["devices"] != float64(0) || !strings.HasPrefix(m["mqttUrl"].(string), "tcp://") || m["cloudUrl"] != c.URL {
		t.Fatalf("create batch: %d %s", r.Code, r.Body)
	}
	// Again (a rerun): the same batch.
	if r := c.Admin(http.MethodPut, path, map[string]any{"model": "OpenClaw Box v1"}); r.Code != http.StatusOK {
		t.Fatalf("create batch again: %d %s", r.Code, r.Body)
	}
	if r := c.Admin(http.MethodPut, path, map[string]any{"model": "OpenClaw Box v2"}); r.Code != http.StatusConflict || r.JSON(t)["code"] != "batch_conflict" {
		t.Fatalf("batch with another model: %d %s", r.Code, r.Body)
	}

	boxes := newBoxes(3)
	r = c.Admin(http.MethodPost, path+"/devices", devicesBody(0, boxes))
	if m := r.JSON(t); r.Code != http.StatusOK || m["registered"] != float64(3) || m["existing"] != float64(0) {
		t.Fatalf("register: %d %s", r.Code, r.Body)
	}
	// Registering the same devices again duplicates nothing.
	r = c.Admin(http.MethodPost, path+"/devices", devicesBody(0, boxes))
	if m := r.JSON(t); r.Code != http.StatusOK || m["registered"] != float64(0) || m["existing"] != float64(3) {
		t.Fatalf("register again: %d %s", r.Code, r.Body)
	}
	// Another device at a taken index, or a taken device at a new index,
	// refuses the whole call.
	other := newBoxes(1)
	for _, body := range []map[string]any{
		devicesBody(2, append(other, boxes[2])), // another device at index 2
		devicesBody(3, []box{other[0], boxes[0]}),
		devicesBody(0, []box{{boxes[0].id, boxes[0].secret, creds.NewClaimCode()}}),
		devicesBody(0, []box{{boxes[0].id, creds.NewSecret(), boxes[0].code}}),
	} {
		if r := c.Admin(http.MethodPost, path+"/devices", body); r.Code != http.StatusConflict || r.JSON(t)["code"] != "batch_conflict" {
			t.Fatalf("clashing registration: %d %s", r.Code, r.Body)
		}
	}
	if r := c.Admin(http.MethodGet, path, nil); r.JSON(t)["devices"] != float64(3) {
		t.Fatalf("a refused registration registered something: %s", r.Body)
	}

	// A box reporting 64 CPUs and 1 TiB gets no pool tenant.
	c.NewAgentWith(boxes[0].id, boxes[0].secret, hugeHost(boxes[0].id))
	h := c.Admin(http.MethodGet, "/api/hosts/"+boxes[0].id, nil).JSON(t)
	if h["kind"] != "box" || h["pool"] != "" || h["name"] != "2026-12-sz-a-0000" || h["labels"].(map[string]any)["batch"] != "2026-12-sz-a" {
		t.Fatalf("box host: %v", h)
	}
	r = c.User(http.MethodPost, "/api/tenants", "u1", map[string]any{"plan": "free"})
	if r.Code != http.StatusServiceUnavailable || !strings.Contains(r.JSON(t)["error"].(string), "1 with a tenant runtime, 0 of them workers of pool shared") {
		t.Fatalf("create with only a box online: %d %s", r.Code, r.Body)
	}
	if r := c.Admin(http.MethodPatch, "/api/hosts/"+boxes[0].id, map[string]any{"pool": "shared"}); r.Code != http.StatusConflict || r.JSON(t)["code"] != "not_a_worker" {
		t.Fatalf("a box put into a pool: %d %s", r.Code, r.Body)
	}

	// Listed with its states.
	list := c.Admin(http.MethodGet, "/api/admin/batches", nil).JSONList(t)
	if len(list) != 1 || list[0]["devices"] != float64(3) || list[0]["online"] != float64(1) || list[0]["pending"] != float64(2) {
		t.Fatalf("batches: %v", list)
	}
	d := c.Admin(http.MethodGet, path, nil).JSON(t)
	bs := d["boxes"].([]any)
	if len(bs) != 3 || bs[0].(map[string]any)["deviceId"] != boxes[0].id || bs[0].(map[string]any)["status"] != "online" || bs[2].(map[string]any)["index"] != float64(2) {
		t.Fatalf("batch detail: %v", d)
	}

	// Revoked: every box is deleted, the connected one is dropped and none
	// can connect again; the batch takes no more devices.
	if err := c.TryConnect(boxes[1].id, boxes[1].secret); err != nil {
		t.Fatalf("a registered box cannot connect before the revocation: %v", err)
	}
	r = c.Admin(http.MethodDelete, path, nil)
	if m := r.JSON(t); r.Code != http.StatusOK || m["revokedAt"] == nil || m["deleted"] != float64(3) {
		t.Fatalf("revoke: %d %s", r.Code, r.Body)
	}
	tstest.Await(t, "the revoked box's host gone", 10*time.Second, func() bool {
		return c.Admin(http.MethodGet, "/api/hosts/"+boxes[0].id, nil).Code == http.StatusNotFound
	})
	for _, b := range boxes {
		if err := c.TryConnect(b.id, b.secret); err == nil || !strings.Contains(err.Error(), "not Authorized") {
			t.Fatalf("box %s of a revoked batch connects: %v", b.id, err)
		}
	}
	if r := c.Admin(http.MethodPost, path+"/devices", devicesBody(3, other)); r.Code != http.StatusConflict || r.JSON(t)["code"] != "batch_revoked" {
		t.Fatalf("register into a revoked batch: %d %s", r.Code, r.Body)
	}
	if r := c.Admin(http.MethodPut, path, map[string]any{"model": "OpenClaw Box v1"}); r.Code != http.StatusConflict || r.JSON(t)["code"] != "batch_revoked" {
		t.Fatalf("create a revoked batch again: %d %s", r.Code, r.Body)
	}
	// Revoking again is harmless.
	if r := c.Admin(http.MethodDelete, path, nil); r.Code != http.StatusOK || r.JSON(t)["deleted"] != float64(3) {
		t.Fatalf("revoke again: %d %s", r.Code, r.Body)
	}
	audit := string(c.Admin(http.MethodGet, "/api/admin/audit?limit=20", nil).Body)
	for _, action := range []string{"batch.create", "batch.register", "batch.revoke", "host.delete"} {
		if !strings.Contains(audit, `"action":"`+action+`"`) {
			t.Errorf("no %s in the audit log: %s", action, audit)
		}
	}
}

// TestFactoryBatchRefusals: what the factory may send is checked, and
// nothing of a refused call is registered.
func TestFactoryBatchRefusals(t *testing.T) {
	t.Parallel()
	c := servertest.New(t)
	const path = "/api/admin/batches/b1"
	if r := c.Admin(http.MethodPost, path+"/devices", devicesBody(0, newBoxes(1))); r.Code != http.StatusNotFound {
		t.Fatalf("register into a missing batch: %d %s", r.Code, r.Body)
	}
	c.Admin(http.MethodPut, path, map[string]any{"model": "OpenClaw Box v1"})
	good := newBoxes(1)[0]
	dev := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"index": 0, "deviceId": good.id, "secretHash": creds.Hash(good.secret), "claimCode": good.code}
		mod(m)
		return map[string]any{"devices": []any{m}}
	}
	many := devicesBody(0, newBoxes(201))
	tests := []struct {
		name, method, path string
		body               any
		want               string
	}{
		{"bad batch id", http.MethodPut, "/api/admin/batches/Bad_ID", map[string]any{"model": "m"}, `batch ID "Bad_ID": use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit`},
		{"no model", http.MethodPut, "/api/admin/batches/b2", map[string]any{"model": ""}, `model must be 1-64 bytes, e.g. "OpenClaw Box v1"`},
		{"no devices", http.MethodPost, path + "/devices", map[string]any{"devices": []any{}}, "give 1-200 devices per call"},
		{"too many", http.MethodPost, path + "/devices", many, "give 1-200 devices per call"},
		{"bad index", http.MethodPost, path + "/devices", dev(func(m map[string]any) { m["index"] = 100000 }), "index 100000: use 0-99999"},
		{"bad device id", http.MethodPost, path + "/devices", dev(func(m map[string]any) { m["deviceId"] = "box-1" }), `index 0: device id "box-1" must be "dev_" followed by 8 to 64 lowercase letters or digits`},
		{"a secret, not its hash", http.MethodPost, path + "/devices", dev(func(m map[string]any) { m["secretHash"] = good.secret }), "index 0: secretHash must be the lowercase hex SHA-256 of the device secret"},
		{"bad claim code", http.MethodPost, path + "/devices", dev(func(m map[string]any) { m["claimCode"] = "1234" }), "index 0: claimCode: a claim code has 12 letters and digits, like ABCD-EFGH-JKMN"},
	}
	for _, tc := range tests {
		r := c.Admin(tc.method, tc.path, tc.body)
		if r.Code != http.StatusBadRequest || r.JSON(t)["error"] != tc.want {
			t.Errorf("%s: %d %s", tc.name, r.Code, r.Body)
		}
	}
	if r := c.Admin(http.MethodGet, path, nil); r.JSON(t)["devices"] != float64(0) {
		t.Fatalf("refused calls registered devices: %s", r.Body)
	}
	if r := c.Admin(http.MethodDelete, "/api/admin/batches/nope", nil); r.Code != http.StatusNotFound {
		t.Fatalf("revoke a missing batch: %d %s", r.Code, r.Body)
	}
}
