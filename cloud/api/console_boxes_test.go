package api_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/clawfleet/clawfleet/cloud/servertest"
)

// TestConsoleBoxes: a box owner claims a box on the console's Boxes page
// (a wrong code first: refused, in words, nothing changes), sees it online
// with its instance, a second user (zh-CN) is told it has an owner, and the
// owner releases it after confirming.
func TestConsoleBoxes(t *testing.T) {
	c, _, _ := consoleCloud(t)
	b := c.AddBox("console", 0)
	connectBox(t, c, b).AutoRun()

	alice := signUpIn(t, c.URL, "Alice", "alice@example.com")
	alice.Click(`[data-testid="nav-boxes"]`)
	alice.Wait(`body[data-view="boxes"] [data-testid="boxes-empty"]`)
	alice.Type(`[data-testid="claim-device"]`, b.ID)
	alice.Type(`[data-testid="claim-code"]`, "ABCD-EFGH-JKMN")
	alice.Click(`[data-testid="claim-submit"]`)
	alice.Wait(`[data-testid="box-error"]:not([hidden])`)
	if s := alice.Text(`[data-testid="box-error"]`); !strings.Contains(s, "does not match") {
		t.Errorf("a wrong code's refusal reads %q", s)
	}
	if alice.Attr(`[data-testid="box-error"]`, "data-code") != "wrong_claim_code" {
		t.Errorf("a wrong code's error code = %q", alice.Attr(`[data-testid="box-error"]`, "data-code"))
	}
	alice.Wait(`[data-testid="boxes-empty"]`)

	alice.Clear(`[data-testid="claim-code"]`)
	alice.Type(`[data-testid="claim-code"]`, b.ClaimCode)
	alice.Click(`[data-testid="claim-submit"]`)
	row := `[data-testid="box"][data-device="` + b.ID + `"]`
	alice.Wait(row + `[data-status="online"][data-role="claimer"] [data-testid="box-release"]`)
	if s := alice.Text(`[data-testid="claim-result"]`); !strings.Contains(s, "is yours") {
		t.Errorf("the claim's answer reads %q", s)
	}
	if !servertest.Get(alice, "the error box hidden", chromedp.Evaluate[bool](`document.querySelector('[data-testid="box-error"]').hidden`)) {
		t.Errorf("the earlier refusal is still shown: %q", alice.Text(`[data-testid="box-error"]`))
	}
	if s := alice.Text(row + ` [data-testid="box-status"]`); s != "Online" {
		t.Errorf("the box's status = %q", s)
	}
	alice.Wait(row + ` [data-testid="box-instance"] [data-testid="status"][data-status="running"]`)
	slug := alice.Text(row + ` [data-testid="box-instance"] a`)
	alice.Click(`[data-testid="nav-instances"]`)
	alice.Wait(`[data-testid="instance"][data-status="running"]`)
	if s := alice.Text(`[data-testid="instance"] [data-testid="url"]`); slug == "" || !strings.Contains(s, slug) {
		t.Errorf("My OpenClaw shows %q, the box's instance is %q", s, slug)
	}

	// Someone else, in Chinese: the box has an owner.
	bob := servertest.NewPage(t, "zh-CN")
	bob.Navigate(c.URL + "/console#/signup")
	bob.Type(`[data-testid="signup-name"]`, "Bob")
	bob.Type(`[data-testid="signup-email"]`, "bob@example.com")
	bob.Type(`[data-testid="signup-password"]`, "a long console pass phrase of Bob")
	bob.Click(`[data-testid="signup-submit"]`)
	bob.Wait(`body[data-view="instances"]`)
	bob.Click(`[data-testid="nav-boxes"]`)
	bob.Wait(`[data-testid="boxes-empty"]`)
	if s := bob.Text(`[data-testid="nav-boxes"]`); s != "盒子" {
		t.Errorf("the nav link in zh-CN = %q", s)
	}
	bob.Type(`[data-testid="claim-device"]`, b.ID)
	bob.Type(`[data-testid="claim-code"]`, b.ClaimCode)
	bob.Click(`[data-testid="claim-submit"]`)
	bob.Wait(`[data-testid="box-error"]:not([hidden])`)
	if s := bob.Text(`[data-testid="box-error"]`); !strings.Contains(s, "已有主人") {
		t.Errorf("a claimed box's refusal in zh-CN reads %q", s)
	}
	bob.Wait(`[data-testid="boxes-empty"]`)

	// Release, after the question; cancelling first changes nothing.
	alice.Click(`[data-testid="nav-boxes"]`)
	alice.Click(row + ` [data-testid="box-release"]`)
	alice.Wait(`[data-testid="confirm-dialog"]`)
	if s := alice.Text(`[data-testid="confirm-dialog"]`); !strings.Contains(s, "deleted") {
		t.Errorf("the release question reads %q", s)
	}
	alice.Click(`[data-testid="confirm-cancel"]`)
	alice.Wait(row)
	alice.Click(row + ` [data-testid="box-release"]`)
	alice.Click(`[data-testid="confirm-ok"]`)
	alice.Wait(`[data-testid="boxes-empty"]`)
	alice.Navigate(c.URL + "/console#/boxes")
	alice.Wait(`body[data-view="boxes"] [data-testid="boxes-empty"]`)
	// Released, the box is Bob's to claim.
	bob.Click(`[data-testid="claim-submit"]`)
	bob.Wait(`[data-testid="box"][data-device="` + b.ID + `"][data-role="claimer"]`)
}
