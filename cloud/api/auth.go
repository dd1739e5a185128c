package api

// Sign-in routes and the console's account API (docs/sign-in.md, "HTTP
// routes"):
//
//	GET    /auth/providers               → 200 {"providers":[{"name","displayName"}],"localAccounts":bool}
//	GET    /auth/:provider[?return_to=/path] → 302 to the provider, flow cookie set
//	GET    /auth/:provider/callback      → 302 to return_to, session cookie set (a page saying why on failure)
//	POST   /auth/local/signup            {"email","password","name","lang"} → 201 me, signed in
//	POST   /auth/local/signin            {"email","password"} → 200 me, signed in
//	POST   /auth/local/verify            {"token"} → 200 {"email","emailVerified":true}
//	POST   /auth/local/reset-request     {"email"} → 202 (the same whether the account exists)
//	POST   /auth/local/reset             {"token","password"} → 204, every session ended
//	GET    /auth/local/verify, /auth/local/reset ?token= → the pages a mailed link opens (their
//	       forms post to the routes above, form-encoded, and get a page back)
//	POST   /auth/signout                 → 204
//	GET    /api/me                       → 200 me, 401 not_signed_in
//	PATCH  /api/me                       {"name","lang"} → 200 me
//	GET    /api/me/sessions              → 200 {"sessions":[…, "current":true]}
//	DELETE /api/me/sessions/:id          → 204
//	POST   /api/me/sessions/revoke-all   → 200 {"ended":n} (every session but this one)
//	GET    /api/me/identities            → 200 {"identities":[…]}
//	POST   /api/me/identities            {"provider","returnTo"} → 200 {"redirect":url} (flow and link cookies set)
//	DELETE /api/me/identities/:id        → 204 (never the last: 409 last_identity)
//	GET    /api/admin/users              → 200 {"users":[…]} (admin token)
//	POST   /api/admin/users/:id/links    {"purpose":"verify_email"|"reset_password"} → 200 {"link"} (admin token)
//
// Cookies: the session (HttpOnly, SameSite=Lax, Path=/, Secure and named
// __Host-clawfleet-session unless the public URL is plain http to
// loopback, then clawfleet_session), the sign-in flow (10 minutes), the
// link intent (10 minutes) and the password sign-in's device token (180
// days), all HttpOnly.
//
// CSRF: a state-changing request (POST, PUT, PATCH, DELETE) authenticated
// by the session cookie must carry X-CSRF-Token: the csrfToken of GET
// /api/me, an HMAC of the session under the cloud's key that no other
// origin can read (no CORS, and a tenant's subdomain is another origin),
// and must not come from another origin (Origin, Sec-Fetch-Site); else 403
// csrf_failed. The local sign-in routes, which have no session yet, take
// only application/json from our own origin (a cross-origin form cannot
// send it; fetch would need a preflight we never grant), which stops
// login CSRF.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/accounts"
	"github.com/clawfleet/clawfleet/cloud/apperr"
	"github.com/clawfleet/clawfleet/cloud/authz"
	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/ratelimit"
	"github.com/clawfleet/clawfleet/cloud/store"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

const (
	userKey    = "clawfleet.user"
	sessionKey = "clawfleet.session"
	// CSRFHeader carries the session's CSRF token.
	CSRFHeader = "X-CSRF-Token"
)

var (
	errCSRF       = apperr.New(apperr.Forbidden, "csrf_failed", "a request changing state with the session cookie must come from the console: send the X-CSRF-Token header that GET /api/me gives")
	errNotJSON    = apperr.New(apperr.Invalid, "invalid_content_type", "send the body as Content-Type: application/json")
	errSignUpRL   = apperr.New(apperr.RateLimited, "rate_limited", "too many accounts or links asked for from this address; wait and retry").Retrying(10 * time.Second)
	errBadPurpose = apperr.New(apperr.Invalid, "invalid_purpose", "purpose must be verify_email or reset_password")
)

func init() {
	// Texts a person reads in the console, in both languages.
	accounts.RegisterZh(errCSRF.Code, "请求未通过跨站请求伪造（CSRF）检查：请从控制台重新操作。")
	accounts.RegisterZh(errSignUpRL.Code, "请求过于频繁，请稍后再试。")
}

// authAPI serves the sign-in routes and /api/me.
type authAPI struct {
	*server
	acc    *accounts.Service
	signIn *login.SignIn
	key    []byte // HMAC key of CSRF and link tokens
	// signUpRL bounds sign-ups and resetRL reset requests per address;
	// failRL failed token redemptions.
	signUpRL, resetRL, failRL *ratelimit.Keyed
	// signIns counts sign-ins by method and result.
	signIns *prometheus.CounterVec
}

func (s *server) authRoutes(r *gin.Engine, admin *gin.RouterGroup) *authAPI {
	mac := hmac.New(sha256.New, s.opts.SecretKey)
	mac.Write([]byte("clawfleet console v1"))
	a := &authAPI{server: s, acc: s.opts.Accounts, signIn: s.opts.SignIn, key: mac.Sum(nil),
		signUpRL: ratelimit.New(rate.Every(10*time.Second), 5), resetRL: ratelimit.New(rate.Every(10*time.Second), 5), failRL: ratelimit.New(1, 10),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawfleet_sign_ins_total",
			Help: "Console sign-ins by method (a provider's name, local, signup) and result (ok, failed)."}, []string{"method", "result"})}
	if s.opts.Registerer != nil {
		s.opts.Registerer.MustRegister(a.signIns)
	}
	r.GET("/auth/providers", a.providers)
	r.GET("/auth/:provider", a.start)
	r.GET("/auth/:provider/callback", a.callback)
	r.POST("/auth/local/signup", a.jsonOnly, a.signUp)
	r.POST("/auth/local/signin", a.jsonOnly, a.passwordSignIn)
	r.POST("/auth/local/verify", a.jsonOrForm, a.verify)
	r.POST("/auth/local/reset-request", a.jsonOnly, a.resetRequest)
	r.POST("/auth/local/reset", a.jsonOrForm, a.reset)
	// The pages the mailed links open: a button (a mail scanner's GET does
	// not use the link up), and the new password's field.
	r.GET(accounts.VerifyPath, a.linkPage(false))
	r.GET(accounts.ResetPath, a.linkPage(true))
	r.POST("/auth/signout", a.requireSession, a.signOut)

	me := r.Group("/api/me", a.requireSession)
	me.GET("", a.me)
	me.PATCH("", a.updateMe)
	me.GET("/sessions", a.sessions)
	me.DELETE("/sessions/:id", a.revokeSession)
	me.POST("/sessions/revoke-all", a.revokeAll)
	me.GET("/identities", a.identities)
	me.POST("/identities", a.linkStart)
	me.DELETE("/identities/:id", a.unlink)

	admin.GET("/admin/users", a.listUsers)
	admin.POST("/admin/users/:id/links", a.issueLink)
	return a
}

// secure reports whether cookies are Secure (and __Host- named): always
// but for a cloud whose public URL is plain http to loopback (or, with no
// public URL, a plain http request).
func (a *authAPI) secure(r *http.Request) bool {
	if a.opts.PublicURL == "" {
		return r.TLS != nil
	}
	u, err := url.Parse(a.opts.PublicURL)
	if err != nil {
		return true
	}
	return !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))
}

func isLoopbackHost(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (a *authAPI) cookieName(r *http.Request, base string) string {
	if a.secure(r) {
		return "__Host-clawfleet-" + base
	}
	return "clawfleet_" + base
}

func (a *authAPI) setCookie(c *gin.Context, base, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: a.cookieName(c.Request, base), Value: value, Path: "/", HttpOnly: true, Secure: a.secure(c.Request),
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		ck.MaxAge = -1
	}
	http.SetCookie(c.Writer, ck)
}

func (a *authAPI) cookie(c *gin.Context, base string) string {
	ck, err := c.Request.Cookie(a.cookieName(c.Request, base))
	if err != nil {
		return ""
	}
	return ck.Value
}

// mac is base64url(HMAC(key, parts joined by NUL)).
func (a *authAPI) mac(parts ...string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *authAPI) csrfToken(sess *store.Session) string { return a.mac("csrf", sess.Hash) }

// origin is our own origin, scheme://host[:port].
func (a *authAPI) origin(r *http.Request) string {
	if a.opts.PublicURL != "" {
		if u, err := url.Parse(a.opts.PublicURL); err == nil {
			return u.Scheme + "://" + u.Host
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sameOrigin refuses a request a browser says came from another origin.
func (a *authAPI) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != a.origin(r) {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// session authenticates the session cookie: the user and session, or nil
// when there is no live session. A state-changing request must carry its
// CSRF proof (errCSRF otherwise).
func (a *authAPI) session(c *gin.Context) (*store.User, *store.Session, error) {
	tok := a.cookie(c, "session")
	if tok == "" {
		return nil, nil, accounts.ErrNoSession
	}
	u, sess, err := a.acc.Authenticate(c.Request.Context(), tok)
	if err != nil {
		return nil, nil, err
	}
	if unsafeMethod(c.Request.Method) {
		got := c.GetHeader(CSRFHeader)
		if !a.sameOrigin(c.Request) || got == "" || !hmac.Equal([]byte(got), []byte(a.csrfToken(sess))) {
			a.log.Warn("CSRF check failed", "route", c.FullPath(), "user", u.ID, "origin", c.GetHeader("Origin"), "token", got != "")
			return nil, nil, errCSRF
		}
	}
	return u, sess, nil
}

// requireSession lets on only a signed-in console user: the request's
// actor is the user (authz.Actor.UserID is the user's id).
func (a *authAPI) requireSession(c *gin.Context) {
	u, sess, err := a.session(c)
	if err != nil {
		a.failErr(c, err)
		return
	}
	c.Set(userKey, u)
	c.Set(sessionKey, sess)
	c.Set(actorKey, authz.Actor{UserID: u.ID, Email: u.Email, PlatformAdmin: u.PlatformAdmin})
	c.Next()
}

func userOf(c *gin.Context) *store.User       { return c.MustGet(userKey).(*store.User) }
func sessionOf(c *gin.Context) *store.Session { return c.MustGet(sessionKey).(*store.Session) }

// jsonOnly admits application/json from our own origin only.
func (a *authAPI) jsonOnly(c *gin.Context) {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "application/json" {
		a.failErr(c, errNotJSON)
		return
	}
	if !a.sameOrigin(c.Request) {
		a.failErr(c, errCSRF)
		return
	}
	c.Next()
}

// jsonOrForm is jsonOnly, or a form posted by the link pages: a form must
// say it comes from our origin (browsers send Origin with every form post).
func (a *authAPI) jsonOrForm(c *gin.Context) {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		a.jsonOnly(c)
		return
	}
	if c.GetHeader("Origin") != a.origin(c.Request) {
		a.page(c, errCSRF)
		return
	}
	c.Next()
}

// isForm reports whether the request is a form post of a link page.
func isForm(c *gin.Context) bool {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// bindLink reads a link page's form or a JSON body.
func (a *authAPI) bindLink(c *gin.Context, token, password *string) bool {
	if isForm(c) {
		*token = c.PostForm("token")
		if password != nil {
			*password = c.PostForm("password")
		}
		return true
	}
	var req struct{ Token, Password string }
	if !a.bindJSON(c, &req) {
		return false
	}
	*token = req.Token
	if password != nil {
		*password = req.Password
	}
	return true
}

var linkTmpl = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5">
<h1 style="font-size: 1.4rem">{{.Title}}</h1>
{{if .Done}}<p role="status">{{.Done}}</p><p><a href="/console">{{.Back}}</a></p>{{else}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
{{if .Reset}}<p><label for="password">{{.PasswordLabel}}</label><br>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="15" maxlength="128" required style="width: 100%; font-size: 1rem; padding: .4rem"></p>{{end}}
<p><button type="submit" style="font-size: 1rem; padding: .4rem 1rem">{{.Button}}</button></p>
</form>{{end}}
</body></html>
`))

type linkTexts struct{ title, button, done, password, back string }

var linkPageTexts = map[bool]map[string]linkTexts{
	false: {
		"en":    {"Confirm your email address", "Confirm", "Your email address is confirmed.", "", "Go to clawfleet"},
		"zh-CN": {"确认邮箱地址", "确认", "邮箱地址已确认。", "", "前往 clawfleet"},
	},
	true: {
		"en":    {"Choose a new password", "Set the password", "Your password is changed; sign in with it. Every session of this account was ended.", "New password (15 characters or more; a few words with spaces are good)", "Sign in"},
		"zh-CN": {"设置新密码", "设置密码", "密码已修改，请用新密码登录。该账号的所有会话均已退出。", "新密码（至少 15 个字符；用空格连接几个词就很好）", "登录"},
	},
}

// linkPage serves the page a mailed link opens (GET does nothing: the
// form's POST redeems the link).
func (a *authAPI) linkPage(reset bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a.renderLink(c, reset, c.Query("token"), false)
	}
}

func (a *authAPI) renderLink(c *gin.Context, reset bool, token string, done bool) {
	l := lang(c)
	t := linkPageTexts[reset][l]
	action := accounts.VerifyPath
	if reset {
		action = accounts.ResetPath
	}
	v := map[string]any{"Lang": l, "Title": t.title, "Button": t.button, "PasswordLabel": t.password, "Back": t.back, "Reset": reset, "Action": action, "Token": token}
	if done {
		v["Done"] = t.done
	}
	pageHeaders(c)
	// Its form must carry our Origin (jsonOrForm), and browsers send
	// "Origin: null" on a form post from a no-referrer page; same-origin
	// still sends the link's token to nobody else.
	c.Header("Referrer-Policy", "same-origin")
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	_ = linkTmpl.Execute(c.Writer, v)
}

// lang is the language the request asks for: "zh-CN" or "en".
func lang(c *gin.Context) string {
	for _, part := range strings.Split(c.GetHeader("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			return "zh-CN"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return "en"
		}
	}
	return "en"
}

func (a *authAPI) providers(c *gin.Context) {
	ps := []login.ProviderInfo{}
	if a.signIn != nil {
		ps = append(ps, a.signIn.Providers()...)
	}
	c.JSON(http.StatusOK, gin.H{"providers": ps, "localAccounts": a.acc.LocalAccounts()})
}

// start begins a sign-in: the flow cookie, and 302 to the provider.
func (a *authAPI) start(c *gin.Context) {
	if a.signIn == nil {
		a.page(c, login.ErrUnknownProvider)
		return
	}
	authURL, flow, err := a.signIn.Start(c.Request.Context(), c.Param("provider"), c.Query("return_to"))
	if err != nil {
		a.page(c, err)
		return
	}
	a.setCookie(c, "flow", flow, login.FlowTTL)
	// A sign-in started here is no link of a signed-in user's.
	a.setCookie(c, "link", "", -1)
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, authURL)
}

// callback finishes a sign-in (or a link) and lands on its return path.
func (a *authAPI) callback(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("Cache-Control", "no-store")
	if a.signIn == nil {
		a.page(c, login.ErrUnknownProvider)
		return
	}
	provider := c.Param("provider")
	id, returnTo, err := a.signIn.Finish(c.Request.Context(), provider, a.cookie(c, "flow"), c.Request.URL.Query())
	if !errors.Is(err, login.ErrFlowInvalid) {
		// Kept on sign_in_invalid, so a forged callback cannot cancel the
		// real sign-in under way.
		a.setCookie(c, "flow", "", -1)
	}
	if err != nil {
		a.log.Info("sign-in failed", "provider", provider, "err", err)
		a.count(provider, err)
		a.page(c, err)
		return
	}
	if intent := a.cookie(c, "link"); intent != "" {
		a.setCookie(c, "link", "", -1)
		a.finishLink(c, provider, intent, id, returnTo)
		return
	}
	u, err := a.acc.SignIn(c.Request.Context(), id)
	if err == nil {
		err = a.startSession(c, u)
	}
	a.count(provider, err)
	if err != nil {
		a.log.Info("sign-in refused", "provider", provider, "err", err)
		a.page(c, err)
		return
	}
	c.Redirect(http.StatusFound, returnTo)
}

// count records a sign-in's result; method is a configured provider's
// name (else "unknown", so the label's values stay few), local or signup.
func (a *authAPI) count(method string, err error) {
	if method != "local" && method != "signup" {
		if a.signIn == nil {
			method = "unknown"
		} else if _, ok := a.signIn.Provider(method); !ok {
			method = "unknown"
		}
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	a.signIns.WithLabelValues(method, result).Inc()
}

// finishLink links id to the signed-in user whose session the intent was
// made for.
func (a *authAPI) finishLink(c *gin.Context, provider, intent string, id login.Identity, returnTo string) {
	u, sess, err := a.session(c)
	if err != nil || !hmac.Equal([]byte(intent), []byte(a.mac("link", sess.Hash, provider))) {
		a.page(c, login.ErrFlowInvalid)
		return
	}
	if err := a.acc.Link(c.Request.Context(), u.ID, id); err != nil {
		a.page(c, err)
		return
	}
	a.audit(c, "user:"+u.ID, "identity.link", u.ID, provider)
	c.Redirect(http.StatusFound, returnTo)
}

// startSession ends the session the browser had, if any, and starts a new
// one with a new token: a session id never survives a sign-in.
func (a *authAPI) startSession(c *gin.Context, u *store.User) error {
	ctx := c.Request.Context()
	if old := a.cookie(c, "session"); old != "" {
		if err := a.acc.SignOut(ctx, old); err != nil {
			return err
		}
	}
	tok, _, err := a.acc.NewSession(ctx, u.ID, c.Request.UserAgent(), a.clientIP(c.Request))
	if err != nil {
		return err
	}
	a.setCookie(c, "session", tok, accounts.MaxTTL)
	return nil
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5">
<h1 style="font-size: 1.4rem">{{.Title}}</h1>
<p role="alert">{{.Message}}</p>
<p><a href="/console">{{.Back}}</a></p>
</body></html>
`))

// page answers a failed browser navigation with a page saying what went
// wrong in the user's language, with err's status.
func (a *authAPI) page(c *gin.Context, err error) {
	errorPage(c, a.log, "sign-in", err, "Sign-in failed", "登录失败", func(l, _ string) string { return accounts.Describe(err, l) })
}

// htmlPage answers a page of pageTmpl with status.
func htmlPage(c *gin.Context, status int, lang, title, msg, back string) {
	pageHeaders(c)
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	_ = pageTmpl.Execute(c.Writer, map[string]string{"Lang": lang, "Title": title, "Message": msg, "Back": back})
	c.Abort()
}

// meView is GET /api/me.
type meView struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	EmailVerified bool       `json:"emailVerified"`
	Name          string     `json:"name"`
	AvatarURL     string     `json:"avatarUrl"`
	Lang          string     `json:"lang"`
	PlatformAdmin bool       `json:"platformAdmin"`
	Teams         []teamView `json:"teams"`
	CSRFToken     string     `json:"csrfToken"`
	SessionID     string     `json:"sessionId"`
	CreatedAt     time.Time  `json:"createdAt"`
}

type teamView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Personal bool   `json:"personal"`
}

func (a *authAPI) meOf(c *gin.Context, u *store.User, sess *store.Session) (meView, error) {
	ms, err := a.acc.Teams(c.Request.Context(), u.ID)
	if err != nil {
		return meView{}, err
	}
	teams := make([]teamView, 0, len(ms))
	for _, m := range ms {
		teams = append(teams, teamView{ID: m.ID, Name: m.Name, Role: m.Role, Personal: m.Personal})
	}
	return meView{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, AvatarURL: u.AvatarURL, Lang: u.Lang,
		PlatformAdmin: u.PlatformAdmin, Teams: teams, CSRFToken: a.csrfToken(sess), SessionID: sess.ID, CreatedAt: u.CreatedAt}, nil
}

func (a *authAPI) me(c *gin.Context) {
	v, err := a.meOf(c, userOf(c), sessionOf(c))
	if err != nil {
		a.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (a *authAPI) updateMe(c *gin.Context) {
	var req struct {
		Lang *string `json:"lang"`
	}
	if !a.bindJSON(c, &req) {
		return
	}
	u := userOf(c)
	if req.Lang != nil {
		var err error
		if u, err = a.acc.SetLang(c.Request.Context(), u.ID, *req.Lang); err != nil {
			a.failErr(c, err)
			return
		}
	}
	v, err := a.meOf(c, u, sessionOf(c))
	if err != nil {
		a.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// signedIn starts a session for u after a password sign-in or sign-up and
// answers me with status.
func (a *authAPI) signedIn(c *gin.Context, u *store.User, status int) {
	ctx := c.Request.Context()
	if old := a.cookie(c, "session"); old != "" {
		if err := a.acc.SignOut(ctx, old); err != nil {
			a.failErr(c, err)
			return
		}
	}
	tok, sess, err := a.acc.NewSession(ctx, u.ID, c.Request.UserAgent(), a.clientIP(c.Request))
	if err != nil {
		a.failErr(c, err)
		return
	}
	a.setCookie(c, "session", tok, accounts.MaxTTL)
	v, err := a.meOf(c, u, sess)
	if err != nil {
		a.failErr(c, err)
		return
	}
	c.JSON(status, v)
}

func (a *authAPI) signUp(c *gin.Context) {
	var req struct {
		Email, Password, Name, Lang string
	}
	if !a.bindJSON(c, &req) {
		return
	}
	if !a.signUpRL.Allow(a.clientIP(c.Request)) {
		a.failErr(c, errSignUpRL)
		return
	}
	if req.Lang == "" {
		req.Lang = lang(c)
	}
	u, err := a.acc.SignUp(c.Request.Context(), accounts.SignUp{Email: req.Email, Password: req.Password, Name: req.Name, Lang: req.Lang})
	a.count("signup", err)
	if err != nil {
		a.failErr(c, err)
		return
	}
	a.audit(c, "user:"+u.ID, "user.signup", u.ID, "local")
	a.signedIn(c, u, http.StatusCreated)
}

func (a *authAPI) passwordSignIn(c *gin.Context) {
	var req struct {
		Email, Password string
	}
	if !a.bindJSON(c, &req) {
		return
	}
	u, device, err := a.acc.PasswordSignIn(c.Request.Context(), req.Email, req.Password, a.clientIP(c.Request), a.cookie(c, "device"))
	a.count("local", err)
	if err != nil {
		var le *login.LimitError
		if errors.As(err, &le) {
			if e, ok := apperr.As(err); ok {
				err = e.Retrying(le.RetryAfter)
			}
		}
		a.failErr(c, err)
		return
	}
	a.setCookie(c, "device", device, login.DefaultLimits.DeviceTTL)
	a.signedIn(c, u, http.StatusOK)
}

func (a *authAPI) verify(c *gin.Context) {
	var token string
	if !a.bindLink(c, &token, nil) {
		return
	}
	ip := a.clientIP(c.Request)
	if a.failRL.Exhausted(ip) {
		a.fail(c, errAuthRate)
		return
	}
	u, err := a.acc.VerifyEmail(c.Request.Context(), token)
	if err != nil {
		a.failRL.Allow(ip)
		a.fail(c, err)
		return
	}
	a.audit(c, "user:"+u.ID, "user.verify_email", u.ID, "")
	if isForm(c) {
		a.renderLink(c, false, "", true)
		return
	}
	c.JSON(http.StatusOK, gin.H{"email": u.Email, "emailVerified": u.EmailVerified})
}

// fail answers err as a page to a link page's form, else as JSON.
func (a *authAPI) fail(c *gin.Context, err error) {
	if isForm(c) {
		a.page(c, err)
		return
	}
	a.failErr(c, err)
}

func (a *authAPI) resetRequest(c *gin.Context) {
	var req struct{ Email string }
	if !a.bindJSON(c, &req) {
		return
	}
	if !a.resetRL.Allow(a.clientIP(c.Request)) {
		a.failErr(c, errSignUpRL)
		return
	}
	if err := a.acc.RequestReset(c.Request.Context(), req.Email); err != nil {
		a.failErr(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"sent": true})
}

func (a *authAPI) reset(c *gin.Context) {
	var token, password string
	if !a.bindLink(c, &token, &password) {
		return
	}
	ip := a.clientIP(c.Request)
	if a.failRL.Exhausted(ip) {
		a.fail(c, errAuthRate)
		return
	}
	u, err := a.acc.ResetPassword(c.Request.Context(), token, password)
	if err != nil {
		if errors.Is(err, login.ErrTokenUnknown) {
			a.failRL.Allow(ip)
		}
		a.fail(c, err)
		return
	}
	a.audit(c, "user:"+u.ID, "user.reset_password", u.ID, "")
	if isForm(c) {
		a.renderLink(c, true, "", true)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *authAPI) signOut(c *gin.Context) {
	sess := sessionOf(c)
	if err := a.acc.RevokeSession(c.Request.Context(), sess.UserID, sess.ID); err != nil && !errors.Is(err, accounts.ErrNoSuchSession) {
		a.failErr(c, err)
		return
	}
	a.setCookie(c, "session", "", -1)
	c.Status(http.StatusNoContent)
}

type sessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	UserAgent  string    `json:"userAgent"`
	Address    string    `json:"address"`
	Current    bool      `json:"current"`
}

func (a *authAPI) sessions(c *gin.Context) {
	cur := sessionOf(c)
	ss, err := a.acc.Sessions(c.Request.Context(), cur.UserID)
	if err != nil {
		a.failErr(c, err)
		return
	}
	out := views(ss, func(s *store.Session) sessionView {
		return sessionView{ID: s.ID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt, UserAgent: s.UserAgent, Address: s.Address, Current: s.ID == cur.ID}
	})
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

func (a *authAPI) revokeSession(c *gin.Context) {
	cur := sessionOf(c)
	if err := a.acc.RevokeSession(c.Request.Context(), cur.UserID, c.Param("id")); err != nil {
		a.failErr(c, err)
		return
	}
	if c.Param("id") == cur.ID {
		a.setCookie(c, "session", "", -1)
	}
	c.Status(http.StatusNoContent)
}

func (a *authAPI) revokeAll(c *gin.Context) {
	cur := sessionOf(c)
	n, err := a.acc.SignOutEverywhere(c.Request.Context(), cur.UserID, cur.ID)
	if err != nil {
		a.failErr(c, err)
		return
	}
	a.audit(c, "user:"+cur.UserID, "user.sign_out_everywhere", cur.UserID, "")
	c.JSON(http.StatusOK, gin.H{"ended": n})
}

type identityView struct {
	ID            string     `json:"id"`
	Provider      string     `json:"provider"`
	Email         string     `json:"email"`
	EmailVerified bool       `json:"emailVerified"`
	Name          string     `json:"name"`
	CreatedAt     time.Time  `json:"createdAt"`
	LastUsedAt    *time.Time `json:"lastUsedAt"`
}

func (a *authAPI) identities(c *gin.Context) {
	ids, err := a.acc.Identities(c.Request.Context(), userOf(c).ID)
	if err != nil {
		a.failErr(c, err)
		return
	}
	out := views(ids, func(i *store.Identity) identityView {
		return identityView{ID: i.ID, Provider: i.Provider, Email: i.Email, EmailVerified: i.EmailVerified, Name: i.Name, CreatedAt: i.CreatedAt, LastUsedAt: i.LastUsedAt}
	})
	c.JSON(http.StatusOK, gin.H{"identities": out})
}

// linkStart begins a sign-in whose identity is linked to the signed-in
// user: the flow cookie and a link intent bound to this session.
func (a *authAPI) linkStart(c *gin.Context) {
	var req struct {
		Provider string `json:"provider"`
		ReturnTo string `json:"returnTo"`
	}
	if !a.bindJSON(c, &req) {
		return
	}
	if a.signIn == nil {
		a.failErr(c, login.ErrUnknownProvider)
		return
	}
	authURL, flow, err := a.signIn.Start(c.Request.Context(), req.Provider, req.ReturnTo)
	if err != nil {
		a.failErr(c, err)
		return
	}
	a.setCookie(c, "flow", flow, login.FlowTTL)
	a.setCookie(c, "link", a.mac("link", sessionOf(c).Hash, req.Provider), login.FlowTTL)
	c.JSON(http.StatusOK, gin.H{"redirect": authURL})
}

func (a *authAPI) unlink(c *gin.Context) {
	u := userOf(c)
	if err := a.acc.Unlink(c.Request.Context(), u.ID, c.Param("id")); err != nil {
		a.failErr(c, err)
		return
	}
	a.audit(c, "user:"+u.ID, "identity.unlink", u.ID, c.Param("id"))
	c.Status(http.StatusNoContent)
}

type userView struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	EmailVerified bool       `json:"emailVerified"`
	Name          string     `json:"name"`
	PlatformAdmin bool       `json:"platformAdmin"`
	Disabled      bool       `json:"disabled"`
	CreatedAt     time.Time  `json:"createdAt"`
	LastSignInAt  *time.Time `json:"lastSignInAt"`
}

func (a *authAPI) listUsers(c *gin.Context) {
	us, err := a.acc.Users(c.Request.Context())
	if err != nil {
		a.failErr(c, err)
		return
	}
	out := views(us, func(u *store.User) userView {
		return userView{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, PlatformAdmin: u.PlatformAdmin,
			Disabled: u.DisabledAt != nil, CreatedAt: u.CreatedAt, LastSignInAt: u.LastSignInAt}
	})
	c.JSON(http.StatusOK, gin.H{"users": out})
}

// issueLink makes a verification or reset link for a user's local account,
// for an admin to hand out (it is also mailed when SMTP is configured).
func (a *authAPI) issueLink(c *gin.Context) {
	var req struct{ Purpose string }
	if !a.bindJSON(c, &req) {
		return
	}
	p := login.Purpose(req.Purpose)
	if p != login.VerifyEmail && p != login.ResetPassword {
		a.failErr(c, errBadPurpose)
		return
	}
	link, err := a.acc.IssueLink(c.Request.Context(), p, c.Param("id"))
	if err != nil {
		a.failErr(c, err)
		return
	}
	a.audit(c, "admin", "user.issue_link", c.Param("id"), req.Purpose)
	c.JSON(http.StatusOK, gin.H{"link": link})
}

// audit records an account event; a failure to record is logged.
func (a *authAPI) audit(c *gin.Context, actor, action, target, detail string) {
	if a.opts.Audit == nil {
		return
	}
	if err := a.opts.Audit(c.Request.Context(), &store.AuditEvent{At: time.Now().UTC(), Actor: actor, Action: action, Target: target, Detail: detail}); err != nil {
		a.log.Warn("audit event not recorded", "action", action, "err", err)
	}
}
