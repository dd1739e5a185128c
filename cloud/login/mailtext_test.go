package login

import (
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/cloud/mail"
)

func TestMailText(t *testing.T) {
	link := "https://cloud.example.com/verify?token=abc"
	for _, tc := range []struct {
		name          string
		msg           mail.Message
		subject, last string
	}{
		{"verify en", VerificationMail("en", "a@example.com", link), "Verify your email address for clawfleet", "for 48 hours"},
		{"verify zh", VerificationMail("zh-CN", "a@example.com", link), "请验证您的 clawfleet 邮箱地址", "48 小时"},
		{"reset en", ResetMail("en-GB", "a@example.com", link), "Reset your clawfleet password", "works once, for one hour"},
		{"reset zh", ResetMail("zh", "a@example.com", link), "重置您的 clawfleet 密码", "1 小时"},
	} {
		m := tc.msg
		if m.To != "a@example.com" || m.Subject != tc.subject || !strings.Contains(m.Text, "\n"+link+"\n") || !strings.Contains(m.Text, tc.last) {
			t.Errorf("%s: %+v", tc.name, m)
		}
	}
}
