// Package factory keeps the factory's batches of boxes: their registration
// by clawfleet-provision (idempotent by batch and index), listing and
// revocation, and the keyed hashes of the boxes' claim codes. A box is a
// host of kind box: it never takes the shared pool's tenants.
package factory

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Limits of a batch and of one registration call.
const (
	// MaxBatchSize bounds a batch's indexes (0 … MaxBatchSize-1).
	MaxBatchSize = 100_000
	// MaxChunk is the most devices one registration call may carry (it
	// stays well inside the API's 64 KiB body limit).
	MaxChunk = 200
	// MaxModel is the longest model name, in bytes.
	MaxModel = 64
)

// ErrBadRequest is a request the factory refuses; its copies say why.
var ErrBadRequest = apperr.New(apperr.Invalid, "invalid_request", "bad request")

// ErrWrongClaimCode is a claim code that does not match the box's.
var ErrWrongClaimCode = apperr.New(apperr.Forbidden, "wrong_claim_code", "the claim code does not match this device")

// Service is the factory's side of the cloud.
type Service struct {
	store    *store.Store
	fleet    *fleet.Fleet
	claimKey []byte
	log      *slog.Logger
	now      func() time.Time
}

// New builds the service. secretKey is the cloud's secret key (the one that
// seals gateway tokens); the claim codes' hash key is derived from it.
func New(st *store.Store, f *fleet.Fleet, secretKey []byte, log *slog.Logger) (*Service, error) {
	if len(secretKey) < 32 {
		return nil, errors.New("factory: the secret key must be 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, secretKey, nil, "clawfleet claim codes v1", 32)
	if err != nil {
		return nil, fmt.Errorf("factory: derive the claim code key: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: st, fleet: f, claimKey: k, log: log.With("component", "factory"), now: func() time.Time { return time.Now().UTC() }}, nil
}

// ClaimHash is the stored form of a device's claim code: HMAC-SHA256 under
// a key derived from the cloud's secret key, of the device ID and the code
// in its printed form.
//
// A keyed hash rather than a slow one: a claim code has 60 bits, which a
// fast unkeyed hash would leave to offline guessing from a leaked database
// (2^60 SHA-256 is within reach of a GPU farm), and a slow hash buys only a
// constant factor while costing CPU on every claim attempt. Without the key,
// which is not in the database, the hashes are worthless to a thief; with
// it, the codes only let one claim boxes, which the rate limits and the
// one-owner rule bound. Binding the device ID means a hash copied to another
// box's row does not match its code.
func (s *Service) ClaimHash(deviceID, printedCode string) string {
	m := hmac.New(sha256.New, s.claimKey)
	m.Write([]byte(deviceID))
	m.Write([]byte{0})
	m.Write([]byte(printedCode))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckClaimCode compares, in constant time, a claim code as a person typed
// it against the device's stored hash, and returns the device's box. An
// unknown device costs the same work and answers ErrWrongClaimCode too, so
// the answer tells nothing about which device IDs exist.
func (s *Service) CheckClaimCode(ctx context.Context, deviceID, code string) (*store.Box, error) {
	printed, err := creds.NormalizeClaimCode(code)
	if err != nil {
		return nil, ErrBadRequest.Withf("%v", err)
	}
	box, err := s.store.GetBox(ctx, deviceID)
	want := ""
	if err == nil {
		want = box.ClaimCodeHash
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	got := s.ClaimHash(deviceID, printed)
	if !hmac.Equal([]byte(got), []byte(want)) || want == "" {
		return nil, ErrWrongClaimCode
	}
	return box, nil
}

var batchID = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// ValidateBatchID checks a batch ID.
func ValidateBatchID(id string) error {
	if !batchID.MatchString(id) {
		return ErrBadRequest.Withf("batch ID %q: use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit", id)
	}
	return nil
}

func validateModel(model string) error {
	if model == "" || len(model) > MaxModel {
		return ErrBadRequest.Withf("model must be 1-%d bytes, e.g. \"OpenClaw Box v1\"", MaxModel)
	}
	for _, r := range model {
		if r < 0x20 || r == 0x7f {
			return ErrBadRequest.Withf("model has control characters")
		}
	}
	return nil
}

// CreateBatch creates a batch, or returns the existing batch of that ID and
// model (created false): a factory run starts with it, a rerun too.
func (s *Service) CreateBatch(ctx context.Context, id, model, actor string) (*store.Batch, bool, error) {
	if err := ValidateBatchID(id); err != nil {
		return nil, false, err
	}
	if err := validateModel(model); err != nil {
		return nil, false, err
	}
	b, created, err := s.store.PutBatch(ctx, &store.Batch{ID: id, Model: model, CreatedBy: actor, CreatedAt: s.now()})
	if err != nil {
		return nil, false, err
	}
	if created {
		_ = s.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "batch.create", Target: id, Detail: model})
		s.log.Info("batch created", "batch", id, "model", model, "by", actor)
	}
	return b, created, nil
}

// Device is one box as the factory registers it: never its secret, only
// the secret's SHA-256 (creds.Hash), and its claim code, which only the
// cloud can hash.
type Device struct {
	Index      int    `json:"index"`
	DeviceID   string `json:"deviceId"`
	SecretHash string `json:"secretHash"`
	ClaimCode  string `json:"claimCode"`
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Registered says what a registration call did.
type Registered struct {
	New      int `json:"registered"`
	Existing int `json:"existing"`
}

// Register adds devices to a batch: each becomes a box host, pending until
// it connects. A device already registered at its index with the same ID,
// secret and claim code counts as existing, so a factory run that is
// repeated (after a crash, say) duplicates nothing; a clash refuses the
// whole call and registers none of it.
func (s *Service) Register(ctx context.Context, batchID string, devs []Device, actor string) (Registered, error) {
	if len(devs) == 0 || len(devs) > MaxChunk {
		return Registered{}, ErrBadRequest.Withf("give 1-%d devices per call", MaxChunk)
	}
	b, err := s.store.GetBatch(ctx, batchID)
	if err != nil {
		return Registered{}, err
	}
	rows := make([]store.BoxHost, 0, len(devs))
	seen := map[string]bool{}
	seenIndex := map[int]bool{}
	now := s.now()
	for _, d := range devs {
		if d.Index < 0 || d.Index >= MaxBatchSize {
			return Registered{}, ErrBadRequest.Withf("index %d: use 0-%d", d.Index, MaxBatchSize-1)
		}
		if err := proto.ValidateDeviceID(d.DeviceID); err != nil {
			return Registered{}, ErrBadRequest.Withf("index %d: %v", d.Index, err)
		}
		if !hexHash.MatchString(d.SecretHash) {
			return Registered{}, ErrBadRequest.Withf("index %d: secretHash must be the lowercase hex SHA-256 of the device secret", d.Index)
		}
		code, err := creds.NormalizeClaimCode(d.ClaimCode)
		if err != nil {
			return Registered{}, ErrBadRequest.Withf("index %d: claimCode: %v", d.Index, err)
		}
		if seen[d.DeviceID] || seenIndex[d.Index] {
			return Registered{}, ErrBadRequest.Withf("index %d (%s) is given twice", d.Index, d.DeviceID)
		}
		seen[d.DeviceID], seenIndex[d.Index] = true, true
		rows = append(rows, store.BoxHost{
			Host: store.Host{ID: d.DeviceID, Name: fmt.Sprintf("%s-%04d", b.ID, d.Index), SecretHash: d.SecretHash,
				Labels: map[string]string{"batch": b.ID}},
			Box: store.Box{DeviceID: d.DeviceID, BatchIndex: d.Index, ClaimCodeHash: s.ClaimHash(d.DeviceID, code), ClaimCodeAt: now, CreatedAt: now},
		})
	}
	idx := make([]int, 0, len(devs))
	for _, d := range devs {
		idx = append(idx, d.Index)
	}
	audit := &store.AuditEvent{Actor: actor, Action: "batch.register", Target: batchID,
		Detail: fmt.Sprintf("indexes %d-%d", slices.Min(idx), slices.Max(idx))}
	created, existing, err := s.store.RegisterBoxes(ctx, batchID, rows, audit)
	if err != nil {
		return Registered{}, err
	}
	hs := make([]*store.Host, len(created))
	for i := range created {
		hs[i] = &created[i]
	}
	s.fleet.AddHosts(hs...)
	if len(created) > 0 {
		s.log.Info("boxes registered", "batch", batchID, "new", len(created), "existing", existing)
	}
	return Registered{New: len(created), Existing: existing}, nil
}

// Summary is a batch with how many of its boxes are in each state.
type Summary struct {
	ID        string     `json:"id"`
	Model     string     `json:"model"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// Devices is the number of boxes registered; the counts below add up
	// to it (deleted: an operator deleted its host, or the batch was
	// revoked).
	Devices int `json:"devices"`
	Pending int `json:"pending"`
	Online  int `json:"online"`
	Offline int `json:"offline"`
	Deleted int `json:"deleted"`
	Claimed int `json:"claimed"`
}

// BoxView is one box of a batch.
type BoxView struct {
	Index    int    `json:"index"`
	DeviceID string `json:"deviceId"`
	// Status is the host's (pending, online, offline), or deleted.
	Status  string `json:"status"`
	Claimed bool   `json:"claimed"`
}

// Detail is a batch and its boxes.
type Detail struct {
	Summary
	Boxes []BoxView `json:"boxes"`
}

func (s *Service) statuses(ctx context.Context) (map[string]string, error) {
	hs, err := s.fleet.ListHosts(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(hs))
	for i := range hs {
		out[hs[i].ID] = hs[i].Status
	}
	return out, nil
}

func summarize(b *store.Batch, boxes []store.Box, status map[string]string) (Summary, []BoxView) {
	sum := Summary{ID: b.ID, Model: b.Model, CreatedAt: b.CreatedAt, RevokedAt: b.RevokedAt}
	views := make([]BoxView, 0, len(boxes))
	for _, x := range boxes {
		st, ok := status[x.DeviceID]
		if !ok {
			st = "deleted"
		}
		sum.Devices++
		switch st {
		case store.HostPending:
			sum.Pending++
		case store.HostOnline:
			sum.Online++
		case store.HostOffline:
			sum.Offline++
		default:
			sum.Deleted++
		}
		if x.ClaimedAt != nil {
			sum.Claimed++
		}
		views = append(views, BoxView{Index: x.BatchIndex, DeviceID: x.DeviceID, Status: st, Claimed: x.ClaimedAt != nil})
	}
	return sum, views
}

// List returns every batch, newest first, with its counts.
func (s *Service) List(ctx context.Context) ([]Summary, error) {
	bs, err := s.store.ListBatches(ctx)
	if err != nil {
		return nil, err
	}
	boxes, err := s.store.AllBoxes(ctx)
	if err != nil {
		return nil, err
	}
	status, err := s.statuses(ctx)
	if err != nil {
		return nil, err
	}
	byBatch := map[string][]store.Box{}
	for _, x := range boxes {
		byBatch[x.BatchID] = append(byBatch[x.BatchID], x)
	}
	out := make([]Summary, 0, len(bs))
	for i := range bs {
		sum, _ := summarize(&bs[i], byBatch[bs[i].ID], status)
		out = append(out, sum)
	}
	return out, nil
}

// Get returns one batch with its boxes.
func (s *Service) Get(ctx context.Context, id string) (*Detail, error) {
	b, err := s.store.GetBatch(ctx, id)
	if err != nil {
		return nil, err
	}
	boxes, status, err := s.boxes(ctx, id)
	if err != nil {
		return nil, err
	}
	sum, views := summarize(b, boxes, status)
	return &Detail{Summary: sum, Boxes: views}, nil
}

// boxes returns a batch's boxes and every host's status.
func (s *Service) boxes(ctx context.Context, batchID string) ([]store.Box, map[string]string, error) {
	boxes, err := s.store.BatchBoxes(ctx, batchID)
	if err != nil {
		return nil, nil, err
	}
	status, err := s.statuses(ctx)
	if err != nil {
		return nil, nil, err
	}
	return boxes, status, nil
}

// Revoke revokes a batch: it takes no more devices and every host of it is
// deleted as DELETE /api/hosts/{id} deletes one (credentials refused at once,
// connection closed, retained messages cleared). Revoking again deletes what
// a first revocation left (it was interrupted, say) and changes nothing else.
func (s *Service) Revoke(ctx context.Context, id, actor string) (*Detail, error) {
	b, err := s.store.RevokeBatch(ctx, id, s.now())
	if err != nil {
		return nil, err
	}
	boxes, status, err := s.boxes(ctx, id)
	if err != nil {
		return nil, err
	}
	deleted := 0
	for _, x := range boxes {
		if _, ok := status[x.DeviceID]; !ok {
			continue
		}
		if err := s.fleet.DeleteHost(ctx, x.DeviceID, actor); err != nil && !errors.Is(err, fleet.ErrHostNotFound) {
			return nil, fmt.Errorf("revoking batch %s: %w", id, err)
		}
		deleted++
	}
	_ = s.store.AddAudit(ctx, &store.AuditEvent{Actor: actor, Action: "batch.revoke", Target: id, Detail: fmt.Sprintf("%d hosts deleted", deleted)})
	s.log.Info("batch revoked", "batch", id, "hostsDeleted", deleted, "by", actor)
	return s.Get(ctx, b.ID)
}
