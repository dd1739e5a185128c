package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/provisioning"
)

func TestBatchCommand(t *testing.T) {
	c := servertest.New(t)
	out := t.TempDir()
	args := []string{"batch", "--count", "2", "--model", "OpenClaw Box v1", "--cloud", c.URL, "--admin-token", servertest.AdminToken, "--out", out, "--batch", "cmd-test"}
	if err := run(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	m, err := provisioning.LoadManifest(out)
	if err != nil || m.Batch != "cmd-test" || len(m.Devices) != 2 || m.PublicURL != c.URL {
		t.Fatalf("manifest = %+v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(out, provisioning.SheetFile)); err != nil {
		t.Fatal(err)
	}
	// Resuming needs only the directory.
	if err := run(context.Background(), []string{"batch", "--count", "2", "--cloud", c.URL, "--admin-token", servertest.AdminToken, "--out", out}); err != nil {
		t.Fatalf("resume without --batch and --model: %v", err)
	}
	if err := run(context.Background(), []string{"batch", "--count", "2", "--cloud", c.URL, "--out", out}); err == nil || !strings.Contains(err.Error(), "are required") {
		t.Fatalf("without the admin token: %v", err)
	}
	if err := run(context.Background(), []string{"batch", "--count", "1", "--model", "OpenClaw 盒子", "--cloud", c.URL, "--admin-token", servertest.AdminToken, "--out", t.TempDir()}); err == nil || !strings.Contains(err.Error(), "printable ASCII") {
		t.Fatalf("a model the labels cannot print: %v", err)
	}
}
