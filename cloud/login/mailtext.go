package login

import (
	"fmt"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/mail"
)

// linkText is a mail that carries a one-time link, in one language.
type linkText struct {
	subject, greeting, ask string
	once                   string // formatted with how long the link works
	ignore                 string
}

// linkTexts are the mails of each purpose, in English and Chinese.
var linkTexts = map[Purpose][2]linkText{
	VerifyEmail: {
		{subject: "Verify your email address for clawfleet", greeting: "Hello,",
			ask:    "Open this link to confirm that this address is yours:",
			once:   "The link works once, for %s.",
			ignore: "If you did not sign up for clawfleet, ignore this mail."},
		{subject: "请验证您的 clawfleet 邮箱地址", greeting: "您好！",
			ask:    "请打开下面的链接，确认这个邮箱地址属于您：",
			once:   "链接在 %s 内有效，且只能使用一次。",
			ignore: "如果您没有注册 clawfleet，请忽略这封邮件。"},
	},
	ResetPassword: {
		{subject: "Reset your clawfleet password", greeting: "Hello,",
			ask:    "Someone (hopefully you) asked to reset the password of this account. Open this link to choose a new one:",
			once:   "The link works once, for %s.",
			ignore: "If it was not you, ignore this mail: your password stays as it is."},
		{subject: "重置您的 clawfleet 密码", greeting: "您好！",
			ask:    "有人（希望是您）请求重置这个账户的密码。打开下面的链接设置新密码：",
			once:   "链接在 %s 内有效，且只能使用一次。",
			ignore: "如果不是您本人请求的，请忽略这封邮件，您的密码不会改变。"},
	},
}

// VerificationMail asks whoever reads address to to open link (the page
// that redeems a VerifyEmail token), in lang ("zh-CN" or English).
func VerificationMail(lang, to, link string) mail.Message {
	return linkMail(VerifyEmail, VerifyEmailTTL, lang, to, link)
}

// ResetMail carries link (the page that redeems a ResetPassword token), in
// lang.
func ResetMail(lang, to, link string) mail.Message {
	return linkMail(ResetPassword, ResetPasswordTTL, lang, to, link)
}

func linkMail(p Purpose, ttl time.Duration, lang, to, link string) mail.Message {
	t, d := linkTexts[p][0], enDuration(ttl)
	if isChinese(lang) {
		t, d = linkTexts[p][1], zhDuration(ttl)
	}
	text := strings.Join([]string{t.greeting, "", t.ask, "", link, "", fmt.Sprintf(t.once, d), t.ignore}, "\n") + "\n"
	return mail.Message{To: to, Subject: t.subject, Text: text}
}

func enDuration(d time.Duration) string {
	switch h := int(d.Hours()); {
	case h == 1:
		return "one hour"
	case h > 1:
		return fmt.Sprintf("%d hours", h)
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes()))
}

func zhDuration(d time.Duration) string {
	if h := int(d.Hours()); h >= 1 {
		return fmt.Sprintf("%d 小时", h)
	}
	return fmt.Sprintf("%d 分钟", int(d.Minutes()))
}
