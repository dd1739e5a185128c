package login

import (
	"errors"
	"strings"

	"github.com/clawfleet/clawfleet/cloud/apperr"
)

// isChinese reports whether lang (a language tag such as "zh-CN", "zh" or
// "zh-Hans") asks for Chinese.
func isChinese(lang string) bool {
	l := strings.ToLower(lang)
	return l == "zh" || strings.HasPrefix(l, "zh-") || strings.HasPrefix(l, "zh_")
}

// zhMessages are the Chinese texts of this package's error codes; the
// English ones are the sentinels' own.
var zhMessages = map[string]string{}

// sentinel makes an error sentinel with its English and Chinese texts.
func sentinel(kind apperr.Kind, code, en, zh string) *apperr.Error {
	zhMessages[code] = zh
	return apperr.New(kind, code, en)
}

// Describe is what to tell a person about err in lang ("zh-CN" or
// English): WeChat's errcodes in their own words, this package's errors by
// their code, anything else as a generic failure.
func Describe(err error, lang string) string {
	var we *WeChatError
	if errors.As(err, &we) {
		return we.Message(lang)
	}
	var pe *PolicyError
	if errors.As(err, &pe) {
		return pe.Message(lang)
	}
	zh := isChinese(lang)
	if e, ok := apperr.As(err); ok && e.Kind != apperr.Internal {
		if !zh {
			return e.Msg
		}
		if m, ok := zhMessages[e.Code]; ok {
			return m
		}
	}
	if zh {
		return "登录失败，请重试。"
	}
	return "the sign-in failed; try again"
}

// Localized is Describe for this package's errors only: false for an error
// that is none of them, so a caller can fall back to its own text.
func Localized(err error, lang string) (string, bool) {
	var we *WeChatError
	var pe *PolicyError
	if errors.As(err, &we) || errors.As(err, &pe) {
		return Describe(err, lang), true
	}
	if e, ok := apperr.As(err); ok && e.Kind != apperr.Internal {
		if _, ours := zhMessages[e.Code]; ours {
			return Describe(err, lang), true
		}
	}
	return "", false
}
