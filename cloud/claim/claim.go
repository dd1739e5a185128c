// Package claim binds factory boxes to their owners: a signed-in user who
// has a box's label claims it (POST /api/claims), the owner releases it,
// an operator resets it (wiping it, optionally with a fresh claim code) or
// reprints its label. A claim, without anyone touching the box, tells the
// agent it is claimed (retained down/claim), gives the box its tunnel, and
// creates the owner's instance on it; a release or reset undoes all three.
//
// Wrong claim codes are limited per device, per user and per client
// address, and a wrong code answers the same whether the device exists or
// not.
package claim

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/factory"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/ratelimit"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/cloud/tenant"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"golang.org/x/time/rate"
)

// Tenants creates and deletes the owner's instance (tenant.Service).
type Tenants interface {
	CreateOnBox(ctx context.Context, actor authz.Actor, u tenant.User, boxID, teamID, planName string) (*store.Tenant, bool, error)
	DeleteHostTenants(ctx context.Context, hostID, actor string) (int, error)
}

// Tunnels gives a claimed box its tunnel and takes it away again
// (tunnel.Service).
type Tunnels interface {
	Configure(ctx context.Context, hostID string) error
	Unconfigure(hostID string) error
}

// Limits on failed claim attempts (wrong codes), per hour; each is also
// the burst. The device ID is on the label and in every link, so a
// device's limit must not let anyone lock its owner out with a few wrong
// codes: past DeviceFailures at one device only the users and addresses
// that failed on it wait, and a newcomer still gets its attempt; each such
// attempt that fails uses up that user and that address there. The
// owner's first attempt passes, while an attacker needs a fresh account
// *and* a fresh address for every further guess, each also held by
// UserFailures and AddressFailures, until DeviceCeiling holds everyone:
// 50 × 8,766 h ≈ 438,000 guesses a year at one box, which hits its 60-bit
// code with probability 3.8 × 10^-13 (docs/box-pairing.md). The limiters
// are in memory: a cloud restart refills them.
const (
	DeviceFailures  = 5  // at one device, before only newcomers may try
	DeviceCeiling   = 50 // at one device, by anyone
	UserFailures    = 20 // by one user
	AddressFailures = 20 // from one client address
)

// Sealer seals and opens small secrets bound to an owner (seal.Sealer).
type Sealer interface {
	Seal(plain, ad string) string
	Open(sealed, ad string) (string, error)
}

// sealAD binds a sealed claim code to its device.
func sealAD(deviceID string) string { return "claim-code:" + deviceID }

// Options configure the service.
type Options struct {
	Store   *store.Store
	Fleet   *fleet.Fleet
	Bus     fleet.Bus
	Factory *factory.Service
	Tenants Tenants
	// Tunnels is nil when the cloud runs no tunnels.
	Tunnels Tunnels
	// Sealer keeps a reissued claim code readable until the box is
	// claimed (seal.Sealer under the cloud's secret key), so a box offline
	// across a cloud restart still learns it; nil keeps no copy (the box
	// then learns a new code only while this process runs).
	Sealer Sealer
	// Plan is the plan of the instance a claim creates ("free").
	Plan string
	// CommandTimeout bounds the factory-reset command (30 s).
	CommandTimeout time.Duration
	Logger         *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Service is the claim service.
type Service struct {
	o                                 Options
	log                               *slog.Logger
	byDevice, byCeiling, byUser, byIP *ratelimit.Keyed
	// who failed at which device: "device\x00user", "device\x00address"
	byDeviceUser, byDeviceIP *ratelimit.Keyed
}

// The service's failures, as API clients see them.
var (
	ErrRateLimited = apperr.New(apperr.RateLimited, "rate_limited", "too many wrong claim codes: wait and try again")
	ErrInvalidTeam = apperr.New(apperr.Invalid, "invalid_team", "teamId must be 1-40 letters, digits, '.', '_' or '-'")
	ErrBoxGone     = apperr.New(apperr.Gone, "box_gone", "this box was taken out of service (its batch was revoked or its host deleted): contact support")
	ErrNoBox       = apperr.New(apperr.NotFound, "no_box", "no box of yours with this device ID")
	ErrNotABox     = apperr.New(apperr.NotFound, "no_box", "no box with this device ID")
	ErrNotYourTeam = apperr.New(apperr.Forbidden, "not_your_team", "you can claim a box for a team only if you are its owner or an admin: leave teamId out to claim it for yourself")
	ErrNotYourBox  = apperr.New(apperr.Forbidden, "not_your_box", "only the box's claimer and the owners and admins of its team may release it")
	ErrSignedIn    = apperr.New(apperr.Forbidden, "user_required", "claiming a box needs a signed-in user, not the admin token")
)

// New builds the service and hooks it into the fleet's events.
func New(o Options) *Service {
	if o.Plan == "" {
		o.Plan = "free"
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().UTC() }
	}
	perHour := func(n int) *ratelimit.Keyed { return ratelimit.New(rate.Limit(float64(n)/3600), n) }
	s := &Service{o: o, log: o.Logger.With("component", "claim"),
		byDevice: perHour(DeviceFailures), byCeiling: perHour(DeviceCeiling), byUser: perHour(UserFailures), byIP: perHour(AddressFailures),
		byDeviceUser: perHour(DeviceFailures), byDeviceIP: perHour(DeviceFailures)}
	o.Fleet.Subscribe(s.onEvent)
	return s
}

// Request is a claim: the device and its code from the label, and
// optionally the owner's team the box is for.
type Request struct {
	DeviceID  string `json:"deviceId"`
	ClaimCode string `json:"claimCode"`
	TeamID    string `json:"teamId,omitempty"`
}

// Box is a box as its owner and the operator see it.
type Box struct {
	DeviceID   string     `json:"deviceId"`
	BatchID    string     `json:"batchId"`
	BatchIndex int        `json:"batchIndex"`
	Model      string     `json:"model,omitempty"`
	Claimed    bool       `json:"claimed"`
	OwnerID    string     `json:"ownerId,omitempty"`
	TeamID     string     `json:"teamId,omitempty"`
	ClaimedAt  *time.Time `json:"claimedAt,omitempty"`
	CodeIssued time.Time  `json:"claimCodeIssuedAt"`
	// Status is the host's (pending, online, offline); ClaimState what the
	// box last said of its claim in a heartbeat ("" before it did).
	Status     string `json:"status"`
	ClaimState string `json:"claimState,omitempty"`
}

// Result is a claim's outcome: the box, and the owner's instance (nil when
// it could not be created: InstanceError says why; a later claim by the
// same owner retries).
type Result struct {
	Box           Box           `json:"box"`
	Already       bool          `json:"-"`
	Tenant        *store.Tenant `json:"-"`
	InstanceError string        `json:"instanceError,omitempty"`
}

var teamID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$`)

// limited is a 429 when the user or the address has failed too often, or
// the device has and this user or address is among those who failed on it;
// it is asked before the code is even compared, so the limits really bound
// guessing. Retry-After is when the first token comes back.
func (s *Service) limited(deviceID, user, ip string) error {
	du, di := deviceID+"\x00"+user, deviceID+"\x00"+ip
	switch {
	case s.byCeiling.Exhausted(deviceID):
		return ErrRateLimited.Withf("too many wrong claim codes for this device: wait %d minutes and try again", max(1, 60/DeviceCeiling)).Retrying(time.Hour / DeviceCeiling)
	case s.byDeviceUser.Exhausted(du) || s.byDeviceIP.Exhausted(di) ||
		s.byDevice.Exhausted(deviceID) && (s.byDeviceUser.Used(du) || s.byDeviceIP.Used(di)):
		return ErrRateLimited.Withf("too many wrong claim codes for this device: wait %d minutes and try again", 60/DeviceFailures).Retrying(time.Hour / DeviceFailures)
	case s.byUser.Exhausted(user):
		return ErrRateLimited.Withf("too many wrong claim codes from your account: wait %d minutes and try again", 60/UserFailures).Retrying(time.Hour / UserFailures)
	case s.byIP.Exhausted(ip):
		return ErrRateLimited.Withf("too many wrong claim codes from your address: wait %d minutes and try again", 60/AddressFailures).Retrying(time.Hour / AddressFailures)
	}
	return nil
}

// failed counts a wrong code against the device, the user and the address,
// and against this user and this address at the device.
func (s *Service) failed(deviceID, user, ip string) {
	s.byDevice.Allow(deviceID)
	s.byCeiling.Allow(deviceID)
	s.byDeviceUser.Allow(deviceID + "\x00" + user)
	s.byDeviceIP.Allow(deviceID + "\x00" + ip)
	s.byUser.Allow(user)
	s.byIP.Allow(ip)
}

// Claim binds a box to actor (a signed-in user) if req's code is the box's.
// A box actor already owns answers as a new claim did, with Already set; a
// box someone else owns is store.ErrBoxClaimed (audited); a wrong code, or a
// device that does not exist, is factory.ErrWrongClaimCode.
func (s *Service) Claim(ctx context.Context, actor authz.Actor, ip string, req Request) (*Result, error) {
	if actor.UserID == "" {
		return nil, ErrSignedIn
	}
	if req.TeamID != "" && !teamID.MatchString(req.TeamID) {
		return nil, ErrInvalidTeam
	}
	// A box is claimed for a team only by who may create its instances.
	if req.TeamID != "" && authz.CanTeam(actor, authz.Create, req.TeamID) != nil {
		return nil, ErrNotYourTeam
	}
	// A malformed ID is no device's: said as such, it tells nothing, and
	// keeps arbitrary strings out of the limiters' keys.
	if err := proto.ValidateDeviceID(req.DeviceID); err != nil {
		return nil, factory.ErrBadRequest.Withf("deviceId: %v", err)
	}
	if err := s.limited(req.DeviceID, actor.UserID, ip); err != nil {
		s.log.Warn("claim attempts limited", "device", truncate(req.DeviceID, 80), "user", actor.UserID, "ip", ip)
		return nil, err
	}
	box, err := s.o.Factory.CheckClaimCode(ctx, req.DeviceID, req.ClaimCode)
	if err != nil {
		if errors.Is(err, factory.ErrWrongClaimCode) {
			s.failed(req.DeviceID, actor.UserID, ip)
			s.log.Warn("wrong claim code", "device", truncate(req.DeviceID, 80), "user", actor.UserID, "ip", ip)
		}
		return nil, err
	}
	id := box.DeviceID
	if _, err := s.o.Fleet.GetHost(ctx, id); errors.Is(err, fleet.ErrHostNotFound) {
		return nil, ErrBoxGone
	} else if err != nil {
		return nil, err
	}
	now := s.o.Now()
	box, already, err := s.o.Store.ClaimBox(ctx, id, actor.UserID, req.TeamID, now,
		&store.AuditEvent{Actor: actor.Audit(), Action: "box.claim", Target: id, Detail: teamDetail(req.TeamID)})
	if errors.Is(err, store.ErrBoxClaimed) {
		_ = s.o.Store.AddAudit(ctx, &store.AuditEvent{Actor: actor.Audit(), Action: "box.claim_refused", Target: id,
			Detail: "owned by user:" + box.ClaimedBy})
		s.log.Warn("claim of a box someone else owns refused", "device", id, "user", actor.UserID, "ip", ip)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if !already {
		s.log.Info("box claimed", "device", id, "user", actor.UserID, "team", req.TeamID)
	}
	// Also on a repeated claim: whatever failed the first time is done now.
	s.publish(ctx, box, "")
	if s.o.Tunnels != nil {
		if err := s.o.Tunnels.Configure(ctx, id); err != nil {
			s.log.Warn("tunnel of a claimed box not configured yet; it is when the box registers", "device", id, "err", err)
		}
	}
	res := &Result{Already: already}
	res.Tenant, res.InstanceError = s.instance(ctx, actor, box)
	v, err := s.view(ctx, box)
	if err != nil {
		return nil, err
	}
	res.Box = *v
	return res, nil
}

func teamDetail(team string) string {
	if team == "" {
		return ""
	}
	return "team=" + team
}

// instance creates the owner's instance, which goes to their box (tenant
// placement), or returns the one they have.
func (s *Service) instance(ctx context.Context, actor authz.Actor, box *store.Box) (*store.Tenant, string) {
	t, _, err := s.o.Tenants.CreateOnBox(ctx, actor, tenant.User{ID: actor.UserID, Email: actor.Email}, box.DeviceID, box.OwnerTeamID, s.o.Plan)
	if err != nil {
		s.log.Warn("the instance of a claimed box was not created", "user", actor.UserID, "err", err)
		_, _, msg := apperr.Public(err)
		return nil, msg
	}
	return t, ""
}

// Release makes a box its owner no longer wants unclaimed: the owner's
// instance on it is deleted with its data, its tunnel goes, and the agent
// is told. Anyone else's box, or a missing one, is ErrNoBox.
//
// The claimer and the owners and admins of the box's team may release it
// (authz.CanBox); a member of the team, who sees it in the list, is
// ErrNotYourBox.
func (s *Service) Release(ctx context.Context, actor authz.Actor, deviceID string) (*Box, error) {
	box, err := s.o.Store.GetBox(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (actor.UserID == "" || box.ClaimedBy == "" ||
		authz.CanBox(actor, authz.View, box.ClaimedBy, box.OwnerTeamID) != nil)) {
		return nil, ErrNoBox
	}
	if err != nil {
		return nil, err
	}
	if authz.CanBox(actor, authz.Delete, box.ClaimedBy, box.OwnerTeamID) != nil {
		return nil, ErrNotYourBox
	}
	return s.unclaim(ctx, actor.Audit(), box, "box.release", "", false)
}

// Reset is an operator's factory reset: the box forgets its owner as on a
// release, the agent is told to wipe every tenant's data (when it is
// online; an offline box gets its instance purged when it reconnects), and
// with freshCode the box gets a new claim code, returned, so that the old
// label stops working.
func (s *Service) Reset(ctx context.Context, actor authz.Actor, deviceID string, freshCode bool) (*Box, string, error) {
	box, err := s.o.Store.GetBox(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", ErrNotABox
	}
	if err != nil {
		return nil, "", err
	}
	code := ""
	if freshCode {
		code = creds.NewClaimCode()
	}
	v, err := s.unclaim(ctx, actor.Audit(), box, "box.reset", code, true)
	if err != nil {
		return nil, "", err
	}
	return v, code, nil
}

// Reprint gives a box a fresh claim code (its label was lost or seen by
// someone else) and returns it: the old code stops working at once, the
// box is told the new one, and its owner, if it has one, keeps it.
func (s *Service) Reprint(ctx context.Context, actor authz.Actor, deviceID string) (*Box, string, error) {
	box, err := s.o.Store.GetBox(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", ErrNotABox
	}
	if err != nil {
		return nil, "", err
	}
	code := creds.NewClaimCode()
	if err := s.o.Store.SetClaimCode(ctx, deviceID, s.o.Factory.ClaimHash(deviceID, code), s.sealCode(deviceID, code), s.o.Now(),
		&store.AuditEvent{Actor: actor.Audit(), Action: "box.reprint", Target: deviceID}); err != nil {
		return nil, "", err
	}
	box, err = s.o.Store.GetBox(ctx, deviceID)
	if err != nil {
		return nil, "", err
	}
	s.publish(ctx, box, code)
	s.log.Info("box claim code reissued", "device", deviceID, "by", actor.Audit())
	v, err := s.view(ctx, box)
	return v, code, err
}

// unclaim clears box's owner (with a new claim code when code is set),
// deletes the owner's instance on it, removes its tunnel and tells the
// agent; with wipe, it also asks the agent to wipe its tenants' data.
func (s *Service) unclaim(ctx context.Context, actor string, box *store.Box, action, code string, wipe bool) (*Box, error) {
	id := box.DeviceID
	hash := ""
	if code != "" {
		hash = s.o.Factory.ClaimHash(id, code)
	}
	detail := ""
	if box.ClaimedBy != "" {
		detail = "owner was user:" + box.ClaimedBy
	}
	if code != "" {
		detail += " (fresh claim code)"
	}
	old, err := s.o.Store.ReleaseBox(ctx, id, hash, s.sealCode(id, code), s.o.Now(), &store.AuditEvent{Actor: actor, Action: action, Target: id, Detail: detail})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotABox
		}
		return nil, err
	}
	if n, err := s.o.Tenants.DeleteHostTenants(ctx, id, actor); err != nil {
		s.log.Error("deleting the instances of a released box failed", "device", id, "deleted", n, "err", err)
	}
	if s.o.Tunnels != nil {
		if err := s.o.Tunnels.Unconfigure(id); err != nil {
			s.log.Warn("tunnel of a released box not removed", "device", id, "err", err)
		}
	}
	cur, err := s.o.Store.GetBox(ctx, id)
	if err != nil {
		return nil, err
	}
	s.publish(ctx, cur, code)
	if wipe && s.o.Fleet.HostOnline(id) {
		if _, err := s.o.Fleet.Command(ctx, id, &proto.Command{Op: proto.OpFactoryReset}, s.o.CommandTimeout); err != nil {
			s.log.Warn("box did not confirm its factory reset; its instance is purged when it reconnects", "device", id, "err", err)
		}
	}
	s.log.Info("box unclaimed", "device", id, "action", action, "by", actor, "formerOwner", old.ClaimedBy)
	return s.view(ctx, cur)
}

// sealCode is code sealed for the store ("" without a code or a Sealer).
func (s *Service) sealCode(deviceID, code string) string {
	if code == "" || s.o.Sealer == nil {
		return ""
	}
	return s.o.Sealer.Seal(code, sealAD(deviceID))
}

// pendingCode is the reissued claim code of an unclaimed box, "" when it
// has none (the factory's code, which the box has) or it does not open.
func (s *Service) pendingCode(box *store.Box) string {
	if box.ClaimedBy != "" || box.PendingClaimCode == "" || s.o.Sealer == nil {
		return ""
	}
	code, err := s.o.Sealer.Open(box.PendingClaimCode, sealAD(box.DeviceID))
	if err != nil {
		s.log.Warn("the box's reissued claim code cannot be read: reprint its label", "device", box.DeviceID, "err", err)
		return ""
	}
	return code
}

// publish tells the box its claim state (retained); code, when set, is its
// new claim code.
func (s *Service) publish(ctx context.Context, box *store.Box, code string) {
	m := proto.Claim{Claimed: box.ClaimedBy != "", Owner: box.ClaimedBy, TeamID: box.OwnerTeamID, ClaimCode: code}
	if box.ClaimedAt != nil {
		m.ClaimedAt = box.ClaimedAt.UnixMilli()
	}
	if err := s.o.Bus.Publish(proto.DownTopic(box.DeviceID, proto.KindClaim), proto.MustEncode(&m), true); err != nil {
		s.log.Warn("publishing the claim state failed; it is published again when the box registers", "device", box.DeviceID, "err", err)
	}
}

// onEvent republishes a box's claim state when it registers (retained
// messages do not survive a cloud restart) and handles the factory resets
// done on boxes themselves.
func (s *Service) onEvent(e fleet.Event) {
	switch e := e.(type) {
	case fleet.Registered:
		fleet.InBackground(30*time.Second, func(ctx context.Context) {
			box, err := s.o.Store.GetBox(ctx, e.HostID)
			if err != nil {
				return // not a box
			}
			s.publish(ctx, box, s.pendingCode(box))
		})
	case fleet.FactoryReset:
		fleet.InBackground(time.Minute, func(ctx context.Context) {
			box, err := s.o.Store.GetBox(ctx, e.HostID)
			if err != nil {
				s.log.Warn("factory reset from a host that is not a box ignored", "device", e.HostID)
				return
			}
			if box.ClaimedBy == "" {
				s.publish(ctx, box, "") // it asks again until it hears it is unclaimed
				return
			}
			if _, err := s.unclaim(ctx, "device:"+e.HostID, box, "box.reset_local", "", false); err != nil {
				s.log.Error("factory reset done on the box not applied", "device", e.HostID, "err", err)
			}
		})
	}
}

// UserBox is a box as the users it belongs to list it (GET /api/claims).
type UserBox struct {
	DeviceID string `json:"deviceId"`
	Model    string `json:"model,omitempty"`
	// Name is the host's name, else the hostname the box reported.
	Name string `json:"name,omitempty"`
	// Status is the host's: pending (never connected), online, offline.
	Status    string     `json:"status"`
	LastSeen  *time.Time `json:"lastSeen,omitempty"`
	ClaimedAt *time.Time `json:"claimedAt,omitempty"`
	ClaimedBy string     `json:"claimedBy"`
	TeamID    string     `json:"teamId,omitempty"`
	// Role is what the caller is to the box: claimer, or its role in the
	// box's team (owner, admin, member).
	Role string `json:"role"`
	// CanRelease says whether the caller may release it.
	CanRelease bool         `json:"canRelease"`
	Instance   *BoxInstance `json:"instance,omitempty"`
}

// BoxInstance is the instance on a box.
type BoxInstance struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	Status string `json:"status"`
}

// Mine lists the boxes actor claimed or that belong to one of its teams,
// as authz.CanBox lets it see them.
func (s *Service) Mine(ctx context.Context, actor authz.Actor) ([]UserBox, error) {
	out := []UserBox{}
	if actor.UserID == "" {
		return out, nil
	}
	teams := make([]string, 0, len(actor.Teams))
	for id := range actor.Teams {
		teams = append(teams, id)
	}
	boxes, err := s.o.Store.UserBoxes(ctx, actor.UserID, teams)
	if err != nil {
		return nil, err
	}
	for i := range boxes {
		b := &boxes[i]
		if b.ClaimedBy == "" || authz.CanBox(actor, authz.View, b.ClaimedBy, b.OwnerTeamID) != nil {
			continue
		}
		v := UserBox{DeviceID: b.DeviceID, ClaimedAt: b.ClaimedAt, ClaimedBy: b.ClaimedBy, TeamID: b.OwnerTeamID, Status: "deleted",
			Role:       actor.Teams[b.OwnerTeamID],
			CanRelease: authz.CanBox(actor, authz.Delete, b.ClaimedBy, b.OwnerTeamID) == nil}
		if b.ClaimedBy == actor.UserID {
			v.Role = "claimer"
		}
		if bt, err := s.o.Store.GetBatch(ctx, b.BatchID); err == nil {
			v.Model = bt.Model
		}
		h, err := s.o.Fleet.GetHost(ctx, b.DeviceID)
		if err != nil && !errors.Is(err, fleet.ErrHostNotFound) {
			return nil, err
		}
		if h != nil {
			v.Name, v.Status, v.LastSeen = h.Name, h.Status, h.LastHeartbeat
			if v.Name == "" {
				v.Name = h.Hostname
			}
		}
		ts, err := s.o.Store.ListHostTenants(ctx, b.DeviceID)
		if err != nil {
			return nil, err
		}
		if len(ts) > 0 {
			v.Instance = &BoxInstance{ID: ts[0].ID, Slug: ts[0].Slug, Status: ts[0].Status}
		}
		out = append(out, v)
	}
	return out, nil
}

// Get returns one box.
func (s *Service) Get(ctx context.Context, deviceID string) (*Box, error) {
	box, err := s.o.Store.GetBox(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotABox
	}
	if err != nil {
		return nil, err
	}
	return s.view(ctx, box)
}

// List returns every box with its claim state, in batch order.
func (s *Service) List(ctx context.Context) ([]Box, error) {
	boxes, err := s.o.Store.AllBoxes(ctx)
	if err != nil {
		return nil, err
	}
	hosts, err := s.o.Fleet.ListHosts(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*store.Host, len(hosts))
	for i := range hosts {
		byID[hosts[i].ID] = &hosts[i]
	}
	models := map[string]string{}
	out := make([]Box, 0, len(boxes))
	for i := range boxes {
		b := &boxes[i]
		if _, ok := models[b.BatchID]; !ok {
			if bt, err := s.o.Store.GetBatch(ctx, b.BatchID); err == nil {
				models[b.BatchID] = bt.Model
			}
		}
		out = append(out, viewOf(b, byID[b.DeviceID], models[b.BatchID]))
	}
	return out, nil
}

func (s *Service) view(ctx context.Context, b *store.Box) (*Box, error) {
	h, err := s.o.Fleet.GetHost(ctx, b.DeviceID)
	if err != nil && !errors.Is(err, fleet.ErrHostNotFound) {
		return nil, err
	}
	model := ""
	if bt, err := s.o.Store.GetBatch(ctx, b.BatchID); err == nil {
		model = bt.Model
	}
	v := viewOf(b, h, model)
	return &v, nil
}

func viewOf(b *store.Box, h *store.Host, model string) Box {
	v := Box{DeviceID: b.DeviceID, BatchID: b.BatchID, BatchIndex: b.BatchIndex, Model: model, Claimed: b.ClaimedBy != "",
		OwnerID: b.ClaimedBy, TeamID: b.OwnerTeamID, ClaimedAt: b.ClaimedAt, CodeIssued: b.ClaimCodeAt, Status: "deleted"}
	if h != nil {
		v.Status, v.ClaimState = h.Status, h.ClaimState
	}
	return v
}

// OwnerView is what a box's owner sees of it: no operator fields.
func OwnerView(b Box) Box {
	b.BatchID, b.BatchIndex = "", 0
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
