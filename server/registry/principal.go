package registry

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Principal is who a registry request is made for: a signed-in user with their credentials,
// or, when the context carries none, Berth itself with its service credentials (or anonymous).
type Principal struct {
	// Key names the principal's cached state (its registry tokens), e.g. a session id.
	Key string
	// Auth holds the user's credentials for the registry.
	Auth authn.Authenticator
	// User is the signed-in user's name, for audit records and job ownership.
	User string
}

type principalKey struct{}

// WithPrincipal returns a context whose registry requests are made as p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal WithPrincipal put into ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.Auth != nil
}

// UserFrom returns the signed-in user's name in ctx, or "" for an anonymous request.
func UserFrom(ctx context.Context) string {
	p, _ := PrincipalFrom(ctx)
	return p.User
}
