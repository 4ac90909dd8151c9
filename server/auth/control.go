package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/store"
)

// RefreshTTL is how long a refresh token from docker login lasts.
const RefreshTTL = 30 * 24 * time.Hour

// Options configures access control.
type Options struct {
	// Store is where accounts and keys live.
	Store store.Accounts
	// Secret seals the signing keys (LoadSecret).
	Secret []byte
	// Issuer and Service are the tokens' iss and aud; TTL their lifetime.
	Issuer, Service string
	TTL             time.Duration
	// DefaultAccess is what signed-in users may do outside any namespace (0 or Pull).
	DefaultAccess Actions
	// TrustedProxies name the proxies whose X-Forwarded-For gives the client address.
	TrustedProxies []netip.Prefix
	// Counter keeps the token service's failed sign-in counts: the Redis of --cache, shared
	// by every replica (session.WithCounter's), or this process's memory when nil.
	Counter session.Counter
	// OIDC, if set, turns on sign-in through an OpenID Connect provider.
	OIDC *OIDCOptions
	// OAuth configures the static site's sign-in (/auth/authorize, /auth/oauth/token).
	OAuth OAuthOptions
}

// Control is access control assembled: the one policy, accounts, the token service and the
// account API. site mounts it; serve builds it once.
type Control struct {
	Policy   *Policy
	Accounts *Accounts
	Keys     *Keyring
	Issuer   *Issuer
	Tokens   *TokenServer
	API      *API
	// OIDC is the OpenID Connect sign-in, nil unless configured.
	OIDC *OIDC
	// OAuth is the static site's authorization server.
	OAuth *OAuthServer
	// Setup is the one-time setup page while no administrator exists, and SetupToken its
	// token, until it is printed (Bootstrap).
	Setup      *Setup
	SetupToken string
	// Own reads the registry with Berth's own service tokens (catalog, sync, demo); serve
	// sets it.
	Own     *registry.Client
	trusted []netip.Prefix
}

// New opens the keyring (making keys on first start) and builds access control.
func New(ctx context.Context, o Options) (*Control, error) {
	keys, err := OpenKeyring(ctx, o.Store, o.Secret, o.TTL)
	if err != nil {
		return nil, fmt.Errorf("access control: %w", err)
	}
	policy := NewPolicy(o.Store, o.DefaultAccess)
	acc := NewAccounts(o.Store, policy, RefreshTTL)
	acc.accessKey = deriveKey(o.Secret, "static site access tokens")
	iss := NewIssuer(keys, o.Issuer, o.Service, o.TTL)
	c := &Control{
		Policy: policy, Accounts: acc, Keys: keys, Issuer: iss,
		Tokens: NewTokenServer(acc, iss, o.TrustedProxies, o.Counter), API: NewAPI(acc, keys), trusted: o.TrustedProxies,
	}
	if o.OIDC != nil {
		if c.OIDC, err = NewOIDC(acc, o.Secret, *o.OIDC); err != nil {
			return nil, fmt.Errorf("access control: %w", err)
		}
		if o.OAuth.SignIn == "" {
			o.OAuth.SignIn = "/auth/oidc/login"
		}
	}
	c.OAuth = NewOAuthServer(acc, o.OAuth)
	return c, nil
}

// ClientAddr is the address of r's client, through the trusted proxies.
func (c *Control) ClientAddr(r *http.Request) string { return ClientAddr(r, c.trusted) }

// Principals checks each request's principal (see Accounts.Principals).
func (c *Control) Principals(next http.Handler) http.Handler {
	return c.Accounts.Principals(c.ClientAddr)(next)
}

// RequireAdmin lets only administrators through (with access control, the activity feed:
// it names every repository and actor).
func (c *Control) RequireAdmin(next http.Handler) http.Handler {
	return c.API.admin(func(w http.ResponseWriter, r *http.Request, _ Subject) error {
		next.ServeHTTP(w, r)
		return nil
	})
}

// RegisterBrowser mounts the sign-in endpoints browsers use on mux: the OpenID Connect
// sign-in (when configured) and the static site's authorization server. principal is the
// session middleware with Principals; cors the CORS policy (the static site's origin posts
// to the token endpoint).
func (c *Control) RegisterBrowser(mux *http.ServeMux, sessions Sessions, principal, cors func(http.Handler) http.Handler) {
	if c.OIDC != nil {
		mux.Handle("GET /auth/oidc/login", http.HandlerFunc(c.OIDC.ServeLogin))
		mux.Handle("GET /auth/oidc/callback", WithClientAddr(c.ClientAddr, c.OIDC.ServeCallback(sessions)))
	}
	mux.Handle("GET /auth/authorize", principal(c.OAuth.ServeAuthorize(sessions)))
	mux.Handle("/auth/oauth/token", cors(WithClientAddr(c.ClientAddr, postOnly(c.OAuth.ServeToken))))
	mux.Handle("/auth/oauth/revoke", cors(WithClientAddr(c.ClientAddr, postOnly(c.OAuth.ServeRevoke))))
}

// postOnly answers anything but POST with 405 (CORS preflights are answered before).
func postOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST the form")
			return
		}
		h(w, r)
	}
}

// Register mounts the token service and, while there is one, the setup page on mux.
func (c *Control) Register(mux *http.ServeMux) {
	c.Tokens.Register(mux)
	if c.Setup != nil {
		mux.Handle("/setup", c.Setup)
	}
}
