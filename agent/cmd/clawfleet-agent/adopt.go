package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clawfleet/clawfleet/agent/adopt"
	"github.com/clawfleet/clawfleet/agent/enroll"
	"github.com/clawfleet/clawfleet/pkg/adminapi"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// adoptCmd lists this host's OpenClaw containers, or adopts one (CONTAINER
// OWNER) or every line of a migration map (--map), through the cloud's
// admin API; the running agent inspects them when the cloud asks.
func (c *cli) adoptCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("adopt", flag.ContinueOnError)
	stateDir := fs.String("state-dir", c.env("CLAWFLEET_STATE_DIR", DefaultStateDir), "")
	cloud := fs.String("cloud", c.env("CLAWFLEET_CLOUD_URL", ""), "")
	token := fs.String("admin-token", c.env("CLAWFLEET_ADMIN_TOKEN", ""), "")
	slug := fs.String("slug", "", "")
	plan := fs.String("plan", "", "")
	mapFile := fs.String("map", "", "")
	// CONTAINER OWNER may come before or after the flags.
	var pos []string
	for rest := args; ; {
		fs.SetOutput(io.Discard)
		fs.Usage = func() {}
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(c.stdout, c.usageText("usage.adopt"))
				return nil
			}
			return c.usageError("usage.adopt", "err.args", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) != 0 && len(pos) != 2 {
		return c.usageError("usage.adopt", "err.adoptArgs")
	}
	if len(pos) == 2 && *mapFile != "" {
		return c.usageError("usage.adopt", "err.adoptMapAndArgs")
	}
	if (*slug != "" || *plan != "") && len(pos) == 0 {
		return c.usageError("usage.adopt", "err.adoptSlugWithoutOne")
	}
	if creds.TrimToken(*token) == "" {
		return c.usageError("usage.adopt", "err.missingAdminToken")
	}
	cr, err := creds.Load(enroll.Path(*stateDir))
	if err != nil {
		return c.fail("err.adoptNoCreds", err)
	}
	if *cloud == "" {
		*cloud = cr.CloudURL
	}
	if *cloud == "" {
		return c.usageError("usage.adopt", "err.missingCloud")
	}
	cl := &adopt.Client{Client: adminapi.Client{BaseURL: *cloud, AdminToken: creds.TrimToken(*token)}}
	switch {
	case len(pos) == 2:
		return c.adoptOne(ctx, cl, cr.DeviceID, adopt.Request{Container: pos[0], Owner: pos[1], Slug: *slug, Plan: *plan})
	case *mapFile != "":
		return c.adoptMap(ctx, cl, cr.DeviceID, *mapFile)
	}
	l, err := cl.List(ctx, cr.DeviceID)
	if err != nil {
		return c.fail("err.adoptList", cr.DeviceID, err)
	}
	c.showListing(cr.DeviceID, l)
	return nil
}

func (c *cli) showListing(host string, l *adopt.Listing) {
	if len(l.Containers) == 0 {
		fmt.Fprintln(c.stdout, c.lang.T("adopt.none", host))
		return
	}
	rows := [][]string{strings.Split(c.lang.T("adopt.header"), "\t")}
	for _, k := range l.Containers {
		state := c.lang.T("adopt.stopped")
		if k.Running {
			state = c.lang.T("adopt.running")
		}
		port := "-"
		if k.Port > 0 {
			port = fmt.Sprint(k.Port)
		}
		what := c.lang.T("adopt.yes")
		switch {
		case k.Tenant != "":
			what = c.lang.T("adopt.adoptedAs", k.Tenant)
		case !k.Adoptable:
			what = c.lang.T("adopt.no", k.Reason)
		}
		rows = append(rows, []string{k.Name, k.Image, port, state, what})
	}
	writeTable(c.stdout, rows)
	if l.LeftOut > 0 {
		fmt.Fprintln(c.stdout, c.lang.T("adopt.leftOut", l.LeftOut))
	}
}

// writeTable prints rows in columns two spaces apart, padded by how wide
// a terminal shows each cell (a Chinese character takes two columns,
// which text/tabwriter counts as one).
func writeTable(w io.Writer, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(cell))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, cell := range r {
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(cell)+2))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// displayWidth is how many terminal columns s takes: two for East Asian
// wide and full-width characters, one for the others.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf, r >= 0xac00 && r <= 0xd7a3,
			r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f, r >= 0xff00 && r <= 0xff60, r >= 0xffe0 && r <= 0xffe6:
			n += 2
		default:
			n++
		}
	}
	return n
}

func (c *cli) adoptOne(ctx context.Context, cl *adopt.Client, host string, r adopt.Request) error {
	t, err := cl.Adopt(ctx, host, r)
	if err != nil {
		return c.fail("err.adopt", r.Container, err)
	}
	fmt.Fprintln(c.stdout, c.lang.T("ok.adopted", r.Container, t.ID, r.Owner, t.URL))
	return nil
}

// adoptMap adopts every line of the map that is not adopted yet, so a
// rerun after a failure resumes; it fails when any line failed.
func (c *cli) adoptMap(ctx context.Context, cl *adopt.Client, host, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return c.fail("err.adoptMap", path, err)
	}
	reqs, err := adopt.ParseMap(f)
	f.Close()
	if err != nil {
		return c.fail("err.adoptMap", path, err)
	}
	l, err := cl.List(ctx, host)
	if err != nil {
		return c.fail("err.adoptList", host, err)
	}
	done, skipped, failed := 0, 0, 0
	for _, r := range reqs {
		if t, ok := l.Adopted(r.Container); ok {
			fmt.Fprintln(c.stdout, c.lang.T("adopt.skipped", r.Container, t))
			skipped++
			continue
		}
		t, err := cl.Adopt(ctx, host, r)
		var ae *adminapi.Error
		if errors.As(err, &ae) && ae.Code == "already_adopted" {
			// Beyond the listing's bounds, or named another way: the
			// cloud knows it.
			fmt.Fprintln(c.stdout, c.lang.T("adopt.skippedCloud", r.Container))
			skipped++
			continue
		}
		if err != nil {
			fmt.Fprintln(c.stderr, c.lang.T("err.prefix", c.lang.T("err.adopt", r.Container, err)))
			failed++
			continue
		}
		fmt.Fprintln(c.stdout, c.lang.T("ok.adopted", r.Container, t.ID, r.Owner, t.URL))
		done++
	}
	fmt.Fprintln(c.stdout, c.lang.T("adopt.summary", done, skipped, failed))
	if failed > 0 {
		return errFailed
	}
	return nil
}
