package registry

import (
	"context"

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
// presents are not checked by Berth but carried to the registry, which checks them on every
// use (a wrong password is the registry's 401 on the first read).
type Authenticator struct{}

// Identify names the caller after the credentials, unchecked.
func (Authenticator) Identify(_ context.Context, c access.Credentials) (access.Identity, error) {
	return access.Identity{
		Kind: access.User, Name: c.User, Via: access.ViaRegistry, Key: c.Key,
		Auth: authn.FromConfig(authn.AuthConfig{Username: c.User, Password: c.Secret}),
	}, nil
}
