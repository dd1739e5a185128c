package api_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestDashboardInstallCommandUsesPublicURL: the empty hosts page tells the
// operator to run install.sh from the cloud's public URL, not from the
// address the browser used (here 127.0.0.1).
func TestDashboardInstallCommandUsesPublicURL(t *testing.T) {
	tstest.Chromium(t)
	c := servertest.New(t, servertest.WithFlags("--public-url", "http://fleet.example.test:8080"))
	dom := dumpDOM(t, c.URL+"/#token="+url.QueryEscape(servertest.AdminToken)+"&lang=en", "--lang=en-US", "--accept-lang=en-US")
	m := regexp.MustCompile(`(?s)id="hosts-empty-command"[^>]*>(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no install command on the empty hosts page; DOM:\n%s", dom)
	}
	if want := "curl -fsSL http://fleet.example.test:8080/install.sh | sudo sh -s -- --token cfe_…"; strings.TrimSpace(m[1]) != want {
		t.Errorf("empty hosts page's command = %q, want %q", m[1], want)
	}
}
