package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// WeChat's endpoints.
const (
	WeChatAuthURL = "https://open.weixin.qq.com/connect/qrconnect"
	WeChatAPIURL  = "https://api.weixin.qq.com"
)

// WeChat signs in with WeChat website login (a QR code the user scans with
// the WeChat app, scope snsapi_login). It is OAuth 2 in WeChat's own dialect:
// the code is exchanged with the AppID and AppSecret in a GET query, answers
// are JSON served as text/plain, and failures are {"errcode","errmsg"} with
// status 200. There is no PKCE, no nonce and no email; the state alone binds
// the callback to the browser. The subject is the unionid when the app is
// bound to an Open Platform account (it is the same for the user across the
// operator's apps), else the openid.
type WeChat struct {
	cfg         WeChatConfig
	redirectURL string
	client      *http.Client
}

// NewWeChat makes the provider of cfg whose callback is redirectURL.
func NewWeChat(cfg WeChatConfig, redirectURL string, client *http.Client) *WeChat {
	if client == nil {
		client = DefaultHTTPClient()
	}
	cfg.AuthURL = firstOf(cfg.AuthURL, WeChatAuthURL)
	cfg.APIURL = strings.TrimSuffix(firstOf(cfg.APIURL, WeChatAPIURL), "/")
	return &WeChat{cfg: cfg, redirectURL: redirectURL, client: client}
}

func (w *WeChat) Name() string        { return "wechat" }
func (w *WeChat) DisplayName() string { return "WeChat" }

// AuthURL is the QR code page for f. The parameters go in the order WeChat
// documents, and the "#wechat_redirect" fragment is required.
func (w *WeChat) AuthURL(_ context.Context, f Flow) (string, error) {
	return w.cfg.AuthURL + "?appid=" + url.QueryEscape(w.cfg.AppID) +
		"&redirect_uri=" + url.QueryEscape(w.redirectURL) +
		"&response_type=code&scope=snsapi_login&state=" + url.QueryEscape(f.State) +
		"#wechat_redirect", nil
}

type wechatToken struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	OpenID      string `json:"openid"`
	Scope       string `json:"scope"`
	UnionID     string `json:"unionid"`
}

type wechatUser struct {
	OpenID     string `json:"openid"`
	Nickname   string `json:"nickname"`
	HeadImgURL string `json:"headimgurl"`
	UnionID    string `json:"unionid"`
}

// Finish exchanges code for an access token and reads the user's profile.
func (w *WeChat) Finish(ctx context.Context, _ Flow, code string) (Identity, error) {
	var tok wechatToken
	q := url.Values{"appid": {w.cfg.AppID}, "secret": {w.cfg.AppSecret}, "code": {code}, "grant_type": {"authorization_code"}}
	if err := w.get(ctx, "/sns/oauth2/access_token", q, &tok); err != nil {
		return Identity{}, err
	}
	if tok.AccessToken == "" || tok.OpenID == "" {
		return Identity{}, ErrProvider.Wrap(errors.New("WeChat's token answer has no access_token or openid"))
	}
	var u wechatUser
	if err := w.get(ctx, "/sns/userinfo", url.Values{"access_token": {tok.AccessToken}, "openid": {tok.OpenID}, "lang": {"zh_CN"}}, &u); err != nil {
		return Identity{}, err
	}
	if u.OpenID != tok.OpenID {
		return Identity{}, ErrTokenInvalid.Wrap(fmt.Errorf("WeChat's userinfo names openid %q, the token %q", u.OpenID, tok.OpenID))
	}
	return Identity{
		Provider: "wechat",
		Issuer:   w.cfg.APIURL,
		Subject:  firstOf(u.UnionID, tok.UnionID, tok.OpenID),
		Name:     strings.TrimSpace(u.Nickname),
		// qlogo.cn serves the same picture over https.
		AvatarURL: httpsURL(strings.Replace(u.HeadImgURL, "http://", "https://", 1)),
	}, nil
}

// get calls GET <api><path>?<q> and decodes the answer into v, or returns
// its errcode as a *WeChatError inside the sentinel that fits it.
func (w *WeChat) get(ctx context.Context, path string, q url.Values, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.cfg.APIURL+path+"?"+q.Encode(), nil)
	if err != nil {
		return ErrProvider.Wrap(err)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// The error names the URL, whose query holds the secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ErrProvider.Wrap(fmt.Errorf("WeChat %s: %w", path, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return ErrProvider.Wrap(err)
	}
	if resp.StatusCode != http.StatusOK {
		return ErrProvider.Wrap(fmt.Errorf("WeChat %s: HTTP %d", path, resp.StatusCode))
	}
	var e WeChatError
	if err := json.Unmarshal(body, &e); err != nil {
		return ErrProvider.Wrap(fmt.Errorf("WeChat %s: %w", path, err))
	}
	if e.Code != 0 {
		return e.sentinel()
	}
	if err := json.Unmarshal(body, v); err != nil {
		return ErrProvider.Wrap(fmt.Errorf("WeChat %s: %w", path, err))
	}
	return nil
}

// WeChatError is an {"errcode","errmsg"} answer.
type WeChatError struct {
	Code int    `json:"errcode"`
	Msg  string `json:"errmsg"`
}

func (e *WeChatError) Error() string { return fmt.Sprintf("WeChat errcode %d: %s", e.Code, e.Msg) }

// wechatMessages are the errcodes a sign-in meets, in en and zh-CN.
var wechatMessages = map[int][2]string{
	-1:    {"WeChat is busy; try again in a moment.", "微信系统繁忙，请稍后再试。"},
	40001: {"WeChat did not accept the access token; sign in again.", "微信不接受访问凭证，请重新登录。"},
	40003: {"WeChat did not recognise the user (invalid openid); sign in again.", "微信无法识别该用户（openid 无效），请重新登录。"},
	40013: {"WeChat does not know this AppID: check CLAWFLEET_WECHAT_APP_ID.", "微信不认识该 AppID：请检查 CLAWFLEET_WECHAT_APP_ID。"},
	40029: {"The WeChat sign-in code is invalid; scan the QR code again.", "微信登录授权码无效，请重新扫码。"},
	40125: {"WeChat refused the AppSecret: check CLAWFLEET_WECHAT_APP_SECRET.", "微信拒绝了 AppSecret：请检查 CLAWFLEET_WECHAT_APP_SECRET。"},
	40163: {"This WeChat sign-in code was already used; scan the QR code again.", "该微信登录授权码已被使用，请重新扫码。"},
	41001: {"The access token is missing in the call to WeChat.", "调用微信接口时缺少访问凭证。"},
	41008: {"WeChat received no sign-in code; scan the QR code again.", "微信未收到登录授权码，请重新扫码。"},
	42001: {"The WeChat access token has expired; sign in again.", "微信访问凭证已过期，请重新登录。"},
	42003: {"The WeChat sign-in code has expired; scan the QR code again.", "微信登录授权码已过期，请重新扫码。"},
	45011: {"Too many calls to WeChat right now; try again in a minute.", "调用微信接口过于频繁，请一分钟后再试。"},
	50001: {"This WeChat application may not use website login; check its permissions on the Open Platform.", "该微信应用未获得网站登录权限，请在开放平台检查其权限。"},
}

// Message is what to tell the user about e, in lang ("zh-CN" or English).
func (e *WeChatError) Message(lang string) string {
	m, ok := wechatMessages[e.Code]
	if !ok {
		m = [2]string{
			fmt.Sprintf("WeChat refused the sign-in (errcode %d: %s).", e.Code, e.Msg),
			fmt.Sprintf("微信拒绝了本次登录（错误码 %d：%s）。", e.Code, e.Msg),
		}
	}
	if isChinese(lang) {
		return m[1]
	}
	return m[0]
}

// sentinel is e inside the sign-in error that fits it.
func (e *WeChatError) sentinel() error {
	var s = ErrProvider
	switch e.Code {
	case 40029, 40163, 41008, 42003:
		s = ErrCodeRefused
	case 40001, 40003, 41001, 42001:
		s = ErrTokenInvalid
	}
	return s.Withf("%s", e.Message("en")).Wrap(e)
}
