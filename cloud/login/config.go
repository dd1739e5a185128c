package login

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// GoogleIssuer is Google's OIDC issuer.
const GoogleIssuer = "https://accounts.google.com"

// Config says which providers users may sign in with.
type Config struct {
	// PublicURL is the cloud's external base URL; each provider's callback
	// is <PublicURL>/auth/<name>/callback.
	PublicURL string
	// OIDC providers: CLAWFLEET_OIDC_* ("oidc"), then the providers file,
	// then CLAWFLEET_GOOGLE_* ("google").
	OIDC   []OIDCConfig
	GitHub GitHubConfig
	WeChat WeChatConfig
}

// OIDCConfig is one OpenID Connect provider.
type OIDCConfig struct {
	// Name is the provider's name in URLs and identities: lower-case
	// letters, digits and dashes.
	Name string `yaml:"name"`
	// DisplayName is its button's text.
	DisplayName string `yaml:"displayName"`
	// Issuer is its issuer URL; discovery reads
	// <Issuer>/.well-known/openid-configuration.
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"clientId"`
	ClientSecret string `yaml:"clientSecret"`
	// ClientSecretEnv names an environment variable holding the client
	// secret, to keep it out of the file.
	ClientSecretEnv string `yaml:"clientSecretEnv"`
	// Scopes asked for; DefaultOIDCScopes when empty. "openid" is required.
	Scopes []string `yaml:"scopes"`

	// where names the setting of each field for messages.
	where func(field string) string
}

func (c OIDCConfig) displayName() string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return c.Name
}

// GitHubConfig is a GitHub OAuth app (or GitHub App) to sign in with.
type GitHubConfig struct {
	ClientID, ClientSecret string
	// AuthURL, TokenURL and APIURL default to github.com's
	// (GitHubAuthURL, GitHubTokenURL, GitHubAPIURL); set them for GitHub
	// Enterprise Server.
	AuthURL, TokenURL, APIURL string
}

// Enabled reports whether any of it is set.
func (c GitHubConfig) Enabled() bool { return c.ClientID != "" || c.ClientSecret != "" }

// WeChatConfig is a WeChat Open Platform website application.
type WeChatConfig struct {
	AppID, AppSecret string
	// AuthURL and APIURL default to WeChat's (WeChatAuthURL, WeChatAPIURL).
	AuthURL, APIURL string
}

// Enabled reports whether any of it is set.
func (c WeChatConfig) Enabled() bool { return c.AppID != "" || c.AppSecret != "" }

// providersFile is the YAML file of more OIDC providers.
type providersFile struct {
	Providers []OIDCConfig `yaml:"providers"`
}

// LoadConfig reads the configuration from the environment (getenv) and the
// providers file CLAWFLEET_OIDC_PROVIDERS_FILE names, if any. It does not
// validate: call Validate.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{PublicURL: getenv("CLAWFLEET_PUBLIC_URL")}
	if env := envOIDC(getenv, "CLAWFLEET_OIDC", "oidc", ""); env != nil {
		env.DisplayName = firstOf(getenv("CLAWFLEET_OIDC_DISPLAY_NAME"), "Single sign-on")
		env.Scopes = strings.FieldsFunc(getenv("CLAWFLEET_OIDC_SCOPES"), func(r rune) bool { return r == ',' || r == ' ' })
		c.OIDC = append(c.OIDC, *env)
	}
	if path := getenv("CLAWFLEET_OIDC_PROVIDERS_FILE"); path != "" {
		ps, err := readProvidersFile(path, getenv)
		if err != nil {
			return Config{}, err
		}
		c.OIDC = append(c.OIDC, ps...)
	}
	if g := envOIDC(getenv, "CLAWFLEET_GOOGLE", "google", GoogleIssuer); g != nil {
		g.DisplayName = "Google"
		c.OIDC = append(c.OIDC, *g)
	}
	c.GitHub = GitHubConfig{ClientID: getenv("CLAWFLEET_GITHUB_CLIENT_ID"), ClientSecret: getenv("CLAWFLEET_GITHUB_CLIENT_SECRET")}
	if base := strings.TrimRight(getenv("CLAWFLEET_GITHUB_URL"), "/"); base != "" {
		// GitHub Enterprise Server: the OAuth pages and the REST API
		// under one base URL.
		c.GitHub.AuthURL, c.GitHub.TokenURL, c.GitHub.APIURL = base+"/login/oauth/authorize", base+"/login/oauth/access_token", base+"/api/v3"
	}
	c.WeChat = WeChatConfig{AppID: getenv("CLAWFLEET_WECHAT_APP_ID"), AppSecret: getenv("CLAWFLEET_WECHAT_APP_SECRET"),
		AuthURL: getenv("CLAWFLEET_WECHAT_AUTH_URL"), APIURL: getenv("CLAWFLEET_WECHAT_API_URL")}
	return c, nil
}

// envOIDC is the provider of <prefix>_ISSUER, _CLIENT_ID and
// _CLIENT_SECRET, or nil when none is set. A fixed issuer (Google's) is not
// read from the environment.
func envOIDC(getenv func(string) string, prefix, name, issuer string) *OIDCConfig {
	c := OIDCConfig{Name: name, Issuer: issuer, ClientID: getenv(prefix + "_CLIENT_ID"), ClientSecret: getenv(prefix + "_CLIENT_SECRET")}
	if issuer == "" {
		c.Issuer = getenv(prefix + "_ISSUER")
	}
	if c.ClientID == "" && c.ClientSecret == "" && (issuer != "" || c.Issuer == "") {
		return nil
	}
	envName := map[string]string{"issuer": "_ISSUER", "clientId": "_CLIENT_ID", "clientSecret": "_CLIENT_SECRET", "scopes": "_SCOPES"}
	c.where = func(field string) string {
		if field == "name" {
			return fmt.Sprintf("the name of the other one (%s_* is named %q)", prefix, name)
		}
		return prefix + envName[field]
	}
	return &c
}

func readProvidersFile(path string, getenv func(string) string) ([]OIDCConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("login: providers file (CLAWFLEET_OIDC_PROVIDERS_FILE): %w", err)
	}
	var f providersFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("login: providers file %s: %w", path, err)
	}
	for i := range f.Providers {
		p := &f.Providers[i]
		if p.ClientSecret == "" && p.ClientSecretEnv != "" {
			p.ClientSecret = getenv(p.ClientSecretEnv)
		}
		n, at := i+1, p.Name
		p.where = func(field string) string {
			if field == "clientSecret" && p.ClientSecretEnv != "" {
				return fmt.Sprintf("the environment variable %s (clientSecretEnv of provider %d %q in %s)", p.ClientSecretEnv, n, at, path)
			}
			return fmt.Sprintf("%s of provider %d %q in %s", field, n, at, path)
		}
	}
	return f.Providers, nil
}

func (c OIDCConfig) at(field string) string {
	if c.where == nil {
		return fmt.Sprintf("%s of OIDC provider %q", field, c.Name)
	}
	return c.where(field)
}

var (
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	// reserved names stay free for local accounts' routes.
	reserved = map[string]bool{"local": true, "email": true, "password": true}
)

// Enabled reports whether any provider is configured.
func (c Config) Enabled() bool {
	return len(c.OIDC) > 0 || c.GitHub.Enabled() || c.WeChat.Enabled()
}

// Validate says what to change for the configuration to work, one line per
// problem.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("login: "+format, args...)) }
	if !c.Enabled() {
		return nil
	}
	if err := checkBaseURL(c.PublicURL); err != nil {
		add("CLAWFLEET_PUBLIC_URL %v: set it to the cloud's external URL (e.g. https://cloud.example.com); each provider's redirect URI is <public url>/auth/<provider>/callback", err)
	}
	seen := map[string]bool{}
	name := func(n, where string) {
		switch {
		case !nameRE.MatchString(n):
			add("provider name %q (%s) must be 1-32 lower-case letters, digits or dashes, starting with a letter", n, where)
		case reserved[n]:
			add("provider name %q (%s) is reserved for local accounts; choose another", n, where)
		case seen[n]:
			add("two providers are named %q; change %s", n, where)
		}
		seen[n] = true
	}
	// GitHub and WeChat keep their names; an OIDC provider must yield.
	if c.GitHub.Enabled() {
		name("github", "GitHub")
	}
	if c.WeChat.Enabled() {
		name("wechat", "WeChat")
	}
	for _, o := range c.OIDC {
		name(o.Name, o.at("name"))
		if o.Issuer == "" {
			add("set %s to the provider's issuer URL (what its /.well-known/openid-configuration calls \"issuer\")", o.at("issuer"))
		} else if err := checkBaseURL(o.Issuer); err != nil {
			add("%s %v", o.at("issuer"), err)
		}
		if o.ClientID == "" {
			add("set %s to the client id the provider gave this cloud", o.at("clientId"))
		}
		if o.ClientSecret == "" {
			add("set %s to the client secret the provider gave this cloud (a confidential client)", o.at("clientSecret"))
		}
		if len(o.Scopes) > 0 && !slices.Contains(o.Scopes, "openid") {
			add("%s must include \"openid\" (e.g. openid email profile)", o.at("scopes"))
		}
	}
	if c.GitHub.Enabled() {
		if c.GitHub.ClientID == "" || c.GitHub.ClientSecret == "" {
			add("set both CLAWFLEET_GITHUB_CLIENT_ID and CLAWFLEET_GITHUB_CLIENT_SECRET to the GitHub OAuth app's client id and a client secret (its authorization callback URL: %s)", c.RedirectURI("github"))
		}
		for _, u := range []string{c.GitHub.AuthURL, c.GitHub.TokenURL, c.GitHub.APIURL} {
			if err := checkOptionalURL(u); err != nil {
				add("GitHub endpoint %q %v", u, err)
			}
		}
	}
	if c.WeChat.Enabled() {
		if c.WeChat.AppID == "" || c.WeChat.AppSecret == "" {
			add("set both CLAWFLEET_WECHAT_APP_ID and CLAWFLEET_WECHAT_APP_SECRET to the WeChat Open Platform website application's AppID and AppSecret (its authorized callback domain: the host of CLAWFLEET_PUBLIC_URL)")
		}
		for _, u := range []string{c.WeChat.AuthURL, c.WeChat.APIURL} {
			if err := checkOptionalURL(u); err != nil {
				add("WeChat endpoint %q %v", u, err)
			}
		}
	}
	return errors.Join(errs...)
}

// RedirectURI is the callback URL to register at provider name.
func (c Config) RedirectURI(name string) string {
	return strings.TrimSuffix(c.PublicURL, "/") + "/auth/" + name + "/callback"
}

// Providers validates c and makes its providers, in the order of their
// buttons: the OIDC ones, GitHub, WeChat. client is what they reach their
// servers with (nil: DefaultHTTPClient).
func (c Config) Providers(client *http.Client) ([]Provider, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		client = DefaultHTTPClient()
	}
	var ps []Provider
	for _, o := range c.OIDC {
		ps = append(ps, NewOIDC(o, c.RedirectURI(o.Name), client))
	}
	if c.GitHub.Enabled() {
		ps = append(ps, NewGitHub(c.GitHub, c.RedirectURI("github"), client))
	}
	if c.WeChat.Enabled() {
		ps = append(ps, NewWeChat(c.WeChat, c.RedirectURI("wechat"), client))
	}
	return ps, nil
}

// checkBaseURL accepts an absolute https URL (http only to a loopback host)
// without query or fragment.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("is empty")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return errors.New("is not an absolute http(s) URL")
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return errors.New("must use https (plain http only to localhost or a loopback address)")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("must have no query, fragment or user info")
	}
	return nil
}

func checkOptionalURL(s string) error {
	if s == "" {
		return nil
	}
	return checkBaseURL(s)
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
