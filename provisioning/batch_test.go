package provisioning_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/provisioning"
)

// crashAfter lets the cloud answer the first n device registrations and,
// for the next, lets the cloud register them but loses the answer: what a
// factory station sees when it dies between registering and saving.
type crashAfter struct {
	n     int32
	calls atomic.Int32
}

func (c *crashAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/devices") && c.calls.Add(1) > c.n {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("station lost power")
	}
	return resp, err
}

// files are the batch directory's files and their contents.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = b
		}
		return nil
	})
	return out
}

// TestRunBatch: a batch run that dies after the cloud registered devices
// it never heard back about is resumed by a rerun, which registers every
// device exactly once and writes its credentials and label; a run after
// that changes nothing; the boxes connect with their credentials until the
// batch is revoked.
func TestRunBatch(t *testing.T) {
	c := servertest.New(t)
	out := t.TempDir()
	mqtt := "tcp://" + c.App.MQTTAddr().String()
	opts := func(count int, hc *http.Client) provisioning.BatchOptions {
		return provisioning.BatchOptions{
			Client: &provisioning.Client{CloudURL: c.URL, AdminToken: servertest.AdminToken, HTTP: hc},
			Out:    out, Batch: "sz-2026-12-a", Model: "OpenClaw Box v1", Count: count, MQTTURL: mqtt,
			PublicURL: "https://claw.example.com", Chunk: 3,
		}
	}
	ctx := context.Background()

	// The first run dies during the second chunk: the cloud registered
	// devices 3-5, the station did not hear it.
	_, err := provisioning.RunBatch(ctx, opts(7, &http.Client{Transport: &crashAfter{n: 1}}))
	if err == nil || !strings.Contains(err.Error(), "station lost power") || !strings.Contains(err.Error(), "rerun to resume") {
		t.Fatalf("crashed run = %v", err)
	}
	m, err := provisioning.LoadManifest(out)
	if err != nil || m == nil || len(m.Devices) != 7 {
		t.Fatalf("manifest after the crash = %+v, %v", m, err)
	}
	for i, d := range m.Devices {
		if d.Registered != (i < 3) || len(d.Secret) != 43 || d.ClaimCode == "" {
			t.Fatalf("device %d after the crash: %+v", i, d)
		}
	}
	if st, _ := os.Stat(filepath.Join(out, provisioning.ManifestFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("manifest mode %v", st.Mode())
	}
	if r := c.Admin(http.MethodGet, "/api/admin/batches/sz-2026-12-a", nil).JSON(t); r["devices"] != float64(6) {
		t.Fatalf("the cloud after the crash: %v", r)
	}
	if _, err := os.Stat(filepath.Join(out, provisioning.SheetFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("labels written before every device was registered")
	}

	// The rerun resumes: the secrets of devices 3-5, which the cloud has,
	// were saved before it was asked.
	var log bytes.Buffer
	o := opts(7, nil)
	o.Log = &log
	m2, err := provisioning.RunBatch(ctx, o)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if !strings.Contains(log.String(), "devices 3-5 registered (0 new, 3 already there)") || !strings.Contains(log.String(), "devices 6-6 registered (1 new, 0 already there)") {
		t.Fatalf("rerun log:\n%s", log.String())
	}
	d := c.Admin(http.MethodGet, "/api/admin/batches/sz-2026-12-a", nil).JSON(t)
	boxes := d["boxes"].([]any)
	if d["devices"] != float64(7) || len(boxes) != 7 {
		t.Fatalf("the cloud after the rerun: %v", d)
	}
	for i, dev := range m2.Devices {
		if dev.DeviceID != m.Devices[i].DeviceID || dev.Secret != m.Devices[i].Secret || !dev.Registered {
			t.Fatalf("device %d changed across the rerun: %+v, was %+v", i, dev, m.Devices[i])
		}
		if b := boxes[i].(map[string]any); b["deviceId"] != dev.DeviceID || b["index"] != float64(i) {
			t.Fatalf("the cloud's box %d is %v, the manifest's %s", i, b, dev.DeviceID)
		}
		cr, err := creds.Load(filepath.Join(out, dev.Dir(), creds.FileName))
		if err != nil || cr.DeviceID != dev.DeviceID || cr.Secret != dev.Secret || cr.ClaimCode != dev.ClaimCode ||
			cr.CloudURL != "https://claw.example.com" || cr.MQTTURL != mqtt {
			t.Fatalf("credentials of device %d = %+v, %v", i, cr, err)
		}
		if _, err := os.Stat(filepath.Join(out, dev.Dir(), provisioning.LabelFile)); err != nil {
			t.Fatalf("label of device %d: %v", i, err)
		}
	}

	// A box comes up with its flashed credentials, as a box.
	cr, _ := creds.Load(filepath.Join(out, m2.Devices[4].Dir(), creds.FileName))
	c.NewAgent(cr.DeviceID, cr.Secret)
	if h := c.Admin(http.MethodGet, "/api/hosts/"+cr.DeviceID, nil).JSON(t); h["kind"] != "box" || h["status"] != "online" {
		t.Fatalf("box host: %v", h)
	}

	// Another run changes nothing, byte for byte.
	before := files(t, out)
	if _, err := provisioning.RunBatch(ctx, opts(7, nil)); err != nil {
		t.Fatal(err)
	}
	after := files(t, out)
	if len(after) != len(before) || len(before) != 1+1+2*7 {
		t.Fatalf("files %d, then %d", len(before), len(after))
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Fatalf("%s changed on a rerun", name)
		}
	}

	// Runs that would lose or mix devices are refused.
	for _, tc := range []struct {
		mod  func(*provisioning.BatchOptions)
		want string
	}{
		{func(o *provisioning.BatchOptions) { o.Count = 5 }, "batch sz-2026-12-a has 7 devices: a batch never shrinks; give --count 7 or more"},
		{func(o *provisioning.BatchOptions) { o.Batch = "other" }, "holds batch sz-2026-12-a: give --batch sz-2026-12-a to resume it"},
		{func(o *provisioning.BatchOptions) { o.Model = "OpenClaw Box v2" }, `batch sz-2026-12-a is of model "OpenClaw Box v1", not "OpenClaw Box v2"`},
	} {
		o := opts(7, nil)
		tc.mod(&o)
		if _, err := provisioning.RunBatch(ctx, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run = %v, want %q", err, tc.want)
		}
	}
	// A larger count adds devices.
	if m3, err := provisioning.RunBatch(ctx, opts(9, nil)); err != nil || len(m3.Devices) != 9 || m3.Devices[8].DeviceID == "" {
		t.Fatalf("grow to 9: %v", err)
	}
	if r := c.Admin(http.MethodGet, "/api/admin/batches/sz-2026-12-a", nil).JSON(t); r["devices"] != float64(9) {
		t.Fatalf("the cloud after growing: %v", r)
	}

	// Revoked, no box of the batch gets into the broker.
	if r := c.Admin(http.MethodDelete, "/api/admin/batches/sz-2026-12-a", nil); r.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Code, r.Body)
	}
	m4, _ := provisioning.LoadManifest(out)
	for _, dev := range m4.Devices {
		cr, _ := creds.Load(filepath.Join(out, dev.Dir(), creds.FileName))
		if err := c.TryConnect(cr.DeviceID, cr.Secret); err == nil || !strings.Contains(err.Error(), "not Authorized") {
			t.Fatalf("box %d of the revoked batch connects: %v", dev.Index, err)
		}
	}
	if _, err := provisioning.RunBatch(ctx, opts(9, nil)); err == nil || !strings.Contains(err.Error(), "batch_revoked") {
		t.Fatalf("run of a revoked batch = %v", err)
	}
}
