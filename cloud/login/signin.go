package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"
)

// SignIn runs sign-ins through its providers, keeping each flow in a
// FlowStore between the start and the callback.
type SignIn struct {
	providers map[string]Provider
	order     []string
	flows     FlowStore
	ttl       time.Duration
	now       func() time.Time
}

// ProviderInfo is what a sign-in page shows of a provider.
type ProviderInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
}

// NewSignIn serves the providers in the order given (their buttons' order).
func NewSignIn(flows FlowStore, providers ...Provider) (*SignIn, error) {
	s := &SignIn{providers: map[string]Provider{}, flows: flows, ttl: FlowTTL, now: time.Now}
	for _, p := range providers {
		if _, dup := s.providers[p.Name()]; dup {
			return nil, fmt.Errorf("login: two providers are named %q", p.Name())
		}
		s.providers[p.Name()] = p
		s.order = append(s.order, p.Name())
	}
	return s, nil
}

// Providers lists the providers in their order.
func (s *SignIn) Providers() []ProviderInfo {
	out := make([]ProviderInfo, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, ProviderInfo{Name: n, DisplayName: s.providers[n].DisplayName()})
	}
	return out
}

// Provider returns the provider named name.
func (s *SignIn) Provider(name string) (Provider, bool) {
	p, ok := s.providers[name]
	return p, ok
}

// Start begins a sign-in with provider that lands on returnTo: it returns
// the provider's URL to redirect the browser to, and the flow value the
// browser must carry back to the callback (a short-lived HttpOnly cookie).
func (s *SignIn) Start(ctx context.Context, provider, returnTo string) (authURL, flowValue string, err error) {
	p, ok := s.providers[provider]
	if !ok {
		return "", "", ErrUnknownProvider.Withf("no sign-in provider is named %q", provider)
	}
	f, err := NewFlow(provider, returnTo, s.now(), s.ttl)
	if err != nil {
		return "", "", err
	}
	if authURL, err = p.AuthURL(ctx, f); err != nil {
		return "", "", err
	}
	if flowValue, err = s.flows.Save(ctx, f); err != nil {
		return "", "", fmt.Errorf("login: keep the flow: %w", err)
	}
	return authURL, flowValue, nil
}

// Finish completes a sign-in at provider's callback: flowValue is what Start
// gave the browser, query the callback's query (state, code, or the
// provider's error). It returns who signed in and the path to land on.
func (s *SignIn) Finish(ctx context.Context, provider, flowValue string, query url.Values) (Identity, string, error) {
	p, ok := s.providers[provider]
	if !ok {
		return Identity{}, "", ErrUnknownProvider.Withf("no sign-in provider is named %q", provider)
	}
	if flowValue == "" {
		return Identity{}, "", ErrFlowInvalid.Wrap(errors.New("the browser brought no flow value"))
	}
	f, err := s.flows.Take(ctx, flowValue, query.Get("state"))
	if err != nil {
		return Identity{}, "", err
	}
	if f.Provider != provider {
		return Identity{}, "", ErrFlowInvalid.Wrap(fmt.Errorf("the flow was started for %q, not %q", f.Provider, provider))
	}
	// RFC 9207: an issuer that names itself in the callback must be the
	// one this flow went to (a mix-up attack swaps providers).
	if iss := query.Get("iss"); iss != "" {
		if ip, ok := p.(interface{ Issuer() string }); ok && subtle.ConstantTimeCompare([]byte(iss), []byte(ip.Issuer())) != 1 {
			return Identity{}, "", ErrFlowInvalid.Wrap(fmt.Errorf("the callback names issuer %q, not %q", iss, ip.Issuer()))
		}
	}
	if e := query.Get("error"); e != "" {
		return Identity{}, "", ErrDenied.Wrap(fmt.Errorf("%s: %s", bounded(e), bounded(query.Get("error_description"))))
	}
	code := query.Get("code")
	if code == "" {
		// WeChat's way of saying the user declined: only the state comes back.
		return Identity{}, "", ErrDenied.Wrap(errors.New("the callback brought no code"))
	}
	id, err := p.Finish(ctx, f, code)
	if err != nil {
		return Identity{}, "", err
	}
	rt, err := ReturnTo(f.ReturnTo)
	if err != nil {
		rt = "/"
	}
	return id, rt, nil
}

// bounded keeps what a provider's callback says short and printable for
// logs.
func bounded(s string) string {
	const n = 200
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return fmt.Sprintf("%q", s)
}
