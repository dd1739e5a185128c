package login_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/login/logintest"
)

func newWeChatCloud(t *testing.T) (*logintest.WeChat, *cloud) {
	wx := logintest.NewWeChat(t)
	c := newCloud(t, func(pub string) []login.Provider {
		return providersOf(t, login.Config{PublicURL: pub, WeChat: wx.Config()})
	})
	return wx, c
}

func TestWeChatAuthURL(t *testing.T) {
	wx, c := newWeChatCloud(t)
	authURL, _, err := c.signIn.Start(context.Background(), "wechat", "/")
	if err != nil {
		t.Fatal(err)
	}
	state := c.flows.saved[0].State
	want := wx.URL + "/connect/qrconnect?appid=" + wx.AppID + "&redirect_uri=" + url.QueryEscape(c.srv.URL+"/auth/wechat/callback") +
		"&response_type=code&scope=snsapi_login&state=" + state + "#wechat_redirect"
	if authURL != want {
		t.Fatalf("auth URL\n %s\nwant\n %s", authURL, want)
	}
}

func TestWeChatSignIn(t *testing.T) {
	wx, c := newWeChatCloud(t)
	for _, tc := range []struct {
		name string
		user logintest.WeChatUser
		want login.Identity
	}{
		{name: "keyed on unionid", user: logintest.WeChatUser{OpenID: "o-app-1", UnionID: "u-everywhere", Nickname: "小龙虾", HeadImgURL: "http://thirdwx.qlogo.cn/mmopen/abc/132"},
			want: login.Identity{Subject: "u-everywhere", Name: "小龙虾", AvatarURL: "https://thirdwx.qlogo.cn/mmopen/abc/132"}},
		{name: "keyed on openid without unionid", user: logintest.WeChatUser{OpenID: "o-app-2", Nickname: "lobster"},
			want: login.Identity{Subject: "o-app-2", Name: "lobster"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wx.SignInAs(tc.user)
			r := c.signInOK(t, "wechat", "/console")
			want := tc.want
			want.Provider, want.Issuer = "wechat", wx.URL
			if r.Identity != want || r.ReturnTo != "/console" {
				t.Fatalf("signed in as %+v on %q, want %+v", r.Identity, r.ReturnTo, want)
			}
			if r.Identity.Email != "" || r.Identity.EmailVerified {
				t.Fatal("WeChat gives no email")
			}
		})
	}
}

func TestWeChatErrors(t *testing.T) {
	wx, c := newWeChatCloud(t)
	ctx := context.Background()
	// finish signs in up to the callback, lets change alter the callback
	// (or the server), and finishes directly.
	finish := func(t *testing.T, p login.Provider, change func(q url.Values)) error {
		t.Helper()
		authURL, value, err := c.signIn.Start(ctx, "wechat", "/")
		if err != nil {
			t.Fatal(err)
		}
		f := c.flows.saved[len(c.flows.saved)-1]
		q := logintest.Follow(t, authURL).Query()
		if change != nil {
			change(q)
		}
		if p != nil {
			_, err = p.Finish(ctx, f, q.Get("code"))
			return err
		}
		_, _, err = c.signIn.Finish(ctx, "wechat", value, q)
		return err
	}
	redirect := c.srv.URL + "/auth/wechat/callback"
	wrongApp, wrongSecret := wx.Config(), wx.Config()
	wrongApp.AppID, wrongSecret.AppSecret = "wx-unknown", "not-the-secret"

	for _, tc := range []struct {
		name     string
		provider login.Provider
		change   func(q url.Values)
		sentinel error
		errcode  int
	}{
		{name: "invalid code", change: func(q url.Values) { q.Set("code", "forged-code") }, sentinel: login.ErrCodeRefused, errcode: 40029},
		{name: "code expired", change: func(url.Values) { wx.ExpireCodes() }, sentinel: login.ErrCodeRefused, errcode: 42003},
		{name: "missing code", provider: login.NewWeChat(wx.Config(), redirect, nil), change: func(q url.Values) { q.Del("code") }, sentinel: login.ErrCodeRefused, errcode: 41008},
		{name: "invalid appid", provider: login.NewWeChat(wrongApp, redirect, nil), sentinel: login.ErrProvider, errcode: 40013},
		{name: "invalid appsecret", provider: login.NewWeChat(wrongSecret, redirect, nil), sentinel: login.ErrProvider, errcode: 40125},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := finish(t, tc.provider, tc.change)
			var we *login.WeChatError
			if !errors.Is(err, tc.sentinel) || !errors.As(err, &we) || we.Code != tc.errcode {
				t.Fatalf("%v; want %v with errcode %d", err, tc.sentinel, tc.errcode)
			}
			en, zh := login.Describe(err, "en"), login.Describe(err, "zh-CN")
			if en == zh || strings.Contains(en, "rid:") || !strings.Contains(zh, "微信") {
				t.Fatalf("messages: en %q, zh %q", en, zh)
			}
		})
	}
}
