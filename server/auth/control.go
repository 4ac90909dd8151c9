package auth

import (
	"context"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"net/http"
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
	// Limiter is the one throttle of credential checks (session.NewCredentialLimiter, over
	// the Redis of --cache when there is one); nil gives access control one of its own.
	Limiter *session.Limiter
	// PATTTL is the lifetime of a personal access token created without one, and the
	// longest one may ask for (--pat-max-age; 0: no limit).
	PATTTL time.Duration
	// OIDC, if set, turns on sign-in through an OpenID Connect provider.
	OIDC *OIDCOptions
	// LDAP, if set, turns on sign-in against an LDAP directory for names without a local
	// password.
	LDAP *LDAPOptions
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
	// LDAP is the LDAP sign-in, nil unless configured; serve runs its Check periodically.
	LDAP *LDAP
	// OAuth is the static site's authorization server.
	OAuth *OAuthServer
	// Own reads the registry as Berth itself, with service tokens it mints for itself: the
	// catalog walk, the index fill, the sync, and whether a name holds repositories.
	Own *registry.Client
	// Setup is the one-time setup page while no administrator exists, and SetupToken its
	// token, until it is printed (Bootstrap).
	Setup      *Setup
	SetupToken string
}

// New opens the keyring (making keys on first start) and builds access control.
func New(ctx context.Context, o Options) (*Control, error) {
	keys, err := OpenKeyring(ctx, o.Store, o.Secret, o.TTL)
	if err != nil {
		return nil, fmt.Errorf("access control: %w", err)
	}
	policy := NewPolicy(o.Store, o.DefaultAccess)
	acc := NewAccounts(o.Store, policy, RefreshTTL, o.Limiter)
	acc.accessKey = deriveKey(o.Secret, "static site access tokens")
	acc.patTTL = o.PATTTL
	iss := NewIssuer(keys, o.Issuer, o.Service, o.TTL)
	c := &Control{
		Policy: policy, Accounts: acc, Keys: keys, Issuer: iss,
		Tokens: NewTokenServer(acc, iss), API: NewAPI(acc, keys),
	}
	if o.OIDC != nil {
		if c.OIDC, err = NewOIDC(acc, o.Secret, *o.OIDC); err != nil {
			return nil, fmt.Errorf("access control: %w", err)
		}
		if o.OAuth.SignIn == "" {
			o.OAuth.SignIn = "/auth/oidc/login"
		}
	}
	if o.LDAP != nil {
		if c.LDAP, err = NewLDAP(acc, *o.LDAP); err != nil {
			return nil, fmt.Errorf("access control: %w", err)
		}
		acc.ldap = c.LDAP
	}
	c.OAuth = NewOAuthServer(acc, o.OAuth)
	return c, nil
}

// Connect builds Berth's own client of the registry at o.URL (Own), reading with service
// tokens Berth mints for itself. serve calls it once the registry's address is known (the
// embedded registry starts with the keys made here); until then nothing can tell whether a
// name holds repositories, and creating teams answers 503. o.Transport, if set, carries
// the requests under the service tokens.
func (c *Control) Connect(o registry.Options) (*registry.Client, error) {
	o.Auth, o.PerUser, o.ServiceWrites = nil, false, false
	inner := o.Transport
	if inner == nil {
		inner = registry.NewTransport(o.Timeout, nil)
	}
	o.Transport = NewServiceTransport(c.Issuer, inner)
	own, err := registry.New(o)
	if err != nil {
		return nil, fmt.Errorf("access control: %w", err)
	}
	c.Own = own
	// A team or account named like a namespace with repositories would take them over.
	c.Accounts.occupied = own.HasRepositoryUnder
	return own, nil
}

// RequireAdmin lets only administrators through (with access control, the activity feed:
// it names every repository and actor).
func (c *Control) RequireAdmin(next http.Handler) http.Handler {
	return c.API.admin(func(w http.ResponseWriter, r *http.Request, _ access.Identity) error {
		next.ServeHTTP(w, r)
		return nil
	})
}

// PostOnly answers anything but POST with 405, as OAuth wants (CORS preflights are answered
// before): site puts it in front of the static site's token and revocation endpoints.
func PostOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST the form")
			return
		}
		h(w, r)
	}
}
