// Package teams is the service of teams, their members and invites, API
// keys and the platform's users as an operator manages them. It is built
// on the store's tables (cloud/store: teams.go, users.go); the API asks
// authz for the route's action before calling it, and the service checks
// only what depends on the data (who may touch an owner). Every change is
// audited with its actor.
package teams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// Token prefixes: an invitation's and an API key's (never an SSO JWT's,
// whose first characters are "ey").
const (
	InvitePrefix = "cfi_"
	KeyPrefix    = "cfk_"
)

// Limits of invitations and keys.
const (
	DefaultInviteTTL = 7 * 24 * time.Hour
	MaxInviteTTL     = 30 * 24 * time.Hour
	MaxInviteUses    = 1000
	DefaultKeyTTL    = 90 * 24 * time.Hour
	MaxKeyTTL        = 366 * 24 * time.Hour
)

// The service's failures (codes and messages are what API clients see).
var (
	ErrNoTeam      = apperr.New(apperr.NotFound, "no_team", "no such team, or you are not a member")
	ErrNoMember    = apperr.New(apperr.NotFound, "no_member", "no such member of this team")
	ErrNoInvite    = apperr.New(apperr.NotFound, "no_invite", "no such invitation of this team")
	ErrNoKey       = apperr.New(apperr.NotFound, "no_key", "no such API key")
	ErrNoUser      = apperr.New(apperr.NotFound, "no_user", "no such user")
	ErrNotAUser    = apperr.New(apperr.Forbidden, "not_a_user", "this needs a signed-in user (a console session, the web app's user or a user's API key)")
	ErrInvalidName = apperr.New(apperr.Invalid, "invalid_name", "invalid name")
	ErrInvalidRole = apperr.New(apperr.Invalid, "invalid_role", "role must be owner, admin or member")
	ErrInvalid     = apperr.New(apperr.Invalid, "invalid_request", "invalid request")
	// ErrCannotChangeSelf: a platform admin cannot lock themselves out.
	ErrCannotChangeSelf = apperr.New(apperr.Conflict, "cannot_change_self", "you cannot disable yourself or drop your own platform admin role: ask another admin")
)

// Service manages teams, invitations and API keys.
type Service struct {
	st  *store.Store
	log *slog.Logger
	now func() time.Time
}

// New returns the service.
func New(st *store.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, log: log.With("component", "teams"), now: func() time.Time { return time.Now().UTC() }}
}

func (s *Service) audit(ctx context.Context, a authz.Actor, action, target, detail string) error {
	return s.st.AddAudit(ctx, &store.AuditEvent{Actor: a.Audit(), Action: action, Target: target, Detail: detail})
}

// Resolve fills in the actor's account and its teams, once per request: a
// console session's or key's actor is a user already; the web app's actor
// (UserID the web app's user id) is the user of that "webapp" identity,
// when there is one. An actor that is no user keeps no teams.
func (s *Service) Resolve(ctx context.Context, a authz.Actor) (authz.Actor, error) {
	if a.KeyID != "" && a.UserID == "" {
		return a, nil // a team's key: its team is set
	}
	if a.AccountID == "" && a.UserID != "" {
		if strings.HasPrefix(a.UserID, store.UserIDPrefix) {
			if _, err := s.st.GetUser(ctx, a.UserID); err == nil {
				a.AccountID = a.UserID
			}
		}
		if a.AccountID == "" {
			u, _, err := s.st.UserByIdentity(ctx, store.ProviderWebApp, a.UserID)
			switch {
			case err == nil:
				a.AccountID = u.ID
			case !errors.Is(err, store.ErrNotFound):
				return a, err
			}
		}
	}
	if a.AccountID == "" {
		return a, nil
	}
	ms, err := s.st.UserTeams(ctx, a.AccountID)
	if err != nil {
		return a, err
	}
	a.Teams = make(map[string]string, len(ms))
	for _, m := range ms {
		a.Teams[m.ID] = m.Role
	}
	return a, nil
}

// validName checks a team's or key's name: 1-64 characters, no control
// characters.
func validName(name string, emptyOK bool) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" && !emptyOK {
		return "", ErrInvalidName.Withf("name is required")
	}
	if utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) {
		return "", ErrInvalidName.Withf("name must be at most 64 characters")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return "", ErrInvalidName.Withf("name has control characters")
		}
	}
	return name, nil
}

// Create makes a team with the actor (a user) as its owner.
func (s *Service) Create(ctx context.Context, a authz.Actor, name string) (*store.Team, error) {
	if a.AccountID == "" || a.KeyID != "" {
		return nil, ErrNotAUser.Withf("a team is created by a signed-in user (not an API key or the admin token); its creator is its first owner")
	}
	name, err := validName(name, false)
	if err != nil {
		return nil, err
	}
	t := &store.Team{Name: name}
	if err := s.st.CreateTeam(ctx, t, a.AccountID); err != nil {
		return nil, err
	}
	if err := s.audit(ctx, a, "team.create", t.ID, fmt.Sprintf("name=%q owner=%s", name, a.AccountID)); err != nil {
		return nil, err
	}
	return t, nil
}

// Get returns a team, or ErrNoTeam.
func (s *Service) Get(ctx context.Context, id string) (*store.Team, error) {
	t, err := s.st.GetTeam(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTeam.Withf("no team %q, or you are not a member", id)
	}
	return t, err
}

// Mine returns the actor's teams with its roles.
func (s *Service) Mine(ctx context.Context, a authz.Actor) ([]store.Membership, error) {
	if a.AccountID == "" {
		if a.KeyID != "" {
			var out []store.Membership
			for id, role := range a.Teams {
				t, err := s.st.GetTeam(ctx, id)
				if err != nil {
					return nil, err
				}
				out = append(out, store.Membership{Team: *t, Role: role})
			}
			return out, nil
		}
		return []store.Membership{}, nil
	}
	return s.st.UserTeams(ctx, a.AccountID)
}

// Rename sets a team's name.
func (s *Service) Rename(ctx context.Context, a authz.Actor, t *store.Team, name string) (*store.Team, error) {
	name, err := validName(name, false)
	if err != nil {
		return nil, err
	}
	got, err := s.st.RenameTeam(ctx, t.ID, name, s.now())
	if err != nil {
		return nil, err
	}
	return got, s.audit(ctx, a, "team.rename", t.ID, fmt.Sprintf("name=%q (was %q)", name, t.Name))
}

// Delete deletes a team that has no tenants (not a personal team).
func (s *Service) Delete(ctx context.Context, a authz.Actor, t *store.Team) error {
	if err := s.st.DeleteTeam(ctx, t.ID); err != nil {
		return err
	}
	return s.audit(ctx, a, "team.delete", t.ID, fmt.Sprintf("name=%q", t.Name))
}

// Member is a member of a team as the team sees them.
type Member struct {
	UserID   string
	Email    string
	Name     string
	Role     string
	JoinedAt time.Time
}

// Members returns a team's members, oldest first.
func (s *Service) Members(ctx context.Context, teamID string) ([]Member, error) {
	ms, err := s.st.TeamMembers(ctx, teamID)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		u, err := s.st.GetUser(ctx, m.UserID)
		if err != nil {
			return nil, err
		}
		out = append(out, Member{UserID: u.ID, Email: u.Email, Name: u.Name, Role: m.Role, JoinedAt: m.CreatedAt})
	}
	return out, nil
}

// memberRole is a member's role, or ErrNoMember.
func (s *Service) memberRole(ctx context.Context, teamID, userID string) (string, error) {
	role, err := s.st.MemberRole(ctx, teamID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNoMember.Withf("user %q is not a member of team %s", userID, teamID)
	}
	return role, err
}

// SetRole changes a member's role. Making or unmaking an owner takes an
// owner (authz.TeamOwners); a team keeps one owner at least.
func (s *Service) SetRole(ctx context.Context, a authz.Actor, t *store.Team, userID, role string) (*Member, error) {
	if !store.ValidRole(role) {
		return nil, ErrInvalidRole.Withf("role %q: use owner, admin or member", role)
	}
	cur, err := s.memberRole(ctx, t.ID, userID)
	if err != nil {
		return nil, err
	}
	if cur == store.RoleOwner || role == store.RoleOwner {
		if err := authz.CanTeam(a, authz.TeamOwners, t.ID); err != nil {
			return nil, err
		}
	}
	if cur != role {
		if err := s.st.SetTeamMemberRole(ctx, t.ID, userID, role); err != nil {
			return nil, err
		}
		if err := s.audit(ctx, a, "team.member.role", t.ID, fmt.Sprintf("user=%s role=%s (was %s)", userID, role, cur)); err != nil {
			return nil, err
		}
	}
	ms, err := s.Members(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		if ms[i].UserID == userID {
			return &ms[i], nil
		}
	}
	return nil, ErrNoMember
}

// Remove removes userID from t. Anyone may
// leave; removing another takes authz.TeamMembers, and an owner
// authz.TeamOwners.
func (s *Service) Remove(ctx context.Context, a authz.Actor, t *store.Team, userID string) error {
	cur, err := s.memberRole(ctx, t.ID, userID)
	if err != nil {
		return err
	}
	self := a.AccountID != "" && a.AccountID == userID && a.KeyID == ""
	if !self {
		act := authz.TeamMembers
		if cur == store.RoleOwner {
			act = authz.TeamOwners
		}
		if err := authz.CanTeam(a, act, t.ID); err != nil {
			return err
		}
	}
	if err := s.st.RemoveTeamMember(ctx, t.ID, userID); err != nil {
		return err
	}
	action := "team.member.remove"
	if self {
		action = "team.leave"
	}
	return s.audit(ctx, a, action, t.ID, fmt.Sprintf("user=%s role=%s", userID, cur))
}

// InviteRequest is what an invitation gives.
type InviteRequest struct {
	Role string
	// Uses is how many people may accept it (1: single-use; default 1).
	Uses int
	// TTL is how long it is valid (DefaultInviteTTL when 0).
	TTL time.Duration
}

// Invite makes an invitation into t and returns its token (shown once;
// only its hash is kept). Inviting as owner takes an owner.
func (s *Service) Invite(ctx context.Context, a authz.Actor, t *store.Team, req InviteRequest) (string, *store.TeamInvite, error) {
	if t.Personal {
		return "", nil, store.ErrPersonalTeam
	}
	if req.Role == "" {
		req.Role = store.RoleMember
	}
	if !store.ValidRole(req.Role) {
		return "", nil, ErrInvalidRole.Withf("role %q: use owner, admin or member", req.Role)
	}
	if req.Role == store.RoleOwner {
		if err := authz.CanTeam(a, authz.TeamOwners, t.ID); err != nil {
			return "", nil, err
		}
	}
	if req.Uses == 0 {
		req.Uses = 1
	}
	if req.Uses < 1 || req.Uses > MaxInviteUses {
		return "", nil, ErrInvalid.Withf("uses must be between 1 and %d", MaxInviteUses)
	}
	if req.TTL == 0 {
		req.TTL = DefaultInviteTTL
	}
	if req.TTL < time.Minute || req.TTL > MaxInviteTTL {
		return "", nil, ErrInvalid.Withf("expiresIn must be between 60 seconds and %d days", int(MaxInviteTTL/(24*time.Hour)))
	}
	now := s.now()
	tok := creds.NewToken(InvitePrefix)
	inv := &store.TeamInvite{TeamID: t.ID, Hash: creds.Hash(tok), Role: req.Role, UsesTotal: req.Uses, UsesLeft: req.Uses,
		ExpiresAt: now.Add(req.TTL), CreatedBy: a.Audit(), CreatedAt: now}
	if len(inv.CreatedBy) > 40 {
		inv.CreatedBy = inv.CreatedBy[:40]
	}
	if err := s.st.CreateTeamInvite(ctx, inv); err != nil {
		return "", nil, err
	}
	if err := s.audit(ctx, a, "team.invite.create", t.ID, fmt.Sprintf("invite=%s role=%s uses=%d expires=%s", inv.ID, inv.Role, inv.UsesTotal, inv.ExpiresAt.Format(time.RFC3339))); err != nil {
		return "", nil, err
	}
	return tok, inv, nil
}

// Invites returns a team's invitations, newest first.
func (s *Service) Invites(ctx context.Context, teamID string) ([]store.TeamInvite, error) {
	return s.st.ListTeamInvites(ctx, teamID)
}

// RevokeInvite revokes one of t's invitations.
func (s *Service) RevokeInvite(ctx context.Context, a authz.Actor, t *store.Team, id string) error {
	if _, err := s.st.GetTeamInvite(ctx, t.ID, id); errors.Is(err, store.ErrNotFound) {
		return ErrNoInvite.Withf("team %s has no invitation %q", t.ID, id)
	} else if err != nil {
		return err
	}
	if err := s.st.RevokeTeamInvite(ctx, t.ID, id, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // revoked already
		}
		return err
	}
	return s.audit(ctx, a, "team.invite.revoke", t.ID, "invite="+id)
}

// Accept makes the actor (a user) a member of the team an invitation is
// for, with its role; store.ErrInviteGone when it is unknown, revoked,
// expired or used up.
func (s *Service) Accept(ctx context.Context, a authz.Actor, token string) (*store.Membership, error) {
	if a.AccountID == "" || a.KeyID != "" {
		return nil, ErrNotAUser.Withf("an invitation is accepted by a signed-in user, not an API key")
	}
	token = creds.TrimToken(token)
	if !strings.HasPrefix(token, InvitePrefix) || len(token) > 128 {
		return nil, store.ErrInviteGone
	}
	inv, err := s.st.RedeemTeamInvite(ctx, creds.Hash(token), a.AccountID, s.now())
	if err != nil {
		return nil, err
	}
	t, err := s.st.GetTeam(ctx, inv.TeamID)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, a, "team.join", t.ID, fmt.Sprintf("user=%s role=%s invite=%s uses_left=%d", a.AccountID, inv.Role, inv.ID, inv.UsesLeft)); err != nil {
		return nil, err
	}
	return &store.Membership{Team: *t, Role: inv.Role}, nil
}

// KeyRequest is what an API key is.
type KeyRequest struct {
	Name   string
	Scopes []string
	// TTL is how long it is valid (DefaultKeyTTL when 0; at most MaxKeyTTL).
	TTL time.Duration
}

// CreateKey makes an API key of the user userID or of the team teamID
// (one of them) and returns its token (shown once; only its hash is
// kept). A key cannot make keys.
func (s *Service) CreateKey(ctx context.Context, a authz.Actor, userID, teamID string, req KeyRequest) (string, *store.APIKey, error) {
	if a.KeyID != "" {
		return "", nil, authz.ErrForbidden.Withf("an API key cannot create API keys")
	}
	name, err := validName(req.Name, true)
	if err != nil {
		return "", nil, err
	}
	if len(req.Scopes) == 0 {
		return "", nil, ErrInvalid.Withf("scopes: give one or more of %s", strings.Join(authz.Scopes(), ", "))
	}
	scopes := slices.Clone(req.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	for _, sc := range scopes {
		if !authz.ValidScope(sc) {
			return "", nil, ErrInvalid.Withf("scope %q: use %s", sc, strings.Join(authz.Scopes(), ", "))
		}
	}
	if req.TTL == 0 {
		req.TTL = DefaultKeyTTL
	}
	if req.TTL < time.Minute || req.TTL > MaxKeyTTL {
		return "", nil, ErrInvalid.Withf("expiresIn must be between 60 seconds and %d days", int(MaxKeyTTL/(24*time.Hour)))
	}
	now := s.now()
	exp := now.Add(req.TTL)
	tok := creds.NewToken(KeyPrefix)
	k := &store.APIKey{Hash: creds.Hash(tok), Name: name, Scopes: scopes, CreatedBy: a.AccountID, ExpiresAt: &exp, CreatedAt: now}
	target := "user:" + userID
	if teamID != "" {
		k.TeamID, target = &teamID, teamID
	} else {
		k.UserID = &userID
	}
	if err := s.st.CreateAPIKey(ctx, k); err != nil {
		return "", nil, err
	}
	if err := s.audit(ctx, a, "key.create", target, fmt.Sprintf("key=%s scopes=%s expires=%s", k.ID, strings.Join(scopes, ","), exp.Format(time.RFC3339))); err != nil {
		return "", nil, err
	}
	return tok, k, nil
}

// Keys returns the keys of a user (teamID "") or of a team.
func (s *Service) Keys(ctx context.Context, userID, teamID string) ([]store.APIKey, error) {
	return s.st.ListAPIKeys(ctx, userID, teamID)
}

// RevokeKey revokes one of the keys of a user (teamID "") or of a team.
func (s *Service) RevokeKey(ctx context.Context, a authz.Actor, userID, teamID, id string) error {
	ks, err := s.st.ListAPIKeys(ctx, userID, teamID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ks, func(k store.APIKey) bool { return k.ID == id })
	if i < 0 {
		return ErrNoKey.Withf("no API key %q here", id)
	}
	if ks[i].RevokedAt != nil {
		return nil
	}
	if err := s.st.RevokeAPIKey(ctx, id, s.now()); err != nil {
		return err
	}
	target := teamID
	if target == "" {
		target = "user:" + userID
	}
	return s.audit(ctx, a, "key.revoke", target, "key="+id)
}

// ErrBadKey is an API key that is unknown, revoked or expired, or whose
// user is disabled.
var ErrBadKey = apperr.New(apperr.Unauthorized, "invalid_key", "API key is not valid: it is unknown, revoked or expired")

// Authenticate returns the actor of an API key: its user limited to its
// scopes (never a platform admin), or its team as an admin of the team
// limited to its scopes.
func (s *Service) Authenticate(ctx context.Context, token string) (authz.Actor, error) {
	token = creds.TrimToken(token)
	if !strings.HasPrefix(token, KeyPrefix) || len(token) > 128 {
		return authz.Actor{}, ErrBadKey
	}
	k, err := s.st.APIKeyByHash(ctx, creds.Hash(token), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return authz.Actor{}, ErrBadKey
	}
	if err != nil {
		return authz.Actor{}, err
	}
	a := authz.Actor{KeyID: k.ID, Scopes: k.Scopes}
	if k.TeamID != nil {
		a.Teams = map[string]string{*k.TeamID: store.RoleAdmin}
		return a, nil
	}
	u, err := s.st.GetUser(ctx, *k.UserID)
	if err != nil {
		return authz.Actor{}, err
	}
	if u.DisabledAt != nil {
		return authz.Actor{}, ErrBadKey.Withf("API key is not valid: its user is disabled")
	}
	a.UserID, a.AccountID, a.Email = u.ID, u.ID, u.Email
	return s.Resolve(ctx, a)
}

// Users lists the users (the platform's, for an operator).
func (s *Service) Users(ctx context.Context) ([]store.User, error) { return s.st.ListUsers(ctx, 1000) }

// UserChange is what an operator changes of a user (nil: unchanged).
type UserChange struct {
	PlatformAdmin *bool
	Disabled      *bool
}

// UpdateUser makes a user a platform admin or not, disables or enables
// them; disabling signs them out everywhere (their sessions and keys stop
// authenticating).
func (s *Service) UpdateUser(ctx context.Context, a authz.Actor, id string, ch UserChange) (*store.User, error) {
	if ch.PlatformAdmin == nil && ch.Disabled == nil {
		return nil, ErrInvalid.Withf("give platformAdmin or disabled")
	}
	if a.AccountID != "" && a.AccountID == id && ((ch.PlatformAdmin != nil && !*ch.PlatformAdmin) || (ch.Disabled != nil && *ch.Disabled)) {
		return nil, ErrCannotChangeSelf
	}
	u, err := s.st.UpdateUser(ctx, id, store.UserUpdate{PlatformAdmin: ch.PlatformAdmin, Disabled: ch.Disabled}, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoUser.Withf("no user %q", id)
	}
	if err != nil {
		return nil, err
	}
	if ch.Disabled != nil && *ch.Disabled {
		if _, err := s.st.DeleteUserSessions(ctx, id, ""); err != nil {
			return nil, err
		}
	}
	var parts []string
	if ch.PlatformAdmin != nil {
		parts = append(parts, fmt.Sprintf("platform_admin=%v", *ch.PlatformAdmin))
	}
	if ch.Disabled != nil {
		parts = append(parts, fmt.Sprintf("disabled=%v", *ch.Disabled))
	}
	return u, s.audit(ctx, a, "user.update", "user:"+id, strings.Join(parts, " "))
}

// AllTeams lists every team with its numbers of members and tenants.
func (s *Service) AllTeams(ctx context.Context) ([]store.TeamSummary, error) {
	return s.st.ListTeams(ctx, 1000)
}
