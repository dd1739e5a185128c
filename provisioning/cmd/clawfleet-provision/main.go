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

const usage = `usage:
  clawfleet-provision batch --count N --model MODEL --cloud URL --admin-token T --out DIR
                            [--batch ID] [--public-url URL] [--mqtt-url URL]
  clawfleet-provision device --cloud URL --admin-token T --out DIR [--name NAME] [--label k=v]... [--mqtt-url URL] [--force]

batch makes (or resumes) a factory batch of boxes: per device an ID, a secret and a
claim code, kept in DIR/manifest.json before the cloud hears of them, registered with
the cloud, then DIR/NNNN-<device>/credentials.json and label.png and the printable
DIR/labels.pdf. Rerun it with the same DIR to resume after any failure, or with a
larger --count to add devices: nothing is registered twice and nothing is lost.
Keep DIR like the credentials it holds (it has every device's secret).

device pre-registers one worker and writes DIR/credentials.json (mode 0600).

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
	if len(args) > 0 && args[0] == "batch" {
		return runBatch(ctx, args[1:])
	}
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

func runBatch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	cloud := fs.String("cloud", os.Getenv("CLAWFLEET_CLOUD_URL"), "cloud base URL the factory reaches")
	token := fs.String("admin-token", os.Getenv("CLAWFLEET_ADMIN_TOKEN"), "admin token")
	out := fs.String("out", "", "the batch's directory (manifest, label sheet, a directory per device)")
	count := fs.Int("count", 0, "number of devices the batch has when done")
	model := fs.String("model", "", `model printed on the labels, e.g. "OpenClaw Box v1" (default: the manifest's)`)
	batch := fs.String("batch", "", "batch ID (default: the manifest's, or a new one)")
	publicURL := fs.String("public-url", "", "the cloud's address for boxes and owners, in claim links and credentials (default: the manifest's, or what the cloud says)")
	mqttURL := fs.String("mqtt-url", "", "broker URL for the boxes (default: the manifest's, or what the cloud suggests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cloud == "" || *token == "" || *out == "" || *count == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("--count, --cloud, --admin-token and --out are required")
	}
	m, err := provisioning.RunBatch(ctx, provisioning.BatchOptions{
		Client: &provisioning.Client{CloudURL: *cloud, AdminToken: *token},
		Out:    *out, Batch: *batch, Model: *model, Count: *count, PublicURL: *publicURL, MQTTURL: *mqttURL, Log: os.Stdout,
	})
	if err != nil {
		return err
	}
	fmt.Printf("batch %s ready: %d devices\n", m.Batch, len(m.Devices))
	return nil
}
