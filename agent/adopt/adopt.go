// Package adopt is the operator's side of migrating a host's existing
// OpenClaw containers (made before clawfleet, e.g. by Portainer) into
// tenants: a client of the cloud's adoption API, run on the host by
// `clawfleet-agent adopt`, and the migration map it reads.
//
// The host's own agent does the inspection (the cloud asks it over MQTT);
// this client only names the host, with the cloud's admin token, so an
// operator on the machine needs neither the device ID nor curl.
package adopt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/clawfleet/clawfleet/pkg/adminapi"
	"github.com/clawfleet/clawfleet/pkg/proto"
)

// Client calls the cloud's adoption API as its admin.
type Client struct{ adminapi.Client }

// Listing is what there is to adopt on a host.
type Listing struct {
	Containers []proto.ContainerCandidate `json:"containers"`
	// LeftOut counts the containers the host left out of its answer to
	// keep it in the protocol's bounds.
	LeftOut int `json:"leftOut"`
}

// Tenant is the part of an adopted tenant the command shows.
type Tenant struct {
	ID, Slug, Container, Status, URL string
	Port                             int
}

// Request is one adoption: the container (name or ID) and the user it
// becomes the tenant of; Slug and Plan may be empty (the cloud's defaults).
type Request struct {
	Container string `json:"container"`
	Owner     string `json:"ownerId"`
	Slug      string `json:"slug,omitempty"`
	Plan      string `json:"plan,omitempty"`
}

// List returns host's OpenClaw containers (GET /api/hosts/:id/containers).
func (c *Client) List(ctx context.Context, host string) (*Listing, error) {
	var l Listing
	if err := c.do(ctx, http.MethodGet, "/api/hosts/"+url.PathEscape(host)+"/containers", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Adopt makes r's container a tenant (POST /api/hosts/:id/adopt).
func (c *Client) Adopt(ctx context.Context, host string, r Request) (*Tenant, error) {
	var t Tenant
	if err := c.do(ctx, http.MethodPost, "/api/hosts/"+url.PathEscape(host)+"/adopt", r, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.Do(ctx, method, path, body, out)
	return err
}

// ParseMap reads a migration map: one adoption a line,
//
//	CONTAINER OWNER [SLUG [PLAN]]
//
// separated by spaces or tabs; "-" leaves the slug to the cloud; blank
// lines and lines starting with # are skipped. An error names the line.
func ParseMap(r io.Reader) ([]Request, error) {
	var out []Request
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 4 {
			return nil, fmt.Errorf("line %d: %q: want CONTAINER OWNER [SLUG [PLAN]]", n, line)
		}
		rq := Request{Container: strings.TrimPrefix(f[0], "/"), Owner: f[1]}
		if len(f) > 2 && f[2] != "-" {
			rq.Slug = f[2]
		}
		if len(f) > 3 {
			rq.Plan = f[3]
		}
		if err := proto.ValidateContainerRef(rq.Container); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if err := proto.ValidateOwner(rq.Owner); err != nil {
			return nil, fmt.Errorf("line %d: owner: %w", n, err)
		}
		if rq.Slug != "" {
			if err := proto.ValidateSlug(rq.Slug); err != nil {
				return nil, fmt.Errorf("line %d: slug: %w", n, err)
			}
		}
		if prev, ok := seen[rq.Container]; ok {
			return nil, fmt.Errorf("line %d: container %s is on line %d already", n, rq.Container, prev)
		}
		seen[rq.Container] = n
		out = append(out, rq)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Adopted says whether ref (a name or an ID prefix) is a container of l
// adopted already, and as which tenant.
func (l *Listing) Adopted(ref string) (tenant string, ok bool) {
	ref = strings.TrimPrefix(ref, "/")
	for _, c := range l.Containers {
		if c.Tenant != "" && (c.Name == ref || (len(ref) >= 12 && strings.HasPrefix(c.ID, ref))) {
			return c.Tenant, true
		}
	}
	return "", false
}
