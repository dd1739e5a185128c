package servertest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/servertest"
	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// TestAudit: the audit the console's pages must pass finds each kind of
// fault on a page made of them, and nothing on their fixed versions.
func TestAudit(t *testing.T) {
	tstest.Chromium(t)
	page := func(body string) string {
		return `<!doctype html><html lang="en"><head><style>button:focus-visible, input:focus-visible { outline: 2px solid #1d4ed8; }</style></head><body>` + body + `</body></html>`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/bad" {
			w.Write([]byte(page(`<input type="text" id="name"><button id="icon"></button><a href="/x" id="skipped" tabindex="-1">away</a><p id="pale" style="color:#aaa">pale words</p>`)))
			return
		}
		w.Write([]byte(page(`<label for="name">Name</label><input type="text" id="name"><button id="icon" aria-label="Close">×</button><a href="/x">away</a><p style="color:#595959">grey words</p>`)))
	}))
	defer srv.Close()

	p := servertest.NewPage(t, "en-US")
	p.Navigate(srv.URL + "/bad")
	got := strings.Join(servertest.Audit(p), "\n")
	for _, want := range []string{"no label: input#name", "no name: button#icon", "out of the tab order: a#skipped", "contrast 2.32 < 4.5: p#pale"} {
		if !strings.Contains(got, want) {
			t.Errorf("the audit of the faulty page misses %q; it found:\n%s", want, got)
		}
	}

	p.Navigate(srv.URL + "/good")
	if problems := servertest.Audit(p); len(problems) > 0 {
		t.Errorf("the audit of the fixed page found %q", problems)
	}
	focus := servertest.Tab(p, 4)
	if len(focus) < 3 || focus[0].Where != "input#name" || !focus[0].Shown || focus[1].Where != "button#icon" || !focus[1].Shown {
		t.Errorf("Tab through the fixed page = %+v", focus)
	}
}
