package servertest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clawfleet/clawfleet/pkg/tstest"
)

// Page is a headless Chromium tab for a browser test of the console (or
// any page): every step is bounded (20 s) and a failed one fails the test
// with the text the page shows.
//
//	p := servertest.NewPage(t, "en-US")
//	p.Navigate(c.URL + "/console")
//	p.Click(`[data-testid="provider-oidc"]`)
type Page struct {
	T   testing.TB
	Ctx context.Context
}

// NewPage starts Chromium with the browser language lang ("en-US",
// "zh-CN").
func NewPage(t testing.TB, lang string) *Page {
	t.Helper()
	ctx := tstest.Browser(t, chromedp.Flag("lang", lang), chromedp.Flag("accept-lang", lang))
	// The first action starts the browser: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &Page{T: t, Ctx: ctx}
}

// Get runs a on the page and returns its value.
func Get[T any](p *Page, what string, a chromedp.Action[T]) T {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		body, _ := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		p.T.Fatalf("%s: %v; the page shows:\n%.2000s", what, err, body)
	}
	return v
}

// Run runs actions in order.
func (p *Page) Run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	Get(p, what, chromedp.Steps(actions...))
}

// Navigate opens u.
func (p *Page) Navigate(u string) { p.T.Helper(); p.Run("open "+u, chromedp.Navigate(u)) }

// Wait waits until an element matching the CSS selector sel is visible.
func (p *Page) Wait(sel string) {
	p.T.Helper()
	p.Run("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Click clicks sel once it is visible.
func (p *Page) Click(sel string) {
	p.T.Helper()
	p.Run("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// Type types text into sel.
func (p *Page) Type(sel, text string) {
	p.T.Helper()
	p.Run("type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// Clear empties the input sel.
func (p *Page) Clear(sel string) {
	p.T.Helper()
	p.Eval("clear "+sel, `document.querySelector(`+strconv.Quote(sel)+`).value = ''`)
}

// Choose picks value in the select sel as a person would (the change event
// included), in one step on the element the page shows now: chromedp's
// SetValue could resolve sel to a node of an earlier drawing of the page,
// and a change event sent after it then carried the old value.
func (p *Page) Choose(sel, value string) {
	p.T.Helper()
	p.Wait(sel)
	v := strconv.Quote(value)
	js := `(function (s) { if (!s) return 'no such element'; s.value = ` + v + `;
		if (s.value !== ` + v + `) return 'no such option'; s.dispatchEvent(new Event('change', { bubbles: true })); return ''; })(document.querySelector(` + strconv.Quote(sel) + `))`
	if msg := Get(p, "choose "+value+" in "+sel, chromedp.Evaluate[string](js)); msg != "" {
		p.T.Fatalf("choose %s in %s: %s", value, sel, msg)
	}
}

// Text is the visible text of sel.
func (p *Page) Text(sel string) string {
	p.T.Helper()
	p.Wait(sel)
	return Get(p, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// Attr is the attribute name of sel.
func (p *Page) Attr(sel, name string) string {
	p.T.Helper()
	p.Run("wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	return Get(p, "read "+name+" of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}

// Eval evaluates js for its effect.
func (p *Page) Eval(what, js string) {
	p.T.Helper()
	Get(p, what, chromedp.Evaluate[any](js))
}

// Poll waits until js is true (15 s at most).
func (p *Page) Poll(what, js string) {
	p.T.Helper()
	Get(p, what, chromedp.Poll[any](js, chromedp.WithPollingTimeout(15*time.Second)))
}

// WaitFor is Wait with a bound of its own (a gateway starting).
func (p *Page) WaitFor(sel string, d time.Duration) {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, d)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		body, _ := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		p.T.Fatalf("wait %s for %s: %v; the page shows:\n%.2000s", d, sel, err, body)
	}
}
