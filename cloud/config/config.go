// Package config loads the cloud's settings: documented defaults, then an
// optional YAML file, then CLAWFLEET_* environment variables, then flags
// (each later source wins).
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/cloud/sso"
	"go.yaml.in/yaml/v3"
)

// Config is every cloud setting. The comment of each field is its help text;
// the `default` tag is the documented default.
type Config struct {
	HTTPAddr     string `yaml:"httpAddr" env:"CLAWFLEET_HTTP_ADDR" flag:"http-addr" default:":8080" help:"HTTP listen address (API, dashboard, metrics)"`
	MQTTAddr     string `yaml:"mqttAddr" env:"CLAWFLEET_MQTT_ADDR" flag:"mqtt-addr" default:":1883" help:"MQTT listen address for agents; empty disables plain MQTT"`
	MQTTTLSAddr  string `yaml:"mqttTlsAddr" env:"CLAWFLEET_MQTT_TLS_ADDR" flag:"mqtt-tls-addr" default:":8883" help:"MQTT over TLS listen address, used when a certificate is set"`
	TLSCert      string `yaml:"tlsCert" env:"CLAWFLEET_TLS_CERT" flag:"tls-cert" help:"PEM certificate file (chain) for HTTPS and MQTT over TLS, e.g. a wildcard for <domain> and *.<domain>; re-read when it changes (checked every 30s, or on SIGHUP)"`
	TLSKey       string `yaml:"tlsKey" env:"CLAWFLEET_TLS_KEY" flag:"tls-key" help:"PEM private key file of the certificate"`
	HTTPSAddr    string `yaml:"httpsAddr" env:"CLAWFLEET_HTTPS_ADDR" flag:"https-addr" default:":8443" help:"HTTPS listen address (API, dashboard and tenant subdomains, HTTP/1.1), used when a certificate is set; empty disables it"`
	DataDir      string `yaml:"dataDir" env:"CLAWFLEET_DATA_DIR" flag:"data-dir" default:"./data" help:"directory for the SQLite database and generated secrets"`
	Domain       string `yaml:"domain" env:"CLAWFLEET_DOMAIN" flag:"domain" default:"localhost" help:"base domain; tenants are served at <slug>.<domain>"`
	DatabaseURL  string `yaml:"databaseUrl" env:"CLAWFLEET_DATABASE_URL" flag:"database-url" help:"empty = SQLite in the data dir; postgres://... = PostgreSQL"`
	AdminToken   string `yaml:"adminToken" env:"CLAWFLEET_ADMIN_TOKEN" flag:"admin-token" help:"admin bearer token; when unset one is generated at first start, printed once, and only its hash is kept in the data dir"`
	PublicURL    string `yaml:"publicUrl" env:"CLAWFLEET_PUBLIC_URL" flag:"public-url" help:"the cloud's external base URL (e.g. https://cloud.example.com); empty = taken from each request"`
	DownloadsDir string `yaml:"downloadsDir" env:"CLAWFLEET_DOWNLOADS_DIR" flag:"downloads-dir" default:"./dist" help:"directory of the agent binaries and packages served at /downloads/ beside /install.sh (make cross and make deb write them to dist/); served as they are, SHA256SUMS computed"`
	MQTTURL      string `yaml:"mqttPublicUrl" env:"CLAWFLEET_MQTT_PUBLIC_URL" flag:"mqtt-public-url" help:"broker URL written into new device credentials (e.g. ssl://mqtt.example.com:8883); empty = request host + MQTT port"`

	HeartbeatInterval time.Duration `yaml:"heartbeatInterval" env:"CLAWFLEET_HEARTBEAT_INTERVAL" flag:"heartbeat-interval" default:"5s" help:"heartbeat interval pushed to agents (an admin can change it at run time)"`
	MissedHeartbeats  int           `yaml:"missedHeartbeats" env:"CLAWFLEET_MISSED_HEARTBEATS" flag:"missed-heartbeats" default:"3" help:"missed heartbeats after which a host is offline"`
	FlushInterval     time.Duration `yaml:"heartbeatFlushInterval" env:"CLAWFLEET_HEARTBEAT_FLUSH_INTERVAL" flag:"heartbeat-flush-interval" default:"1s" help:"how often buffered heartbeats are written to the store"`
	PersistEvery      time.Duration `yaml:"heartbeatPersistEvery" env:"CLAWFLEET_HEARTBEAT_PERSIST_EVERY" flag:"heartbeat-persist-every" default:"30s" help:"how often an online host's last heartbeat and metrics are written to the store at most (a change of status is written at the next flush; the API shows live values from memory); 0 = every heartbeat"`

	MQTTMaxPacket  int     `yaml:"mqttMaxPacket" env:"CLAWFLEET_MQTT_MAX_PACKET" flag:"mqtt-max-packet" default:"262144" help:"largest MQTT packet accepted, bytes"`
	MQTTIPRate     float64 `yaml:"mqttIpRate" env:"CLAWFLEET_MQTT_IP_RATE" flag:"mqtt-ip-rate" default:"50" help:"MQTT connection attempts per second allowed per source IP"`
	MQTTIPBurst    int     `yaml:"mqttIpBurst" env:"CLAWFLEET_MQTT_IP_BURST" flag:"mqtt-ip-burst" default:"200" help:"burst of MQTT connection attempts per source IP"`
	MQTTClientRate float64 `yaml:"mqttClientRate" env:"CLAWFLEET_MQTT_CLIENT_RATE" flag:"mqtt-client-rate" default:"1" help:"MQTT connection attempts per second allowed per client ID"`

	SharedSecret   string        `yaml:"sharedSecret" env:"CLAWFLEET_SHARED_SECRET" flag:"shared-secret" help:"secret the SSO web app sends as X-Shared-Secret on /api/tenants calls (at least 16 characters); when unset, one is generated at first start, printed once, and only its hash is kept in the data dir (unless an SSO is trusted: then its tokens are the way in); off = no shared secret"`
	SSOIssuer      string        `yaml:"ssoIssuer" env:"CLAWFLEET_SSO_ISSUER" flag:"sso-issuer" help:"issuer (\"iss\") of the SSO's JSON Web Tokens; with a key source below, the user API and tenant subdomains also accept Authorization: Bearer <JWT>"`
	SSOAudience    string        `yaml:"ssoAudience" env:"CLAWFLEET_SSO_AUDIENCE" flag:"sso-audience" help:"audience (\"aud\") the SSO's tokens must name for this cloud"`
	SSOJWKSURL     string        `yaml:"ssoJwksUrl" env:"CLAWFLEET_SSO_JWKS_URL" flag:"sso-jwks-url" help:"the SSO's key set (https; http only to loopback), fetched when needed and refreshed hourly or when a token names an unknown key"`
	SSOKeyFile     string        `yaml:"ssoKeyFile" env:"CLAWFLEET_SSO_KEY_FILE" flag:"sso-key-file" help:"a PEM public key (RSA >= 2048 bits, ECDSA, Ed25519) or a JWKS file the SSO signs tokens with"`
	SSOHMACSecret  string        `yaml:"ssoHmacSecret" env:"CLAWFLEET_SSO_HMAC_SECRET" flag:"sso-hmac-secret" help:"shared secret (at least 32 bytes) when the SSO signs tokens with HS256/384/512"`
	SSOUserClaim   string        `yaml:"ssoUserClaim" env:"CLAWFLEET_SSO_USER_CLAIM" flag:"sso-user-claim" default:"sub" help:"claim holding the user id (what X-User-ID carries on shared-secret calls)"`
	SSOEmailClaim  string        `yaml:"ssoEmailClaim" env:"CLAWFLEET_SSO_EMAIL_CLAIM" flag:"sso-email-claim" default:"email" help:"claim holding the user's email (optional in tokens)"`
	AccessLinkTTL  time.Duration `yaml:"accessLinkTtl" env:"CLAWFLEET_ACCESS_LINK_TTL" flag:"access-link-ttl" default:"60s" help:"how long a one-time link into a tenant's gateway stays valid (10s to 10m)"`
	SessionTTL     time.Duration `yaml:"sessionTtl" env:"CLAWFLEET_SESSION_TTL" flag:"session-ttl" default:"12h" help:"how long the session cookie a link sets is valid (5m to 720h); DELETE /api/tenants/me/sessions ends them sooner"`
	SecretKey      string        `yaml:"secretKey" env:"CLAWFLEET_SECRET_KEY" flag:"secret-key" help:"base64 of 32 random bytes sealing tenants' gateway tokens (AES-256-GCM); empty = generated once into <data dir>/secret.key"`
	PlansFile      string        `yaml:"plansFile" env:"CLAWFLEET_PLANS_FILE" flag:"plans-file" help:"YAML file replacing the built-in plans (free, basic, pro, enterprise)"`
	BoxPlan        string        `yaml:"boxPlan" env:"CLAWFLEET_BOX_PLAN" flag:"box-plan" default:"free" help:"plan of the instance a claim creates on the owner's box"`
	Scheduler      string        `yaml:"scheduler" env:"CLAWFLEET_SCHEDULER" flag:"scheduler" default:"least-loaded" help:"tenant placement: least-loaded, bin-pack or spread"`
	CPUOvercommit  float64       `yaml:"cpuOvercommit" env:"CLAWFLEET_CPU_OVERCOMMIT" flag:"cpu-overcommit" default:"4" help:"tenant CPU a host may carry per CPU (memory is never overcommitted; 512MiB stay with the host)"`
	TenantPortBase int           `yaml:"tenantPortBase" env:"CLAWFLEET_TENANT_PORT_BASE" flag:"tenant-port-base" default:"20000" help:"lowest host port given to a tenant gateway"`
	TenantPortMax  int           `yaml:"tenantPortMax" env:"CLAWFLEET_TENANT_PORT_MAX" flag:"tenant-port-max" default:"32640" help:"highest host port given to a tenant gateway; keep the range below the kernel's ephemeral ports (net.ipv4.ip_local_port_range, 32768+ by default) so outgoing connections cannot take a gateway's port"`
	CommandTimeout time.Duration `yaml:"commandTimeout" env:"CLAWFLEET_COMMAND_TIMEOUT" flag:"command-timeout" default:"30s" help:"how long a host has to acknowledge a new desired state before the tenant shows an error"`

	// Sign-in of users (the providers are read by cloud/login from CLAWFLEET_OIDC_*, _GITHUB_*, _WECHAT_*, _GOOGLE_*; mail from CLAWFLEET_SMTP_*).
	LocalAccounts string `yaml:"localAccounts" env:"CLAWFLEET_LOCAL_ACCOUNTS" flag:"local-accounts" default:"on" help:"email and password accounts in the console: on or off (off only once a sign-in provider is configured)"`

	// An Auth.js web app's session tokens as SSO tokens: no issuer, audience or key source above needed.
	SSOAuthJSSecret string `yaml:"ssoAuthjsSecret" env:"CLAWFLEET_SSO_AUTHJS_SECRET" flag:"sso-authjs-secret" help:"AUTH_SECRET of an Auth.js (NextAuth) web app (at least 32 bytes; comma-separated while rotating): the user API and tenant subdomains then accept its session cookie's value as Authorization: Bearer <token>"`
	SSOAuthJSCookie string `yaml:"ssoAuthjsCookie" env:"CLAWFLEET_SSO_AUTHJS_COOKIE" flag:"sso-authjs-cookie" help:"name of that app's session cookie (the salt of its key); empty = Auth.js's defaults authjs.session-token and __Secure-authjs.session-token"`

	WGAddr               string `yaml:"wgAddr" env:"CLAWFLEET_WG_ADDR" flag:"wg-addr" default:":51820" help:"UDP address of the WireGuard hub (:port binds every address, ip:port that address alone); empty disables tunnels"`
	WGEndpoint           string `yaml:"wgEndpoint" env:"CLAWFLEET_WG_ENDPOINT" flag:"wg-endpoint" help:"host:port agents send WireGuard packets to; empty = the public URL's (or MQTT public URL's) host, else 127.0.0.1, with the hub's port"`
	WGMode               string `yaml:"wgMode" env:"CLAWFLEET_WG_MODE" flag:"wg-mode" default:"userspace" help:"WireGuard hub: userspace (wireguard-go on a netstack, no root), kernel (the wireguard module, root) or tun (wireguard-go on a TUN interface, root)"`
	WGPrefix             string `yaml:"wgPrefix" env:"CLAWFLEET_WG_PREFIX" flag:"wg-prefix" default:"100.96.0.0/16" help:"tunnel address pool; the hub takes its first address, each host one address that is never handed out again"`
	InternalUpstreamAddr string `yaml:"internalUpstreamAddr" env:"CLAWFLEET_INTERNAL_UPSTREAM_ADDR" flag:"internal-upstream-addr" default:"127.0.0.1:8081" help:"listener nginx proxies tenant requests to after /api/internal/route allowed them (docs/nginx/clawfleet.conf); empty disables the nginx path"`
	InternalAllow        string `yaml:"internalAllow" env:"CLAWFLEET_INTERNAL_ALLOW" flag:"internal-allow" default:"127.0.0.0/8,::1/128" help:"comma-separated addresses or CIDR prefixes allowed to call /api/internal/route and the internal upstream (nginx's)"`

	TrustedProxies string `yaml:"trustedProxies" env:"CLAWFLEET_TRUSTED_PROXIES" flag:"trusted-proxies" help:"comma-separated addresses or CIDR prefixes of front proxies (a load balancer) whose X-Forwarded-For names the client, for rate limits and the address tenants' gateways see; empty = the TCP peer is the client"`

	HTTPBodyTimeout        time.Duration `yaml:"httpBodyTimeout" env:"CLAWFLEET_HTTP_BODY_TIMEOUT" flag:"http-body-timeout" default:"30s" help:"how long a request body may take to arrive on the HTTP(S) listeners, plus a second per 16 KiB received (so uploads at 128 kbit/s or faster are never cut); a slower body is cut and its connection closed. Headers have 10s; responses (log streams, WebSockets) are not limited"`
	HTTPMaxConnsPerAddr    int           `yaml:"httpMaxConnsPerAddr" env:"CLAWFLEET_HTTP_MAX_CONNS_PER_ADDR" flag:"http-max-conns-per-addr" default:"256" help:"connections one client address may hold open on the public HTTP(S) listeners (API, dashboard, tenant subdomains); more are closed at once. Trusted proxies are not limited; 0 = no limit"`
	MaxStreamsPerUser      int           `yaml:"maxStreamsPerUser" env:"CLAWFLEET_MAX_STREAMS_PER_USER" flag:"max-streams-per-user" default:"4" help:"followed log streams (logs?follow=1) one user may hold open; one more is answered 429 too_many_streams. 0 = no limit"`
	MaxWebSocketsPerTenant int           `yaml:"maxWebSocketsPerTenant" env:"CLAWFLEET_MAX_WEBSOCKETS_PER_TENANT" flag:"max-websockets-per-tenant" default:"32" help:"WebSockets one tenant's gateway may have open through the router at once (its Control UI opens one per tab); one more is answered 429 too_many_connections. 0 = no limit"`
	MaxStreamsPerAddr      int           `yaml:"maxStreamsPerAddr" env:"CLAWFLEET_MAX_STREAMS_PER_ADDR" flag:"max-streams-per-addr" default:"32" help:"followed log streams one client address may hold open, over all its users (calls with the shared secret, from the web app, count per user only); 0 = no limit"`

	LocalAgent string        `yaml:"localAgent" env:"CLAWFLEET_LOCAL_AGENT" flag:"local-agent" help:"path of a clawfleet-agent binary to run beside the cloud as a local host (make run uses it)"`
	PprofAddr  string        `yaml:"pprofAddr" env:"CLAWFLEET_PPROF_ADDR" flag:"pprof-addr" help:"serve Go's /debug/pprof on this address (e.g. 127.0.0.1:6060); empty = off. Never expose it publicly"`
	GCInterval time.Duration `yaml:"gcInterval" env:"CLAWFLEET_GC_INTERVAL" flag:"gc-interval" default:"2s" help:"run Go's garbage collector at least this often (0 = only when the runtime decides): each MQTT connection's read stack grows to 32 KiB for every packet and shrinks back only at a collection, so with many agents a collection within every heartbeat interval keeps the memory down (docs/benchmarks.md). GOGC and GOMEMLIMIT work as for any Go program"`
	LogLevel   string        `yaml:"logLevel" env:"CLAWFLEET_LOG_LEVEL" flag:"log-level" default:"info" help:"debug, info, warn or error"`
	LogFormat  string        `yaml:"logFormat" env:"CLAWFLEET_LOG_FORMAT" flag:"log-format" default:"text" help:"text or json"`
}

// SharedSecretOff as the shared secret turns shared-secret calls off.
const SharedSecretOff = "off"

// Load builds the configuration from defaults, the YAML file named by
// --config or CLAWFLEET_CONFIG, the environment and the flags in args.
func Load(args []string, getenv func(string) string) (*Config, error) {
	cfg := &Config{}
	if err := each(cfg, func(f field) error { return f.set(f.def) }); err != nil {
		return nil, err
	}
	path := getenv("CLAWFLEET_CONFIG")
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			path = v
		} else if (a == "--config" || a == "-config") && i+1 < len(args) {
			path = args[i+1]
		}
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := each(cfg, func(f field) error {
		if v := getenv(f.env); v != "" {
			if err := f.set(v); err != nil {
				return fmt.Errorf("environment %s: %w", f.env, err)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet("clawfleet-cloud", flag.ContinueOnError)
	fs.String("config", path, "YAML config file (env CLAWFLEET_CONFIG)")
	_ = each(cfg, func(f field) error {
		fs.Var(f, f.flag, f.help+" (env "+f.env+")")
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, cfg.Validate()
}

// Validate checks the settings and says what to change.
func (c *Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("http-addr is empty: set CLAWFLEET_HTTP_ADDR, e.g. :8080"))
	}
	for name, a := range map[string]string{"http-addr": c.HTTPAddr, "mqtt-addr": c.MQTTAddr, "mqtt-tls-addr": c.MQTTTLSAddr,
		"https-addr": c.HTTPSAddr, "internal-upstream-addr": c.InternalUpstreamAddr} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port (e.g. :8080 or 127.0.0.1:8080)", name, a))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key must be set together"))
	}
	if _, err := c.InternalAllowPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if c.MQTTAddr == "" && c.TLSCert == "" {
		errs = append(errs, errors.New("no MQTT listener: set mqtt-addr or a TLS certificate"))
	}
	if c.HeartbeatInterval < time.Second || c.HeartbeatInterval > 10*time.Minute || c.HeartbeatInterval%time.Second != 0 {
		errs = append(errs, fmt.Errorf("heartbeat-interval %s: use whole seconds between 1s and 10m", c.HeartbeatInterval))
	}
	if c.MissedHeartbeats < 1 {
		errs = append(errs, errors.New("missed-heartbeats must be at least 1"))
	}
	if c.GCInterval < 0 || (c.GCInterval > 0 && c.GCInterval < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("gc-interval %s: use 0 (off) or 100ms and more", c.GCInterval))
	}
	if c.FlushInterval < 10*time.Millisecond || c.FlushInterval > time.Minute {
		errs = append(errs, fmt.Errorf("heartbeat-flush-interval %s: use between 10ms and 1m", c.FlushInterval))
	}
	if c.PersistEvery < 0 || c.PersistEvery > 10*time.Minute {
		errs = append(errs, fmt.Errorf("heartbeat-persist-every %s: use between 0 (every heartbeat) and 10m", c.PersistEvery))
	}
	if c.Domain == "" || strings.ContainsAny(c.Domain, "/: ") {
		errs = append(errs, fmt.Errorf("domain %q: give a bare DNS name such as example.com", c.Domain))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q: use debug, info, warn or error", c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: use text or json", c.LogFormat))
	}
	switch c.WGMode {
	case "userspace", "kernel", "tun":
	default:
		errs = append(errs, fmt.Errorf("wg-mode %q: use userspace, kernel or tun", c.WGMode))
	}
	if c.MQTTMaxPacket < 1024 {
		errs = append(errs, errors.New("mqtt-max-packet must be at least 1024"))
	}
	if c.SharedSecret != "" && c.SharedSecret != SharedSecretOff && len(c.SharedSecret) < 16 {
		errs = append(errs, errors.New("shared-secret is shorter than 16 characters: choose a longer CLAWFLEET_SHARED_SECRET"))
	}
	if c.AccessLinkTTL < 10*time.Second || c.AccessLinkTTL > 10*time.Minute {
		errs = append(errs, fmt.Errorf("access-link-ttl %s: use between 10s and 10m", c.AccessLinkTTL))
	}
	if c.SessionTTL < 5*time.Minute || c.SessionTTL > 720*time.Hour {
		errs = append(errs, fmt.Errorf("session-ttl %s: use between 5m and 720h", c.SessionTTL))
	}
	if c.LocalAccounts != "on" && c.LocalAccounts != "off" {
		errs = append(errs, fmt.Errorf("local-accounts %q: use on or off", c.LocalAccounts))
	}
	if err := c.SSO().Check(); err != nil {
		errs = append(errs, err)
	}
	switch c.Scheduler {
	case "least-loaded", "bin-pack", "spread":
	default:
		errs = append(errs, fmt.Errorf("scheduler %q: use least-loaded, bin-pack or spread", c.Scheduler))
	}
	if c.CPUOvercommit < 1 || c.CPUOvercommit > 64 {
		errs = append(errs, fmt.Errorf("cpu-overcommit %g: use between 1 and 64", c.CPUOvercommit))
	}
	if c.TenantPortBase < 1024 || c.TenantPortMax > 65415 || c.TenantPortBase > c.TenantPortMax {
		errs = append(errs, fmt.Errorf("tenant ports %d-%d: use 1024 <= tenant-port-base <= tenant-port-max <= 65415", c.TenantPortBase, c.TenantPortMax))
	}
	if c.HTTPBodyTimeout < time.Second || c.HTTPBodyTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("http-body-timeout %s: use between 1s and 10m", c.HTTPBodyTimeout))
	}
	if c.HTTPMaxConnsPerAddr < 0 || c.MaxStreamsPerUser < 0 || c.MaxStreamsPerAddr < 0 || c.MaxWebSocketsPerTenant < 0 {
		errs = append(errs, errors.New("http-max-conns-per-addr, max-streams-per-user, max-streams-per-addr and max-websockets-per-tenant must be 0 (no limit) or more"))
	}
	if c.CommandTimeout < time.Second || c.CommandTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("command-timeout %s: use between 1s and 10m", c.CommandTimeout))
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("data-dir is empty: set CLAWFLEET_DATA_DIR"))
	}
	return errors.Join(errs...)
}

// InternalAllowPrefixes parses InternalAllow: addresses (a single-address
// prefix) or CIDR prefixes, comma-separated.
func (c *Config) InternalAllowPrefixes() ([]netip.Prefix, error) {
	out, err := parsePrefixes("internal-allow", c.InternalAllow)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 && c.InternalUpstreamAddr != "" {
		return nil, errors.New("internal-allow is empty: name nginx's address (default 127.0.0.0/8,::1/128)")
	}
	return out, nil
}

// TrustedProxyPrefixes parses TrustedProxies like InternalAllow.
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("trusted-proxies", c.TrustedProxies)
}

// parsePrefixes reads comma-separated addresses (a single-address prefix)
// or CIDR prefixes; setting names the setting in errors.
func parsePrefixes(setting, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%s %q: give addresses or CIDR prefixes such as 127.0.0.1 or 10.0.0.0/8", setting, part)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// field is one Config field seen through its tags; it implements flag.Value.
type field struct {
	v                    reflect.Value
	env, flag, def, help string
}

func each(cfg *Config, fn func(field) error) error {
	rv := reflect.ValueOf(cfg).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		sf := rt.Field(i)
		f := field{v: rv.Field(i), env: sf.Tag.Get("env"), flag: sf.Tag.Get("flag"), def: sf.Tag.Get("default"), help: sf.Tag.Get("help")}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (f field) String() string {
	if !f.v.IsValid() {
		return ""
	}
	if d, ok := f.v.Interface().(time.Duration); ok {
		return d.String()
	}
	return fmt.Sprint(f.v.Interface())
}

func (f field) set(s string) error {
	switch f.v.Interface().(type) {
	case string:
		f.v.SetString(s)
	case time.Duration:
		if s == "" {
			f.v.SetInt(0)
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 5s or 1m", s)
		}
		f.v.SetInt(int64(d))
	case int:
		if s == "" {
			f.v.SetInt(0)
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.v.SetInt(int64(n))
	case float64:
		if s == "" {
			f.v.SetFloat(0)
			return nil
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.v.SetFloat(n)
	default:
		return fmt.Errorf("unsupported setting type %s", f.v.Type())
	}
	return nil
}

func (f field) Set(s string) error { return f.set(s) }

// Usage lists every setting with its flag, environment variable and default,
// for docs and --help.
func Usage() string {
	var b strings.Builder
	_ = each(&Config{}, func(f field) error {
		fmt.Fprintf(&b, "  --%-26s %-36s default %q\n      %s\n", f.flag, f.env, f.def, f.help)
		return nil
	})
	return b.String()
}

// SSO is the JWT verification part of the settings.
func (c *Config) SSO() sso.Config {
	return sso.Config{Issuer: c.SSOIssuer, Audience: c.SSOAudience, JWKSURL: c.SSOJWKSURL, KeyFile: c.SSOKeyFile,
		HMACSecret: c.SSOHMACSecret, AuthJSSecret: c.SSOAuthJSSecret, AuthJSCookie: c.SSOAuthJSCookie,
		UserClaim: c.SSOUserClaim, EmailClaim: c.SSOEmailClaim}
}
