package app

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/clawfleet/clawfleet/cloud/accounts"
	"github.com/clawfleet/clawfleet/cloud/login"
	"github.com/clawfleet/clawfleet/cloud/mail"
	"github.com/clawfleet/clawfleet/cloud/store"
)

// newAccounts builds the accounts service and the providers' sign-in from
// the configuration and the environment: the providers of
// login.LoadConfig, mail from CLAWFLEET_SMTP_*, local accounts unless
// switched off (only once a provider is configured).
func (a *App) newAccounts(st *store.Store, key []byte, getenv func(string) string) (*accounts.Service, *login.SignIn, error) {
	lc, err := login.LoadConfig(getenv)
	if err != nil {
		return nil, nil, err
	}
	if a.cfg.PublicURL != "" {
		lc.PublicURL = a.cfg.PublicURL
	}
	var signIn *login.SignIn
	if lc.Enabled() {
		ps, err := lc.Providers(nil)
		if err != nil {
			return nil, nil, err
		}
		flows, err := login.NewSealedFlows(key)
		if err != nil {
			return nil, nil, err
		}
		if signIn, err = login.NewSignIn(flows, ps...); err != nil {
			return nil, nil, err
		}
	}
	local := a.cfg.LocalAccounts != "off"
	if !local && signIn == nil {
		return nil, nil, errors.New("CLAWFLEET_LOCAL_ACCOUNTS=off leaves no way to sign in: configure a provider first (CLAWFLEET_OIDC_ISSUER, CLAWFLEET_GITHUB_CLIENT_ID, …; docs/sign-in.md)")
	}
	mc, err := mail.ConfigFromEnv(getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("mail: %w", err)
	}
	var mailer accounts.Mailer
	if mc.Enabled() {
		sender, err := mail.NewSender(mc)
		if err != nil {
			return nil, nil, fmt.Errorf("mail: %w", err)
		}
		mailer = sender
	}
	// The web app's user ids are its SSO's subjects only when the SSO's
	// user claim is "sub".
	webIssuer := ""
	if a.cfg.SSOUserClaim == "sub" {
		webIssuer = a.cfg.SSOIssuer
	}
	acc, err := accounts.New(st, accounts.Options{
		PublicURL: a.linkBase(), LocalAccounts: local, WebAppIssuer: webIssuer, SecretKey: key, Mailer: mailer,
		Logger: a.log.With("component", "accounts"),
	})
	if err != nil {
		return nil, nil, err
	}
	return acc, signIn, nil
}

// linkBase is the base URL of the links in mails: the public URL, else
// this machine's HTTP address as localhost.
func (a *App) linkBase() string {
	if a.cfg.PublicURL != "" {
		return strings.TrimRight(a.cfg.PublicURL, "/")
	}
	_, port, err := net.SplitHostPort(a.cfg.HTTPAddr)
	if err != nil || port == "" || port == "0" {
		port = "8080"
	}
	return "http://localhost:" + port
}
