package registry

import (
	"context"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/server/access"
)

// principal is whose credentials a request is made with: the identity's registry credentials
// (Key names its cached registry tokens), or, when the identity has none, Berth's own (or
// anonymous) access, whose Key is "".
type principal struct {
	Key  string
	Auth authn.Authenticator
}

// credentialsIn returns the registry credentials of the identity in ctx, if it has any.
func credentialsIn(ctx context.Context) (principal, bool) {
	id := access.From(ctx)
	return principal{Key: id.Key, Auth: id.Auth}, id.Auth != nil
}

// Authenticator is access.Authenticator when the registry decides: the credentials a request
// presents are checked by the registry (Check, behind the one throttle) before the caller is
// named after them — jobs are owned by that name — and then carried to the registry with every
// read and write. A check that passed is trusted for a minute per credentials; a session's
// stored credentials were checked at sign-in.
type Authenticator struct {
	check func(ctx context.Context, a authn.Authenticator) error
	now   func() time.Time

	mu       sync.Mutex
	verified map[string]time.Time
}

// NewAuthenticator returns the registry's authenticator; check asks the registry whether
// credentials sign in (Client.CheckCredentials behind session.Throttled).
func NewAuthenticator(check func(ctx context.Context, a authn.Authenticator) error) *Authenticator {
	return &Authenticator{check: check, now: time.Now, verified: map[string]time.Time{}}
}

// verifiedFor is how long credentials the registry accepted are not asked about again.
const verifiedFor = time.Minute

// Identify implements access.Authenticator.
func (z *Authenticator) Identify(ctx context.Context, c access.Credentials) (access.Identity, error) {
	a := authn.FromConfig(authn.AuthConfig{Username: c.User, Password: c.Secret})
	id := access.Identity{Kind: access.User, Name: c.User, Via: access.ViaRegistry, Key: c.Key, Auth: a}
	if c.Stored {
		return id, nil
	}
	z.mu.Lock()
	until, ok := z.verified[c.Key]
	z.mu.Unlock()
	if ok && z.now().Before(until) {
		return id, nil
	}
	if err := z.check(ctx, a); err != nil {
		return access.Identity{}, err
	}
	z.mu.Lock()
	if len(z.verified) > 10_000 {
		clear(z.verified)
	}
	z.verified[c.Key] = z.now().Add(verifiedFor)
	z.mu.Unlock()
	return id, nil
}
