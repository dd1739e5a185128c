package tenant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/fleet"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Adoption turns an OpenClaw container that runs on a host's Docker engine
// already (made before clawfleet, one per user, e.g. by Portainer) into a
// tenant of a named owner, pinned to that host, with the container's own
// gateway token and published port; the host's agent then manages that
// very container (proto.TenantSpec.Container). Nothing is re-created, so
// the user's gateway, token and state stay as they were.

// AdoptRequest names the container and whose tenant it becomes.
type AdoptRequest struct {
	HostID string
	// Container is its name or ID on the host's Docker engine.
	Container string
	// Owner is the user it becomes the tenant of: a user of the cloud
	// (its ID, or the web app's ID of a user), with no tenant of their own.
	Owner string
	// Slug is its subdomain; "" makes one from the container's name.
	Slug string
	// Plan sets the limits the agent applies to the container and what it
	// reserves on the host; "" is free.
	Plan string
}

// Adoption refusals (the agent's are mapped from proto.Adopt* codes).
var (
	ErrUnknownOwner   = apperr.New(apperr.NotFound, "unknown_owner", "no such user")
	ErrOwnerHasTenant = apperr.New(apperr.Conflict, "owner_has_tenant", "the owner has a tenant already")
	ErrAlreadyAdopted = apperr.New(apperr.Conflict, "already_adopted", "the container is adopted already")
	ErrSlugTaken      = apperr.New(apperr.Conflict, "slug_taken", "the slug is taken")
	ErrInvalidSlug    = apperr.New(apperr.Invalid, "invalid_slug", "invalid slug")
	ErrPortTaken      = apperr.New(apperr.Conflict, "port_taken", "another tenant has the port")
	ErrNoHost         = apperr.New(apperr.NotFound, "no_host", "no such host")
	ErrNoContainer    = apperr.New(apperr.NotFound, "no_container", "no such container")
	ErrNotOpenClaw    = apperr.New(apperr.Invalid, "not_openclaw", "not an OpenClaw container")
	ErrNotAdoptable   = apperr.New(apperr.Invalid, "not_adoptable", "the container cannot be adopted")
	ErrNoDocker       = apperr.New(apperr.Conflict, "no_docker", "the host does not run the docker runtime")
)

// agentRefusals maps an agent's proto.Adopt* code to the API's error.
var agentRefusals = map[string]*apperr.Error{
	proto.AdoptNoContainer: ErrNoContainer,
	proto.AdoptNotOpenClaw: ErrNotOpenClaw,
	proto.AdoptManaged:     ErrAlreadyAdopted,
	proto.AdoptUnusable:    ErrNotAdoptable,
	proto.AdoptNoDocker:    ErrNoDocker,
}

// InspectTimeout bounds the agent's inspection of a container.
const InspectTimeout = 15 * time.Second

// Adopt makes req's container a tenant of req.Owner (see AdoptRequest) and
// publishes its host's desired state; the tenant is pending until the
// agent acknowledges it, and running once its gateway answers. The
// refusals say what is wrong: the owner unknown or with a tenant already,
// the slug invalid or taken, the host unknown or offline, the container
// unknown, not an OpenClaw gateway, adopted already, or without a token or
// published port, its port another tenant's. Audited tenant.adopt.
func (s *Service) Adopt(ctx context.Context, actor authz.Actor, req AdoptRequest) (*store.Tenant, error) {
	if err := proto.ValidateOwner(req.Owner); err != nil {
		return nil, ErrUnknownOwner.Withf("owner: %v", err)
	}
	if err := proto.ValidateContainerRef(req.Container); err != nil {
		return nil, ErrNoContainer.Withf("%v", err)
	}
	planName, plan, _, err := s.checkCreate(req.Plan, "")
	if err != nil {
		return nil, err
	}
	if req.Slug != "" {
		if err := s.checkSlug(ctx, req.Slug); err != nil {
			return nil, err
		}
	}
	owner, teamID, err := s.adoptOwner(ctx, req.Owner)
	if err != nil {
		return nil, err
	}
	if _, err := s.fleet.GetHost(ctx, req.HostID); errors.Is(err, fleet.ErrHostNotFound) {
		return nil, ErrNoHost.Withf("no host %q", req.HostID)
	} else if err != nil {
		return nil, err
	}
	// Asked without s.mu: the host takes a moment, and every other tenant
	// change would wait for it. What it says is checked again below.
	r, err := s.fleet.Command(ctx, req.HostID, &proto.Command{Op: proto.OpInspectContainer, Container: req.Container}, InspectTimeout)
	if err != nil {
		if r != nil {
			if e, ok := agentRefusals[r.Code]; ok {
				return nil, e.Withf("host %s: %s", req.HostID, r.Error)
			}
		}
		return nil, err
	}
	info := r.Container
	if info == nil {
		return nil, ErrNotAdoptable.Withf("host %s answered without the container's details", req.HostID)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, _, err := s.adoptOwner(ctx, req.Owner); err != nil {
		return nil, err
	}
	on, err := s.store.ListHostTenants(ctx, req.HostID)
	if err != nil {
		return nil, err
	}
	for _, o := range on {
		if o.Container == info.ID {
			return nil, ErrAlreadyAdopted.Withf("container %s of host %s is tenant %s (%s) already", info.Name, req.HostID, o.ID, o.Slug)
		}
		if o.Port == info.Port {
			return nil, ErrPortTaken.Withf("container %s publishes port %d, which is tenant %s's on host %s", info.Name, info.Port, o.ID, req.HostID)
		}
	}
	slug := req.Slug
	if slug != "" {
		if err := s.checkSlug(ctx, slug); err != nil {
			return nil, err
		}
	} else if slug, err = s.newSlug(ctx, info.Name); err != nil {
		return nil, err
	}
	t := &store.Tenant{
		ID: "ten_" + randomID(10), Slug: slug, Name: truncateName(info.Name), Plan: planName,
		OwnerID: req.Owner, OwnerEmail: owner.Email, TeamID: teamID,
		Status: store.TenantPending, DesiredState: proto.TenantRunning, HostID: req.HostID, Port: info.Port,
		CPUMillis: plan.CPUMillis, MemoryBytes: int64(plan.MemoryBytes), DiskBytes: int64(plan.DiskBytes), PidsLimit: plan.PidsLimit,
		Image: info.Image, Container: info.ID, Auth: proto.GatewayAuthToken,
	}
	t.GatewayTokenEnc = s.seal.Seal(info.GatewayToken, t.ID)
	mounts := make([]string, 0, len(info.Mounts))
	for _, m := range info.Mounts {
		mounts = append(mounts, m.Type+":"+m.Source+"→"+m.Destination)
	}
	detail := fmt.Sprintf("container=%s id=%s image=%s host=%s port=%d owner=%s plan=%s slug=%s mounts=[%s] status=pending",
		info.Name, info.ID[:12], info.Image, req.HostID, info.Port, req.Owner, planName, slug, strings.Join(mounts, " "))
	err = s.insertTenant(ctx, actor, t, "tenant.adopt", detail)
	if errors.Is(err, store.ErrConflict) {
		// Another cloud node took the owner, slug, port or container meanwhile.
		return nil, ErrConflict.Withf("%v", err)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("container adopted", "tenant", t.ID, "by", actor.Audit(), "container", info.Name, "device", req.HostID, "port", info.Port, "owner", req.Owner)
	got, _, err := s.created(ctx, actor, t)
	return got, err
}

// Containers lists the OpenClaw gateway containers on hostID's Docker
// engine that clawfleet did not make: each adoptable, or why not, or the
// tenant that adopted it (proto.ContainerCandidate), and how many the
// host left out of its reply. The host must be online and run the docker
// runtime (ErrNoDocker).
func (s *Service) Containers(ctx context.Context, hostID string) ([]proto.ContainerCandidate, int, error) {
	if _, err := s.fleet.GetHost(ctx, hostID); errors.Is(err, fleet.ErrHostNotFound) {
		return nil, 0, ErrNoHost.Withf("no host %q", hostID)
	} else if err != nil {
		return nil, 0, err
	}
	r, err := s.fleet.Command(ctx, hostID, &proto.Command{Op: proto.OpListContainers}, InspectTimeout)
	if err != nil {
		if r != nil && r.Code == proto.AdoptNoDocker {
			return nil, 0, ErrNoDocker.Withf("host %s: %s", hostID, r.Error)
		}
		return nil, 0, err
	}
	if r.Containers == nil {
		r.Containers = []proto.ContainerCandidate{}
	}
	// The cloud's record decides what is adopted: the host learns of an
	// adoption only with its next desired state.
	on, err := s.store.ListHostTenants(ctx, hostID)
	if err != nil {
		return nil, 0, err
	}
	for i := range r.Containers {
		c := &r.Containers[i]
		for _, t := range on {
			if t.Container == c.ID {
				c.Adoptable, c.Code, c.Tenant, c.Port = false, proto.AdoptManaged, t.ID, t.Port
				c.Reason = "adopted already, as tenant " + t.ID
			}
		}
	}
	return r.Containers, r.ContainersLeftOut, nil
}

// adoptOwner checks that owner is a user without a tenant of their own and
// returns them (a web app user may have no account row: zero User) and
// their personal team.
func (s *Service) adoptOwner(ctx context.Context, owner string) (store.User, string, error) {
	teamID, err := store.PersonalTeamOf(s.store.DB().WithContext(ctx), owner)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, "", ErrUnknownOwner.Withf("no user %q: the owner must have signed in once (or be created in the console) before their container is adopted", owner)
	}
	if err != nil {
		return store.User{}, "", err
	}
	var u store.User
	if got, err := s.store.GetUser(ctx, owner); err == nil {
		u = *got
	}
	if t, err := s.store.GetTenantByOwner(ctx, owner); err == nil {
		return u, "", ErrOwnerHasTenant.Withf("user %q has tenant %s (%s) already, and a user has one tenant of their own: delete it first or adopt the container for another user", owner, t.ID, t.Slug)
	} else if !errors.Is(err, store.ErrNotFound) {
		return u, "", err
	}
	return u, teamID, nil
}

// checkSlug refuses a slug that is no DNS label, reserved or taken.
func (s *Service) checkSlug(ctx context.Context, slug string) error {
	if err := proto.ValidateSlug(slug); err != nil {
		return ErrInvalidSlug.Withf("%v", err)
	}
	if s.reservedSlug(slug) {
		return ErrInvalidSlug.Withf("slug %q is reserved for the cloud's own hosts", slug)
	}
	taken, err := s.store.SlugTaken(ctx, slug)
	if err != nil {
		return err
	}
	if taken {
		return ErrSlugTaken.Withf("slug %q is another tenant's", slug)
	}
	return nil
}

// truncateName keeps a container name within a tenant name's limit.
func truncateName(n string) string {
	if r := []rune(n); len(r) > 64 {
		return string(r[:64])
	}
	return n
}
