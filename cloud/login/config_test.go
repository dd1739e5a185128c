package login

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "providers.yaml")
	if err := os.WriteFile(file, []byte(`providers:
  - name: keycloak
    displayName: Company SSO
    issuer: https://sso.example.com/realms/main
    clientId: clawfleet
    clientSecretEnv: KEYCLOAK_SECRET
    scopes: [openid, email]
  - name: dex
    issuer: http://127.0.0.1:5556/dex
    clientId: cf
    clientSecret: s3cret
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(envOf(map[string]string{
		"CLAWFLEET_PUBLIC_URL":           "https://cloud.example.com/",
		"CLAWFLEET_OIDC_ISSUER":          "https://casdoor.example.com",
		"CLAWFLEET_OIDC_CLIENT_ID":       "cid",
		"CLAWFLEET_OIDC_CLIENT_SECRET":   "csecret",
		"CLAWFLEET_OIDC_SCOPES":          "openid,email profile",
		"CLAWFLEET_OIDC_PROVIDERS_FILE":  file,
		"KEYCLOAK_SECRET":                "from-env",
		"CLAWFLEET_GOOGLE_CLIENT_ID":     "gid.apps.googleusercontent.com",
		"CLAWFLEET_GOOGLE_CLIENT_SECRET": "gsecret",
		"CLAWFLEET_GITHUB_CLIENT_ID":     "ghid",
		"CLAWFLEET_GITHUB_CLIENT_SECRET": "ghsecret",
		"CLAWFLEET_WECHAT_APP_ID":        "wx123",
		"CLAWFLEET_WECHAT_APP_SECRET":    "wxsecret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	type brief struct{ name, display, issuer, id, secret, scopes string }
	var got []brief
	for _, o := range c.OIDC {
		got = append(got, brief{o.Name, o.displayName(), o.Issuer, o.ClientID, o.ClientSecret, strings.Join(o.Scopes, " ")})
	}
	want := []brief{
		{"oidc", "Single sign-on", "https://casdoor.example.com", "cid", "csecret", "openid email profile"},
		{"keycloak", "Company SSO", "https://sso.example.com/realms/main", "clawfleet", "from-env", "openid email"},
		{"dex", "dex", "http://127.0.0.1:5556/dex", "cf", "s3cret", ""},
		{"google", "Google", GoogleIssuer, "gid.apps.googleusercontent.com", "gsecret", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("OIDC providers %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("provider %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if c.GitHub.ClientID != "ghid" || c.WeChat.AppSecret != "wxsecret" {
		t.Errorf("GitHub %+v, WeChat %+v", c.GitHub, c.WeChat)
	}
	if got := c.RedirectURI("github"); got != "https://cloud.example.com/auth/github/callback" {
		t.Errorf("redirect URI %q", got)
	}
	ps, err := c.Providers(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	if strings.Join(names, ",") != "oidc,keycloak,dex,google,github,wechat" {
		t.Errorf("providers in order %v", names)
	}
}

func TestLoadConfigNothing(t *testing.T) {
	c, err := LoadConfig(envOf(nil))
	if err != nil || c.Enabled() || c.Validate() != nil {
		t.Fatalf("empty environment: %+v, %v", c, err)
	}
	// A Google id without its secret is a provider to complain about, not
	// none at all.
	c, _ = LoadConfig(envOf(map[string]string{"CLAWFLEET_GOOGLE_CLIENT_ID": "x"}))
	if len(c.OIDC) != 1 || c.OIDC[0].Name != "google" {
		t.Fatalf("google id only: %+v", c.OIDC)
	}
}

func TestLoadConfigBadFile(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	_ = os.WriteFile(unknown, []byte("providers:\n  - name: x\n    issuerUrl: https://x\n"), 0o600)
	for _, path := range []string{filepath.Join(dir, "missing.yaml"), unknown} {
		if _, err := LoadConfig(envOf(map[string]string{"CLAWFLEET_OIDC_PROVIDERS_FILE": path})); err == nil {
			t.Errorf("providers file %s accepted", path)
		}
	}
}

func TestValidate(t *testing.T) {
	good := OIDCConfig{Name: "corp", Issuer: "https://sso.example.com", ClientID: "id", ClientSecret: "secret"}
	with := func(f func(*OIDCConfig)) OIDCConfig { o := good; f(&o); return o }
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // each must appear in the error
	}{
		{"no public URL", Config{OIDC: []OIDCConfig{good}}, []string{"CLAWFLEET_PUBLIC_URL is empty", "/auth/<provider>/callback"}},
		{"public URL over http", Config{PublicURL: "http://cloud.example.com", OIDC: []OIDCConfig{good}}, []string{"CLAWFLEET_PUBLIC_URL must use https"}},
		{"public URL relative", Config{PublicURL: "cloud.example.com", OIDC: []OIDCConfig{good}}, []string{"not an absolute http(s) URL"}},
		{"issuer over http", Config{PublicURL: "https://c", OIDC: []OIDCConfig{with(func(o *OIDCConfig) { o.Issuer = "http://sso.example.com" })}}, []string{"must use https"}},
		{"no issuer", Config{PublicURL: "https://c", OIDC: []OIDCConfig{with(func(o *OIDCConfig) { o.Issuer = "" })}}, []string{"issuer URL"}},
		{"no secret", Config{PublicURL: "https://c", OIDC: []OIDCConfig{with(func(o *OIDCConfig) { o.ClientSecret = "" })}}, []string{"client secret"}},
		{"no openid scope", Config{PublicURL: "https://c", OIDC: []OIDCConfig{with(func(o *OIDCConfig) { o.Scopes = []string{"email"} })}}, []string{`include "openid"`}},
		{"bad name", Config{PublicURL: "https://c", OIDC: []OIDCConfig{with(func(o *OIDCConfig) { o.Name = "Corp SSO" })}}, []string{"lower-case"}},
		{"reserved name", Config{PublicURL: "https://c", OIDC: []OIDCConfig{with(func(o *OIDCConfig) { o.Name = "local" })}}, []string{"reserved"}},
		{"duplicate name", Config{PublicURL: "https://c", OIDC: []OIDCConfig{good, good}}, []string{`two providers are named "corp"`}},
		{"oidc named github beside GitHub", Config{PublicURL: "https://c", OIDC: []OIDCConfig{with(func(o *OIDCConfig) { o.Name = "github" })}, GitHub: GitHubConfig{ClientID: "a", ClientSecret: "b"}}, []string{`two providers are named "github"`}},
		{"GitHub without secret", Config{PublicURL: "https://c", GitHub: GitHubConfig{ClientID: "a"}}, []string{"CLAWFLEET_GITHUB_CLIENT_SECRET", "https://c/auth/github/callback"}},
		{"WeChat without secret", Config{PublicURL: "https://c", WeChat: WeChatConfig{AppID: "wx1"}}, []string{"CLAWFLEET_WECHAT_APP_SECRET"}},
		{"GitHub endpoint over http", Config{PublicURL: "https://c", GitHub: GitHubConfig{ClientID: "a", ClientSecret: "b", APIURL: "http://ghe.example.com/api/v3"}}, []string{"must use https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, perr := tc.cfg.Providers(nil); perr == nil {
				t.Error("Providers built from an invalid configuration")
			}
		})
	}
}

func TestValidateNamesEnvVariables(t *testing.T) {
	c, _ := LoadConfig(envOf(map[string]string{"CLAWFLEET_PUBLIC_URL": "https://c", "CLAWFLEET_OIDC_ISSUER": "https://sso.example.com"}))
	err := c.Validate()
	for _, w := range []string{"CLAWFLEET_OIDC_CLIENT_ID", "CLAWFLEET_OIDC_CLIENT_SECRET"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %s", err, w)
		}
	}
	file := filepath.Join(t.TempDir(), "p.yaml")
	_ = os.WriteFile(file, []byte("providers:\n  - name: kc\n    issuer: https://kc.example.com\n    clientId: x\n    clientSecretEnv: KC_SECRET\n"), 0o600)
	c, _ = LoadConfig(envOf(map[string]string{"CLAWFLEET_PUBLIC_URL": "https://c", "CLAWFLEET_OIDC_PROVIDERS_FILE": file}))
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "KC_SECRET") || !strings.Contains(err.Error(), file) {
		t.Errorf("error %v does not name KC_SECRET in %s", err, file)
	}
}

func TestNewSignInRefusesDuplicateNames(t *testing.T) {
	flows, _ := NewSealedFlows(testSecret(1))
	a := NewOIDC(OIDCConfig{Name: "corp", Issuer: "https://a.example.com"}, "https://c/auth/corp/callback", nil)
	b := NewOIDC(OIDCConfig{Name: "corp", Issuer: "https://b.example.com"}, "https://c/auth/corp/callback", nil)
	if _, err := NewSignIn(flows, a, b); err == nil {
		t.Fatal("two providers with one name were accepted")
	}
}

func TestLoadConfigEndpoints(t *testing.T) {
	c, err := LoadConfig(envOf(map[string]string{
		"CLAWFLEET_GITHUB_CLIENT_ID": "id", "CLAWFLEET_GITHUB_CLIENT_SECRET": "s", "CLAWFLEET_GITHUB_URL": "https://github.example.com/",
		"CLAWFLEET_WECHAT_APP_ID": "wx", "CLAWFLEET_WECHAT_APP_SECRET": "s",
		"CLAWFLEET_WECHAT_AUTH_URL": "https://wx.example.com/connect/qrconnect", "CLAWFLEET_WECHAT_API_URL": "https://wxapi.example.com",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := GitHubConfig{ClientID: "id", ClientSecret: "s", AuthURL: "https://github.example.com/login/oauth/authorize",
		TokenURL: "https://github.example.com/login/oauth/access_token", APIURL: "https://github.example.com/api/v3"}
	if c.GitHub != want {
		t.Errorf("GitHub = %+v, want %+v", c.GitHub, want)
	}
	if c.WeChat.AuthURL != "https://wx.example.com/connect/qrconnect" || c.WeChat.APIURL != "https://wxapi.example.com" {
		t.Errorf("WeChat = %+v", c.WeChat)
	}
}
