// Command clawfleet-provision is the factory tool: it pre-registers devices
// with the cloud and writes each one's credentials.json, ready to flash.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/provisioning"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "clawfleet-provision:", err)
		os.Exit(1)
	}
}

const usage = `usage: clawfleet-provision device --cloud URL --admin-token T --out DIR [--name NAME] [--label k=v]... [--mqtt-url URL] [--force]

Pre-registers one device with the cloud and writes DIR/credentials.json (mode 0600),
the file to flash into the box's state directory (/var/lib/clawfleet-agent).
Environment: CLAWFLEET_CLOUD_URL, CLAWFLEET_ADMIN_TOKEN.
`

type labels map[string]string

func (l labels) String() string { return fmt.Sprint(map[string]string(l)) }
func (l labels) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q: use key=value", s)
	}
	l[k] = v
	return nil
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "device" {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("device", flag.ContinueOnError)
	cloud := fs.String("cloud", os.Getenv("CLAWFLEET_CLOUD_URL"), "cloud base URL")
	token := fs.String("admin-token", os.Getenv("CLAWFLEET_ADMIN_TOKEN"), "admin token")
	out := fs.String("out", "", "directory to write credentials.json into")
	name := fs.String("name", "", "device name shown in the dashboard")
	mqttURL := fs.String("mqtt-url", "", "broker URL for the device (default: what the cloud suggests)")
	force := fs.Bool("force", false, "overwrite an existing credentials.json")
	lbl := labels{}
	fs.Var(lbl, "label", "label key=value (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *cloud == "" || *token == "" || *out == "" {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("--cloud, --admin-token and --out are required")
	}
	path := filepath.Join(*out, creds.FileName)
	if _, err := os.Stat(path); err == nil && !*force {
		return fmt.Errorf("%s exists: use --force to replace it", path)
	}
	c := &provisioning.Client{CloudURL: *cloud, AdminToken: *token}
	cr, err := c.ProvisionDevice(ctx, *name, lbl, *mqttURL)
	if err != nil {
		return err
	}
	if err := creds.Save(path, cr); err != nil {
		return err
	}
	fmt.Printf("device %s provisioned; credentials written to %s\n", cr.DeviceID, path)
	return nil
}
