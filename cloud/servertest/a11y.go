package servertest

import (
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// auditJS checks what the page shows now against the rules the console
// keeps (WCAG 2.1 AA where a script can tell): every visible form control
// and every button or link has an accessible name, nothing focusable is
// taken out of the tab order, and text contrasts with its background by
// 4.5:1 (3:1 for large text). It returns what breaks a rule.
const auditJS = `(() => {
  const problems = [];
  const visible = el => el.checkVisibility({ visibilityProperty: true, opacityProperty: true });
  const desc = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '');
  const named = el => {
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    const by = el.getAttribute('aria-labelledby');
    if (by && by.split(/\s+/).some(id => { const x = document.getElementById(id); return x && x.textContent.trim(); })) return true;
    if (el.labels && [...el.labels].some(l => l.textContent.trim())) return true;
    if ((el.getAttribute('title') || '').trim()) return true;
    return false;
  };
  document.querySelectorAll('input, select, textarea').forEach(el => {
    if (!visible(el) || ['hidden', 'submit', 'button', 'reset'].includes(el.type)) return;
    if (!named(el)) problems.push('no label: ' + desc(el));
  });
  document.querySelectorAll('button, a[href], [role="button"]').forEach(el => {
    if (!visible(el)) return;
    if (!el.textContent.trim() && !named(el) && !el.querySelector('img[alt]:not([alt=""]), svg[aria-label]')) problems.push('no name: ' + desc(el));
    if (el.tabIndex < 0) problems.push('out of the tab order: ' + desc(el));
  });
  // Contrast of each visible text against the first opaque background
  // behind it.
  const rgba = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const blend = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const background = el => {
    const layers = [];
    for (let x = el; x; x = x.parentElement) {
      const c = rgba(getComputedStyle(x).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = blend(layers[i], bg);
    return bg;
  };
  const seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.nodeValue.trim() || seen.has(el) || !visible(el)) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    if (el.closest('[disabled], [aria-disabled="true"]')) continue; // WCAG exempts inactive controls
    let fg = rgba(st.color);
    if (!fg) continue;
    const bg = background(el);
    let opacity = 1;
    for (let x = el; x; x = x.parentElement) opacity *= Number(getComputedStyle(x).opacity || 1);
    fg = blend([fg[0], fg[1], fg[2], fg[3] * opacity], bg);
    const a = lum(fg), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) problems.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': ' + desc(el) + ' "' + n.nodeValue.trim().slice(0, 30) + '" ' + st.color + ' on rgb(' + bg.slice(0, 3).map(Math.round).join(',') + ')');
  }
  return problems;
})()`

// Audit returns what the page shows now that breaks the console's
// accessibility rules (see auditJS); nil when nothing does.
func Audit(p *Page) []string {
	p.T.Helper()
	return Get(p, "audit the page", chromedp.Evaluate[[]string](auditJS))
}

// focusJS describes the focused element and whether it shows that it has
// the focus: its outline, box-shadow, border or background differ from
// what it shows without the focus (read by blurring it and focusing it
// again, which keeps the place Tab goes on from).
const focusJS = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return { where: 'body', shown: true };
  const look = () => { const st = getComputedStyle(el); return [st.outlineStyle, st.outlineWidth, st.outlineColor, st.boxShadow, st.borderColor, st.backgroundColor, st.textDecorationLine].join('|'); };
  const focused = look();
  el.blur();
  const blurred = look();
  el.focus();
  return { where: el.tagName.toLowerCase() + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '') + (el.id ? '#' + el.id : ''), shown: focused !== blurred };
})()`

// Focus is where the keyboard's focus is and whether the page shows it.
type Focus struct {
	Where string
	Shown bool
}

// Tab presses the Tab key from the top of the page until the focus
// leaves the page (back to the body) or n presses, and returns where the
// focus went each time.
func Tab(p *Page, n int) []Focus {
	p.T.Helper()
	// Blurring alone keeps Chromium's place in the tab order; focusing
	// the body moves it to the top.
	p.Eval("focus from the top", `document.body.tabIndex = -1, document.body.focus(), document.body.removeAttribute('tabindex'), window.scrollTo(0, 0)`)
	var out []Focus
	for range n {
		p.Run("press Tab", chromedp.KeyEvent(kb.Tab))
		f := Get(p, "the focus", chromedp.Evaluate[Focus](focusJS))
		out = append(out, f)
		if f.Where == "body" {
			break
		}
	}
	return out
}
