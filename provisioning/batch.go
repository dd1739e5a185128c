package provisioning

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/clawfleet/clawfleet/pkg/atomicfile"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// Files of a batch's output directory.
const (
	// ManifestFile holds every device of the batch with its secret and claim
	// code, and whether the cloud has it: the factory's record, and what
	// makes a rerun resume instead of starting over. Mode 0600, like the
	// credentials it can recreate.
	ManifestFile = "manifest.json"
	// SheetFile is the printable PDF of the batch's labels.
	SheetFile = "labels.pdf"
	// LabelFile is each device's label, in its own directory beside its
	// credentials.json.
	LabelFile = "label.png"
	// DefaultChunk is how many devices one registration call carries.
	DefaultChunk = 100
	// MaxCount bounds a batch (the cloud's limit).
	MaxCount = 100_000
)

// Manifest is a batch as the factory keeps it, in ManifestFile.
type Manifest struct {
	Version int    `json:"version"`
	Batch   string `json:"batch"`
	Model   string `json:"model"`
	// PublicURL is the cloud's address for the boxes and their owners:
	// the claim links and credentials' cloudUrl. MQTTURL is the broker's.
	PublicURL string `json:"publicUrl"`
	MQTTURL   string `json:"mqttUrl"`
	// CreatedAt dates the batch and its label sheet.
	CreatedAt time.Time        `json:"createdAt"`
	Devices   []ManifestDevice `json:"devices"`
}

// ManifestDevice is one device: generated, saved, then registered.
type ManifestDevice struct {
	Index      int    `json:"index"`
	DeviceID   string `json:"deviceId"`
	Secret     string `json:"secret"`
	ClaimCode  string `json:"claimCode"`
	Registered bool   `json:"registered"`
}

// Dir is the device's directory inside the batch's: "0007-dev_…".
func (d *ManifestDevice) Dir() string { return fmt.Sprintf("%04d-%s", d.Index, d.DeviceID) }

// LoadManifest reads dir's manifest; nil, nil when there is none.
func LoadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Version != 1 || m.Batch == "" {
		return nil, fmt.Errorf("%s is not a batch manifest of this tool (version 1): restore it from a backup, or use another --out", filepath.Join(dir, ManifestFile))
	}
	for i, d := range m.Devices {
		if d.Index != i {
			return nil, fmt.Errorf("%s: device %d has index %d: the manifest is damaged; restore it from a backup", filepath.Join(dir, ManifestFile), i, d.Index)
		}
	}
	return &m, nil
}

func saveManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the manifest: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save the manifest: %w", err)
	}
	return nil
}

var batchIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// NewBatchID returns an ID for a new batch: "b" + the date + 6 random
// characters, e.g. b20261203-k3x9qa.
func NewBatchID(now time.Time) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return "b" + now.UTC().Format("20060102") + "-" + string(b)
}

// BatchOptions say what RunBatch makes.
type BatchOptions struct {
	Client *Client
	// Out is the batch's directory: the manifest, the label sheet and a
	// directory per device.
	Out string
	// Batch is the batch ID: empty takes the manifest's, or a new one.
	Batch string
	// Model is printed on the labels; empty takes the manifest's.
	Model string
	// Count is the number of devices the batch has when done: more than
	// the manifest has adds devices; fewer is refused.
	Count int
	// PublicURL and MQTTURL replace what the manifest has or, for a new
	// batch, what the cloud suggests.
	PublicURL, MQTTURL string
	// Chunk is the number of devices registered per call (DefaultChunk).
	Chunk int
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// RunBatch makes or resumes a batch. Every device's identity is generated
// and saved in the manifest before the cloud hears of it, and marked
// registered only once the cloud has answered, so a crash at any point
// loses no device's secret: a rerun with the same directory registers what
// the cloud lacks (the cloud answers "existing" for what it has) and then
// writes every device's credentials.json and label, and the label sheet,
// from the manifest, the same bytes each time.
func RunBatch(ctx context.Context, o BatchOptions) (*Manifest, error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	if o.Chunk <= 0 {
		o.Chunk = DefaultChunk
	}
	if err := os.MkdirAll(o.Out, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.Out, err)
	}
	m, err := LoadManifest(o.Out)
	if err != nil {
		return nil, err
	}
	if m == nil {
		id := o.Batch
		if id == "" {
			id = NewBatchID(time.Now())
		}
		m = &Manifest{Version: 1, Batch: id, Model: o.Model, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	} else {
		switch {
		case o.Batch != "" && o.Batch != m.Batch:
			return nil, fmt.Errorf("%s holds batch %s: give --batch %s to resume it, or another --out for batch %s", o.Out, m.Batch, m.Batch, o.Batch)
		case o.Model != "" && o.Model != m.Model:
			return nil, fmt.Errorf("batch %s is of model %q, not %q", m.Batch, m.Model, o.Model)
		case o.Count < len(m.Devices):
			return nil, fmt.Errorf("batch %s has %d devices: a batch never shrinks; give --count %d or more", m.Batch, len(m.Devices), len(m.Devices))
		}
	}
	if !batchIDPattern.MatchString(m.Batch) {
		return nil, fmt.Errorf("--batch %q: use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit", m.Batch)
	}
	if err := ValidateModel(m.Model); err != nil {
		return nil, err
	}
	if o.Count < 1 || o.Count > MaxCount {
		return nil, fmt.Errorf("--count must be between 1 and %d", MaxCount)
	}

	info, created, err := o.Client.CreateBatch(ctx, m.Batch, m.Model)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", m.Batch, err)
	}
	if created {
		logf("batch %s (%s) created", m.Batch, m.Model)
	}
	m.PublicURL = firstOf(o.PublicURL, m.PublicURL, info.CloudURL)
	m.MQTTURL = firstOf(o.MQTTURL, m.MQTTURL, info.MQTTURL)

	// Generate and save first: from here on, no device can be lost.
	for i := len(m.Devices); i < o.Count; i++ {
		m.Devices = append(m.Devices, ManifestDevice{Index: i, DeviceID: creds.NewDeviceID(), Secret: creds.NewSecret(), ClaimCode: creds.NewClaimCode()})
	}
	if err := saveManifest(o.Out, m); err != nil {
		return nil, err
	}

	var todo []int
	for i := range m.Devices {
		if !m.Devices[i].Registered {
			todo = append(todo, i)
		}
	}
	for start := 0; start < len(todo); start += o.Chunk {
		chunk := todo[start:min(start+o.Chunk, len(todo))]
		devs := make([]Device, 0, len(chunk))
		for _, i := range chunk {
			d := &m.Devices[i]
			devs = append(devs, Device{Index: d.Index, DeviceID: d.DeviceID, SecretHash: creds.Hash(d.Secret), ClaimCode: d.ClaimCode})
		}
		r, err := o.Client.RegisterDevices(ctx, m.Batch, devs)
		if err != nil {
			return nil, fmt.Errorf("register devices %d-%d of batch %s (rerun to resume: the manifest keeps them): %w", chunk[0], chunk[len(chunk)-1], m.Batch, err)
		}
		for _, i := range chunk {
			m.Devices[i].Registered = true
		}
		if err := saveManifest(o.Out, m); err != nil {
			return nil, err
		}
		logf("devices %d-%d registered (%d new, %d already there)", chunk[0], chunk[len(chunk)-1], r.New, r.Existing)
	}

	if err := writeOutputs(o.Out, m); err != nil {
		return nil, err
	}
	logf("batch %s: %d devices; credentials and labels in %s, the label sheet in %s", m.Batch, len(m.Devices), o.Out, filepath.Join(o.Out, SheetFile))
	return m, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Labels are the batch's labels, in batch order.
func (m *Manifest) Labels() []Label {
	out := make([]Label, 0, len(m.Devices))
	for _, d := range m.Devices {
		out = append(out, Label{Model: m.Model, DeviceID: d.DeviceID, ClaimCode: d.ClaimCode, ClaimURL: creds.ClaimURL(m.PublicURL, d.DeviceID, d.ClaimCode)})
	}
	return out
}

// writeOutputs writes each device's credentials.json and label and the
// label sheet (labels and sheet are left alone when they hold the bytes).
func writeOutputs(dir string, m *Manifest) error {
	labels := m.Labels()
	for i := range m.Devices {
		d := &m.Devices[i]
		sub := filepath.Join(dir, d.Dir())
		cr := &creds.Credentials{DeviceID: d.DeviceID, Secret: d.Secret, MQTTURL: m.MQTTURL, CloudURL: m.PublicURL, ClaimCode: d.ClaimCode}
		if err := creds.Save(filepath.Join(sub, creds.FileName), cr); err != nil {
			return fmt.Errorf("device %d: %w (check --mqtt-url)", d.Index, err)
		}
		png, err := LabelPNG(labels[i])
		if err != nil {
			return fmt.Errorf("label of device %d: %w", d.Index, err)
		}
		if err := writeIfChanged(filepath.Join(sub, LabelFile), png); err != nil {
			return err
		}
	}
	pdf, err := LabelSheetPDF(labels, m.CreatedAt)
	if err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(dir, SheetFile), pdf)
}

// writeIfChanged writes data atomically with mode 0600 (its directory 0700)
// unless the file holds it already.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
