package logintest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/login"
)

// WeChatUser is a WeChat user as the app sees them. UnionID is empty when
// the app is not bound to an Open Platform account.
type WeChatUser struct {
	OpenID, UnionID, Nickname, HeadImgURL string
}

// WeChat answers like WeChat website login: /connect/qrconnect (approving
// at once, as if the QR code were scanned and confirmed),
// /sns/oauth2/access_token and /sns/userinfo, with WeChat's conventions:
// status 200 and a text/plain body holding JSON, failures as
// {"errcode":N,"errmsg":"... rid: ..."}, codes good once for five minutes.
type WeChat struct {
	URL              string
	AppID, AppSecret string

	mu     sync.Mutex
	user   WeChatUser
	deny   bool
	codes  map[string]*wechatGrant
	tokens map[string]WeChatUser
	// codeTTL is how long a code is good (five minutes, as documented).
	codeTTL time.Duration
}

type wechatGrant struct {
	user   WeChatUser
	issued time.Time
	used   bool
}

// NewWeChat starts the server on loopback, stopped when t ends.
func NewWeChat(t testing.TB) *WeChat {
	w := &WeChat{AppID: "wx" + randHex(8), AppSecret: randHex(16), codes: map[string]*wechatGrant{}, tokens: map[string]WeChatUser{}, codeTTL: 5 * time.Minute,
		user: WeChatUser{OpenID: "oLVPpjqs9BhvzwPj5A-vTYAX3GLc", UnionID: "o6_bmasdasdsad6_2sgVt7hMZOPfL", Nickname: "微信用户", HeadImgURL: "http://thirdwx.qlogo.cn/mmopen/g3MonUZtNHkdmzicIlibx6iaFqAc56vxLSUfpb6n5WKSYVY0ChQKkiaJSgQ1dZuTOgvLLrhJbERQQ4eMsv84eavHiaiceqxibJxCfHe/0"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /connect/qrconnect", w.qrconnect)
	mux.HandleFunc("GET /sns/oauth2/access_token", w.accessToken)
	mux.HandleFunc("GET /sns/userinfo", w.userinfo)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// Config points the cloud's WeChat provider at this server.
func (w *WeChat) Config() login.WeChatConfig {
	return login.WeChatConfig{AppID: w.AppID, AppSecret: w.AppSecret, AuthURL: w.URL + "/connect/qrconnect", APIURL: w.URL}
}

// SignInAs makes u the user who scans the next QR codes.
func (w *WeChat) SignInAs(u WeChatUser) { w.mu.Lock(); w.user = u; w.mu.Unlock() }

// Deny makes the user refuse the next sign-ins: WeChat then redirects with
// the state and no code.
func (w *WeChat) Deny(deny bool) { w.mu.Lock(); w.deny = deny; w.mu.Unlock() }

// ExpireCodes makes every code issued so far expired.
func (w *WeChat) ExpireCodes() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range w.codes {
		g.issued = g.issued.Add(-w.codeTTL)
	}
}

func (w *WeChat) qrconnect(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.mu.Lock()
	defer w.mu.Unlock()
	if q.Get("appid") != w.AppID || q.Get("scope") != "snsapi_login" || q.Get("response_type") != "code" || q.Get("redirect_uri") == "" {
		// WeChat shows a page saying 参数错误 (wrong parameters).
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = rw.Write([]byte("<html><body><p>参数错误</p></body></html>"))
		return
	}
	v := url.Values{"state": {q.Get("state")}}
	if !w.deny {
		code := randHex(16)
		w.codes[code] = &wechatGrant{user: w.user, issued: time.Now()}
		v.Set("code", code)
	}
	http.Redirect(rw, r, q.Get("redirect_uri")+"?"+v.Encode(), http.StatusFound)
}

// answer writes v as WeChat does: 200, JSON in a text/plain body.
func wechatAnswer(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "text/plain")
	b, _ := json.Marshal(v)
	_, _ = rw.Write(b)
}

func wechatFail(rw http.ResponseWriter, code int, msg string) {
	wechatAnswer(rw, map[string]any{"errcode": code, "errmsg": fmt.Sprintf("%s, rid: %s", msg, randHex(12))})
}

func (w *WeChat) accessToken(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case q.Get("appid") != w.AppID:
		wechatFail(rw, 40013, "invalid appid")
		return
	case q.Get("secret") != w.AppSecret:
		wechatFail(rw, 40125, "invalid appsecret")
		return
	case q.Get("code") == "":
		wechatFail(rw, 41008, "missing code")
		return
	case q.Get("grant_type") != "authorization_code":
		wechatFail(rw, 40002, "invalid grant_type")
		return
	}
	g := w.codes[q.Get("code")]
	switch {
	case g == nil:
		wechatFail(rw, 40029, "invalid code")
		return
	case g.used:
		wechatFail(rw, 40163, "code been used")
		return
	case time.Since(g.issued) >= w.codeTTL:
		wechatFail(rw, 42003, "code expired")
		return
	}
	g.used = true
	tok := randHex(32)
	w.tokens[tok] = g.user
	resp := map[string]any{"access_token": tok, "expires_in": 7200, "refresh_token": randHex(32), "openid": g.user.OpenID, "scope": "snsapi_login"}
	if g.user.UnionID != "" {
		resp["unionid"] = g.user.UnionID
	}
	wechatAnswer(rw, resp)
}

func (w *WeChat) userinfo(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.mu.Lock()
	defer w.mu.Unlock()
	if q.Get("access_token") == "" {
		wechatFail(rw, 41001, "access_token missing")
		return
	}
	u, ok := w.tokens[q.Get("access_token")]
	switch {
	case !ok:
		wechatFail(rw, 40001, "invalid credential, access_token is invalid or not latest")
		return
	case q.Get("openid") != u.OpenID:
		wechatFail(rw, 40003, "invalid openid")
		return
	}
	resp := map[string]any{"openid": u.OpenID, "nickname": u.Nickname, "sex": 0, "language": "", "city": "", "province": "", "country": "",
		"headimgurl": u.HeadImgURL, "privilege": []string{}}
	if u.UnionID != "" {
		resp["unionid"] = u.UnionID
	}
	wechatAnswer(rw, resp)
}
