package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "c.yaml")
	os.WriteFile(yml, []byte("httpAddr: \":9000\"\ndomain: yaml.example\nheartbeatInterval: 7s\nmqttIpRate: 5\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("nosuchkey: 1\n"), 0o600)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(*Config) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c *Config) bool {
			return c.HTTPAddr == ":8080" && c.MQTTAddr == ":1883" && c.DataDir == "./data" && c.Domain == "localhost" &&
				c.DatabaseURL == "" && c.HeartbeatInterval == 5*time.Second && c.MissedHeartbeats == 3
		}, ""},
		{"yaml", []string{"--config", yml}, nil, func(c *Config) bool {
			return c.HTTPAddr == ":9000" && c.Domain == "yaml.example" && c.HeartbeatInterval == 7*time.Second && c.MQTTIPRate == 5
		}, ""},
		{"env over yaml", []string{"--config=" + yml}, map[string]string{"CLAWFLEET_DOMAIN": "env.example", "CLAWFLEET_HTTP_ADDR": "127.0.0.1:1"}, func(c *Config) bool {
			return c.Domain == "env.example" && c.HTTPAddr == "127.0.0.1:1" && c.HeartbeatInterval == 7*time.Second
		}, ""},
		{"flag over env", []string{"--domain", "flag.example"}, map[string]string{"CLAWFLEET_DOMAIN": "env.example"}, func(c *Config) bool {
			return c.Domain == "flag.example"
		}, ""},
		{"config via env", nil, map[string]string{"CLAWFLEET_CONFIG": yml}, func(c *Config) bool { return c.Domain == "yaml.example" }, ""},
		{"unknown yaml key", []string{"--config", bad}, nil, nil, "nosuchkey"},
		{"bad duration env", nil, map[string]string{"CLAWFLEET_HEARTBEAT_INTERVAL": "soon"}, nil, "CLAWFLEET_HEARTBEAT_INTERVAL"},
		{"interval out of range", []string{"--heartbeat-interval", "500ms"}, nil, nil, "whole seconds"},
		{"bad addr", []string{"--http-addr", "8080"}, nil, nil, "host:port"},
		{"cert without key", []string{"--tls-cert", "x.pem"}, nil, nil, "together"},
		{"bad domain", []string{"--domain", "http://x"}, nil, nil, "bare DNS name"},
		{"stray argument", []string{"serve"}, nil, nil, "unexpected argument"},
		{"nginx path defaults", nil, nil, func(c *Config) bool {
			p, err := c.InternalAllowPrefixes()
			return err == nil && c.InternalUpstreamAddr == "127.0.0.1:8081" && c.HTTPSAddr == ":8443" &&
				len(p) == 2 && p[0].String() == "127.0.0.0/8" && p[1].String() == "::1/128"
		}, ""},
		{"internal allow list", []string{"--internal-allow", " 10.1.2.3, 192.168.0.0/16 ,::ffff:10.9.9.9"}, nil, func(c *Config) bool {
			p, err := c.InternalAllowPrefixes()
			return err == nil && len(p) == 3 && p[0].String() == "10.1.2.3/32" && p[1].String() == "192.168.0.0/16" && p[2].String() == "10.9.9.9/32"
		}, ""},
		{"nginx path disabled", []string{"--internal-upstream-addr", "", "--internal-allow", ""}, nil, func(c *Config) bool {
			return c.InternalUpstreamAddr == ""
		}, ""},
		{"bad internal allow", []string{"--internal-allow", "nginx.local"}, nil, nil, "internal-allow"},
		{"empty internal allow", []string{"--internal-allow", ""}, nil, nil, "internal-allow is empty"},
		{"bad https addr", []string{"--https-addr", "8443"}, nil, nil, "https-addr"},
		{"link and session lifetimes", []string{"--access-link-ttl", "2m", "--session-ttl", "1h"}, nil, func(c *Config) bool {
			return c.AccessLinkTTL == 2*time.Minute && c.SessionTTL == time.Hour
		}, ""},
		{"default lifetimes", nil, nil, func(c *Config) bool { return c.AccessLinkTTL == time.Minute && c.SessionTTL == 12*time.Hour }, ""},
		{"link ttl too long", []string{"--access-link-ttl", "1h"}, nil, nil, "access-link-ttl"},
		{"session ttl too short", nil, map[string]string{"CLAWFLEET_SESSION_TTL": "1m"}, nil, "session-ttl"},
		{"shared secret off", []string{"--shared-secret", "off"}, nil, func(c *Config) bool { return c.SharedSecret == SharedSecretOff }, ""},
		{"short shared secret", []string{"--shared-secret", "short"}, nil, nil, "shorter than 16"},
		{"client limits", nil, nil, func(c *Config) bool {
			return c.HTTPBodyTimeout == 30*time.Second && c.HTTPMaxConnsPerAddr == 256 && c.MaxStreamsPerUser == 4 && c.MaxStreamsPerAddr == 32 && c.MaxWebSocketsPerTenant == 32
		}, ""},
		{"body timeout too short", []string{"--http-body-timeout", "100ms"}, nil, nil, "http-body-timeout"},
		{"negative stream cap", []string{"--max-streams-per-user", "-1"}, nil, nil, "0 (no limit) or more"},
		{"sso off by default", nil, nil, func(c *Config) bool {
			return !c.SSO().Enabled() && c.SSOUserClaim == "sub" && c.SSOEmailClaim == "email"
		}, ""},
		{"sso by env", nil, map[string]string{"CLAWFLEET_SSO_ISSUER": "https://id.example", "CLAWFLEET_SSO_AUDIENCE": "fleet",
			"CLAWFLEET_SSO_JWKS_URL": "https://id.example/jwks", "CLAWFLEET_SSO_USER_CLAIM": "uid"}, func(c *Config) bool {
			s := c.SSO()
			return s.Enabled() && s.Issuer == "https://id.example" && s.Audience == "fleet" && s.JWKSURL == "https://id.example/jwks" && s.UserClaim == "uid"
		}, ""},
		{"sso without issuer", []string{"--sso-jwks-url", "https://id.example/jwks", "--sso-audience", "fleet"}, nil, nil, "CLAWFLEET_SSO_ISSUER"},
		{"auth.js session tokens by env", nil, map[string]string{"CLAWFLEET_SSO_AUTHJS_SECRET": strings.Repeat("a", 32),
			"CLAWFLEET_SSO_AUTHJS_COOKIE": "__Secure-app.session"}, func(c *Config) bool {
			s := c.SSO()
			return s.Enabled() && s.AuthJSSecret == strings.Repeat("a", 32) && s.AuthJSCookie == "__Secure-app.session"
		}, ""},
		{"auth.js secret too short", []string{"--sso-authjs-secret", "short"}, nil, nil, "CLAWFLEET_SSO_AUTHJS_SECRET"},
		{"sso jwks over http", []string{"--sso-jwks-url", "http://id.example/jwks", "--sso-audience", "fleet", "--sso-issuer", "x"}, nil, nil, "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	u := Usage()
	for _, want := range []string{"CLAWFLEET_HTTP_ADDR", "CLAWFLEET_MQTT_ADDR", "CLAWFLEET_DATA_DIR", "CLAWFLEET_DOMAIN", "CLAWFLEET_DATABASE_URL", "CLAWFLEET_ADMIN_TOKEN"} {
		if !strings.Contains(u, want) {
			t.Errorf("usage lacks %s", want)
		}
	}
}
