package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/berth-registry/berth/server/registry"
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
	iss := NewIssuer(keys, o.Issuer, o.Service, o.TTL)
	return &Control{
		Policy: policy, Accounts: acc, Keys: keys, Issuer: iss,
		Tokens: NewTokenServer(acc, iss, o.TrustedProxies), API: NewAPI(acc, keys), trusted: o.TrustedProxies,
	}, nil
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

// Register mounts the token service and, while there is one, the setup page on mux.
func (c *Control) Register(mux *http.ServeMux) {
	c.Tokens.Register(mux)
	if c.Setup != nil {
		mux.Handle("/setup", c.Setup)
	}
}
