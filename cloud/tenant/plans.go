package tenant

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/clawfleet/clawfleet/cloud/fleet"
	"go.yaml.in/yaml/v3"
)

// DefaultImage is the gateway image of the built-in plans (docker runtime).
const DefaultImage = "ghcr.io/openclaw/openclaw:2026.9.6"

// MinPlanMemory is the least memory a plan may give a tenant: an idle
// gateway already holds about 760 MiB.
const MinPlanMemory = 1 << 30

// Plan is what a tenant gets: its resource limits, its image, the pool of
// workers that runs it and, optionally, the host labels a host needs to
// carry to run it.
type Plan struct {
	Name        string            `yaml:"-" json:"name"`
	CPUMillis   int               `yaml:"cpuMillis" json:"cpuMillis"`
	MemoryBytes Size              `yaml:"memoryBytes" json:"memoryBytes"`
	DiskBytes   Size              `yaml:"diskBytes" json:"diskBytes"`
	PidsLimit   int               `yaml:"pidsLimit" json:"pidsLimit"`
	Image       string            `yaml:"image" json:"image"`
	HostLabels  map[string]string `yaml:"hostLabels" json:"hostLabels,omitempty"`
	// Pool is the workers' pool its tenants go to ("" = store.DefaultPool);
	// which pool a worker is in is the operator's word, not the host's.
	Pool string `yaml:"pool" json:"pool,omitempty"`
	// MaxPerTeam is how many tenants of this plan one team (a user's
	// personal team included) may have: 0 is no limit, -1 is none (the
	// plan is offered to no team: the operator creates such tenants).
	MaxPerTeam int `yaml:"-" json:"maxPerTeam"`
	// FileMaxPerTeam is the plans file's maxPerTeam (nil: left out).
	FileMaxPerTeam *int `yaml:"maxPerTeam" json:"-"`
}

// DefaultMaxPerTeam is MaxPerTeam of the built-in plans that a plans file
// leaves unset: one free tenant per team, any number of the others.
var DefaultMaxPerTeam = map[string]int{"free": 1}

// Where is what a host must be to run the plan's tenants.
func (p Plan) Where() Where { return Where{Pool: p.Pool, Labels: p.HostLabels} }

// Plans maps plan names to plans.
type Plans map[string]Plan

// DefaultPlans are the built-in plans:
//
//	free        500m CPU, 1 GiB memory,   2 GiB disk, 512 pids
//	basic      1000m CPU, 1.5 GiB memory, 5 GiB disk, 512 pids
//	pro        2000m CPU, 3 GiB memory,  20 GiB disk, 512 pids
//	enterprise 4000m CPU, 8 GiB memory, 100 GiB disk, 512 pids
//
// all with image DefaultImage and no host pinning; a team may have one
// free tenant and any number of the others (DefaultMaxPerTeam).
func DefaultPlans() Plans {
	const gib = 1 << 30
	p := Plans{
		"free":       {CPUMillis: 500, MemoryBytes: gib, DiskBytes: 2 * gib, PidsLimit: 512},
		"basic":      {CPUMillis: 1000, MemoryBytes: gib + gib/2, DiskBytes: 5 * gib, PidsLimit: 512},
		"pro":        {CPUMillis: 2000, MemoryBytes: 3 * gib, DiskBytes: 20 * gib, PidsLimit: 512},
		"enterprise": {CPUMillis: 4000, MemoryBytes: 8 * gib, DiskBytes: 100 * gib, PidsLimit: 512},
	}
	for name, pl := range p {
		pl.Name, pl.Image, pl.MaxPerTeam = name, DefaultImage, DefaultMaxPerTeam[name]
		p[name] = pl
	}
	return p
}

// Names returns the plan names, sorted.
func (p Plans) Names() []string { return slices.Sorted(maps.Keys(p)) }

var planName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// Validate checks every plan and says what to change.
func (p Plans) Validate() error {
	if len(p) == 0 {
		return errors.New("no plans defined")
	}
	var errs []error
	for _, name := range p.Names() {
		pl := p[name]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("plan %q: %s", name, fmt.Sprintf(format, args...)))
		}
		if !planName.MatchString(name) {
			bad("name must be 1-32 lowercase letters, digits or '-'")
		}
		if pl.CPUMillis < 100 || pl.CPUMillis > 1_000_000 {
			bad("cpuMillis %d: use between 100 and 1000000 (1000 = one CPU)", pl.CPUMillis)
		}
		if pl.MemoryBytes < MinPlanMemory {
			bad("memoryBytes %d: at least 1GiB, an idle gateway already holds about 760MiB", pl.MemoryBytes)
		}
		if pl.DiskBytes < 0 {
			bad("diskBytes must not be negative")
		}
		if pl.PidsLimit < 64 || pl.PidsLimit > 1<<22 {
			bad("pidsLimit %d: use between 64 and 4194304", pl.PidsLimit)
		}
		if pl.Image == "" || len(pl.Image) > 255 || strings.ContainsAny(pl.Image, " \t\r\n\"'\\") {
			bad("image %q: give an image reference such as %s", pl.Image, DefaultImage)
		}
		if err := fleet.ValidateLabels(pl.HostLabels); err != nil {
			bad("hostLabels: %s", strings.TrimPrefix(err.Error(), "bad request: "))
		}
		if pl.MaxPerTeam < -1 {
			bad("maxPerTeam %d: use 0 for no limit, -1 for no team, or a number of tenants", pl.MaxPerTeam)
		}
		if err := fleet.ValidatePool(pl.Pool); err != nil {
			bad("%s", strings.TrimPrefix(err.Error(), "bad request: "))
		}
	}
	return errors.Join(errs...)
}

// LoadPlans returns DefaultPlans, or the plans of the YAML file at path
// (when path is not empty), validated. The file replaces the built-in set:
//
//	plans:
//	  basic:
//	    cpuMillis: 1000
//	    memoryBytes: 1.5GiB   # a number of bytes or a size with KiB/MiB/GiB/TiB (or K/M/G/T)
//	    diskBytes: 5GiB
//	    pidsLimit: 512
//	    image: ghcr.io/openclaw/openclaw:2026.9.6
//	    pool: gpu                   # only workers the operator put in this pool (default: shared)
//	    hostLabels: {zone: eu}      # only hosts carrying these labels
//	    maxPerTeam: 3               # tenants of this plan per team (0: no limit, -1: operators only)
//
// A field left out takes the value of the built-in plan of the same name
// (image and pidsLimit: DefaultImage and 512 for any plan; maxPerTeam: 1
// for free, no limit for any other).
func LoadPlans(path string) (Plans, error) {
	if path == "" {
		return DefaultPlans(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plans file: %w", err)
	}
	var doc struct {
		Plans map[string]Plan `yaml:"plans"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("plans file %s: %w", path, err)
	}
	defs := DefaultPlans()
	out := Plans{}
	for name, pl := range doc.Plans {
		def, ok := defs[name]
		if !ok {
			def = Plan{PidsLimit: 512, Image: DefaultImage}
		}
		if pl.CPUMillis == 0 {
			pl.CPUMillis = def.CPUMillis
		}
		if pl.MemoryBytes == 0 {
			pl.MemoryBytes = def.MemoryBytes
		}
		if pl.DiskBytes == 0 {
			pl.DiskBytes = def.DiskBytes
		}
		if pl.PidsLimit == 0 {
			pl.PidsLimit = def.PidsLimit
		}
		if pl.Image == "" {
			pl.Image = def.Image
		}
		pl.MaxPerTeam = def.MaxPerTeam
		if pl.FileMaxPerTeam != nil {
			pl.MaxPerTeam, pl.FileMaxPerTeam = *pl.FileMaxPerTeam, nil
		}
		pl.Name = name
		out[name] = pl
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("plans file %s: %w", path, err)
	}
	return out, nil
}

// Size is a byte count that YAML may give as a number or as a string with a
// binary unit ("1.5GiB", "512MiB", "2G").
type Size int64

// UnmarshalYAML accepts a number or a size string.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = Size(v)
	return nil
}

// ParseSize parses "1073741824", "1GiB", "1.5G", "512MiB", "512M".
func ParseSize(str string) (int64, error) {
	s := strings.TrimSpace(str)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n <= (1<<62)/mult {
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("size %q: give bytes or a number with KiB, MiB, GiB or TiB", str)
	}
	return int64(f * float64(mult)), nil
}
