package login

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/apperr"
)

func TestDescribe(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		en, zh string
	}{
		{"sentinel", ErrFlowExpired, "the sign-in took too long; start it again", "登录用时过长，请重新登录。"},
		{"wrapped sentinel", fmt.Errorf("callback: %w", ErrFlowUsed.Wrap(errors.New("x"))), ErrFlowUsed.Msg, zhMessages[ErrFlowUsed.Code]},
		{"English detail, Chinese by code", ErrProvider.Withf("the provider %q refused our client id", "corp"), `the provider "corp" refused our client id`, zhMessages[ErrProvider.Code]},
		{"WeChat errcode", (&WeChatError{Code: 40163, Msg: "code been used, rid: 1"}).sentinel(), "This WeChat sign-in code was already used; scan the QR code again.", "该微信登录授权码已被使用，请重新扫码。"},
		{"unknown WeChat errcode", (&WeChatError{Code: 99999, Msg: "odd"}).sentinel(), "WeChat refused the sign-in (errcode 99999: odd).", "微信拒绝了本次登录（错误码 99999：odd）。"},
		{"policy", DefaultPasswordPolicy.Check("short"), "Use at least 15 characters; a few words with spaces make a good password.", "密码至少需要 15 个字符；用空格连接几个词就是好密码。"},
		{"internal", apperr.New(apperr.Internal, "db", "the database said no"), "the sign-in failed; try again", "登录失败，请重试。"},
		{"plain", errors.New("boom"), "the sign-in failed; try again", "登录失败，请重试。"},
	} {
		if got := Describe(c.err, "en-US"); got != c.en {
			t.Errorf("%s en: %q, want %q", c.name, got, c.en)
		}
		for _, lang := range []string{"zh-CN", "zh", "zh_CN", "ZH-hans"} {
			if got := Describe(c.err, lang); got != c.zh {
				t.Errorf("%s %s: %q, want %q", c.name, lang, got, c.zh)
			}
		}
	}
	// Every sentinel has its Chinese text.
	for _, s := range []*apperr.Error{ErrUnknownProvider, ErrFlowInvalid, ErrFlowExpired, ErrFlowUsed, ErrDenied, ErrCodeRefused, ErrTokenInvalid,
		ErrProvider, ErrBusy, ErrReturnTo, ErrWrongPassword, ErrTooManyAttempts, ErrWeakPassword, ErrTokenUnknown} {
		if zhMessages[s.Code] == "" {
			t.Errorf("%s has no Chinese text", s.Code)
		}
	}
	// Every WeChat errcode a sign-in meets has both texts, and they differ.
	for code, m := range wechatMessages {
		if m[0] == "" || m[1] == "" || m[0] == m[1] {
			t.Errorf("errcode %d: %q", code, m)
		}
	}
}

func TestLocalized(t *testing.T) {
	if m, ok := Localized(ErrFlowExpired, "zh-CN"); !ok || m != "登录用时过长，请重新登录。" {
		t.Fatalf("Localized(ErrFlowExpired) = %q, %v", m, ok)
	}
	if m, ok := Localized(ErrWeakPassword.Wrap(&PolicyError{Rule: "too_short", N: 15}), "en"); !ok || !strings.Contains(m, "15") {
		t.Fatalf("Localized(policy) = %q, %v", m, ok)
	}
	if _, ok := Localized(apperr.New(apperr.Invalid, "other", "another package's"), "zh-CN"); ok {
		t.Fatal("another package's error was localized")
	}
}
