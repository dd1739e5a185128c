package pairing

import (
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
)

//go:embed web
var web embed.FS

var (
	page        = template.Must(template.New("page.html").ParseFS(web, "web/page.html"))
	staticFS, _ = fs.Sub(web, "web") // serves web/static/ as /static/
)

// probeHosts are the names operating systems fetch to learn whether a
// network has a captive portal, with the path each fetches. On the
// hotspot every foreign host is redirected to the portal, these included;
// the table documents (and its test checks) the ones that matter.
var probeHosts = []struct{ host, path, os string }{
	{"captive.apple.com", "/hotspot-detect.html", "iOS, iPadOS, macOS"},
	{"www.apple.com", "/library/test/success.html", "older iOS and macOS"},
	{"connectivitycheck.gstatic.com", "/generate_204", "Android"},
	{"clients3.google.com", "/generate_204", "Android (older), ChromeOS"},
	{"www.google.com", "/gen_204", "Android"},
	{"connectivitycheck.android.com", "/generate_204", "Android"},
	{"www.msftconnecttest.com", "/connecttest.txt", "Windows 10 and 11"},
	{"www.msftconnecttest.com", "/redirect", "Windows (the browser it opens)"},
	{"www.msftncsi.com", "/ncsi.txt", "Windows 7 and 8"},
	{"detectportal.firefox.com", "/canonical.html", "Firefox"},
	{"nmcheck.gnome.org", "/check_network_status.txt", "GNOME (NetworkManager)"},
}

// httpServer serves the portal (on the hotspot) or the local page.
func (p *Pairing) httpServer(portal bool) *http.Server {
	return &http.Server{Handler: p.handler(portal), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
}

// handler is the portal's (portal true) or the local page's HTTP handler.
func (p *Pairing) handler(portal bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { p.servePage(w, r, portal) })
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, p.State()) })
	mux.HandleFunc("GET /claim.svg", p.serveQR)
	mux.Handle("GET /static/", http.FileServerFS(staticFS))
	mux.HandleFunc("POST /api/join", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ SSID, Password string }
		if !portal {
			apiError(w, r, http.StatusForbidden, "err.notSetup")
			return
		}
		if !jsonRequest(w, r, &req) {
			return
		}
		if key, ok := p.requestJoin(req.SSID, req.Password); !ok {
			apiError(w, r, http.StatusConflict, key, req.SSID)
			return
		}
		writeJSON(w, http.StatusAccepted, p.State())
	})
	mux.HandleFunc("POST /api/scan", func(w http.ResponseWriter, r *http.Request) {
		if !portal {
			apiError(w, r, http.StatusForbidden, "err.notSetup")
			return
		}
		if !jsonRequest(w, r, &struct{}{}) {
			return
		}
		if key, ok := p.requestScan(); !ok {
			apiError(w, r, http.StatusConflict, key)
			return
		}
		writeJSON(w, http.StatusAccepted, p.State())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Probes and pages must never come from a cache: a phone that
		// cached the portal's answer would think the home network captive.
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		host := hostOnly(r.Host)
		if portal {
			p.touch()
			if ip, err := netip.ParseAddr(host); err != nil || ip != p.portalHost() {
				// Any other name: a connectivity probe, or a page the phone
				// tried to open. Send it to the portal, which makes every OS
				// show its "sign in to network" sheet.
				http.Redirect(w, r, p.portalURL(), http.StatusFound)
				return
			}
		} else if !localHost(host) {
			// DNS rebinding: a web page must not read the claim code
			// through a name it points at the box's address.
			http.Error(w, "unknown host name", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// portalURL is the portal's address as phones on the hotspot reach it.
func (p *Pairing) portalURL() string {
	host := p.portalHost().String()
	if _, port, err := net.SplitHostPort(p.PortalAddr()); err == nil && port != "80" {
		host = net.JoinHostPort(host, port)
	}
	return "http://" + host + "/"
}

// localHost accepts the names a person uses for the box on the LAN: an
// IP address, localhost, a .local (mDNS) name or the box's hostname.
func localHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".localhost") {
		return true
	}
	hn, err := os.Hostname()
	return err == nil && strings.EqualFold(host, hn)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}

type pageData struct {
	Lang, Other     lang
	Portal          bool
	Dict            map[string]string
	HasQR, HasClaim bool
	State           State
}

// T is the page's translation function.
func (d pageData) T(key string, args ...any) string { return d.Lang.t(key, args...) }

func (p *Pairing) servePage(w http.ResponseWriter, r *http.Request, portal bool) {
	l := pickLang(w, r)
	other := lang{"zh"}
	if l.Tag() != "en" {
		other = lang{"en"}
	}
	st := p.State()
	hasQR := p.qrSVG() != nil
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", l.Tag())
	if err := page.Execute(w, pageData{Lang: l, Other: other, Portal: portal, Dict: l.dict(), HasQR: hasQR,
		HasClaim: st.Claim.Code != "", State: st}); err != nil {
		p.log.Error("page not rendered", "err", err)
	}
}

func (p *Pairing) serveQR(w http.ResponseWriter, r *http.Request) {
	qr := p.qrSVG()
	if qr == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-cache") // a reprint changes it
	_, _ = w.Write(qr)
}

// qrSVG is the claim URL's QR code (nil without one).
func (p *Pairing) qrSVG() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.qr
}

// jsonRequest decodes a small JSON body. Requiring the JSON content type
// keeps other sites' forms out: a cross-site JSON POST needs a CORS
// preflight this server never grants.
func jsonRequest(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		apiError(w, r, http.StatusUnsupportedMediaType, "err.request")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	if err := dec.Decode(v); err != nil {
		apiError(w, r, http.StatusBadRequest, "err.request")
		return false
	}
	return true
}

// apiError answers with a message key and its text in the caller's language.
func apiError(w http.ResponseWriter, r *http.Request, status int, key string, args ...any) {
	l := pickLang(w, r)
	writeJSON(w, status, map[string]string{"error": key, "message": l.t(key, args...)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
