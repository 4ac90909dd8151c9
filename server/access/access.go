// Package access is who is asking and what they may do. Every request carries one Identity,
// set once at the edge by the authenticator (a session, Basic credentials, a token, a robot,
// nobody), and every service that touches a repository is built with an Authorizer and asks it
// before it reads or writes. There are two Authorizers, chosen once in main: the registry
// decides (registry.Authorizer: the caller's own registry credentials), or Berth's policy
// decides (auth.Policy, --access-control). No service checks which one it has.
package access

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Actions is a set of things one may do to a repository.
type Actions uint8

// The actions of the registry token specification, and what Berth adds for owners.
const (
	Pull Actions = 1 << iota
	Push
	Delete
	// Manage is an owner's: members, robots and settings of the namespace.
	Manage

	// All is every action.
	All = Pull | Push | Delete | Manage
)

// Has reports whether every action of want is in a.
func (a Actions) Has(want Actions) bool { return a&want == want }

// Names are the token specification's names of the registry actions in a (Manage has none).
func (a Actions) Names() []string {
	var out []string
	for _, x := range []struct {
		a    Actions
		name string
	}{{Pull, "pull"}, {Push, "push"}, {Delete, "delete"}} {
		if a.Has(x.a) {
			out = append(out, x.name)
		}
	}
	return out
}

// String lists the actions for people ("pull,push"; "manage"; "none").
func (a Actions) String() string {
	n := a.Names()
	if a.Has(Manage) {
		n = append(n, "manage")
	}
	if len(n) > 0 {
		return strings.Join(n, ",")
	}
	return "none"
}

// Kind is what kind of identity asks.
type Kind uint8

// The kinds of identity.
const (
	Anonymous Kind = iota
	User
	Robot
	// Service is Berth itself, reading for its own pages and index: everything.
	Service
)

// Via is how an identity proved itself, for the rules that depend on it (a personal access
// token may not mint tokens or change its account).
type Via uint8

// The ways an identity is authenticated.
const (
	ViaNone Via = iota
	// ViaPassword: a password (a session's, or Basic credentials).
	ViaPassword
	// ViaToken: a personal access token.
	ViaToken
	// ViaSession: a credential Berth minted for a browser sign-in (OpenID Connect, a static
	// site's access token): as good as the sign-in that made it.
	ViaSession
	// ViaRobot: a robot's secret.
	ViaRobot
	// ViaRegistry: credentials only the registry checks (without --access-control).
	ViaRegistry
)

// Identity is who a request is made for: a user (maybe through a token), a robot, Berth
// itself, or nobody. It is the one identity type of the server.
type Identity struct {
	Kind Kind
	// Name is the user's or robot's account name.
	Name  string
	Admin bool
	// Namespace and Role are a robot's.
	Namespace, Role string
	// ReadOnly limits a personal access token to pulls.
	ReadOnly bool
	// Via is how the identity was authenticated.
	Via Via
	// Key names the identity's cached registry state (its registry tokens), e.g. a session
	// id; Auth is the credentials registry requests are made with for it (nil: none, so
	// Berth's own or anonymous access applies, as the registry client is configured).
	Key  string
	Auth authn.Authenticator
}

// Signed reports whether the identity is someone (not anonymous).
func (id Identity) Signed() bool { return id.Kind != Anonymous }

type identityKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// From returns the identity in ctx (anonymous when none).
func From(ctx context.Context) Identity {
	id, _ := ctx.Value(identityKey{}).(Identity)
	return id
}

// Authorizer decides what the identity in a context may do. main builds one and every
// service that reads or writes repositories is given it; none works without one.
type Authorizer interface {
	// Authorize answers nil when the identity in ctx may do want to repository, otherwise
	// the error to answer: 401 for an anonymous caller, 403 for anyone else, the same
	// whether or not the repository exists.
	Authorize(ctx context.Context, repository string, want Actions) error
	// Repositories lists the repository names the identity in ctx may see.
	Repositories(ctx context.Context) ([]string, error)
	// Everything reports whether the identity in ctx may see every repository (Berth
	// itself, an administrator), so answers from Berth's own index need no filtering.
	Everything(ctx context.Context) (bool, error)
}

// Refuse is the error for an identity that may not do want to repository: 401 when it is
// anonymous (sign in), 403 otherwise. It says nothing of whether the repository exists.
func Refuse(id Identity, repository string, want, held Actions) error {
	if !id.Signed() {
		if want.Has(Pull) && !want.Has(Push) && !want.Has(Delete) {
			return httperr.New(api.CodeUnauthorized, fmt.Sprintf("Sign in to read %s.", repository))
		}
		return httperr.New(api.CodeUnauthorized, fmt.Sprintf("Sign in to change %s.", repository))
	}
	if want == Pull {
		return httperr.New(api.CodeDenied, fmt.Sprintf("You may not pull %s.", repository))
	}
	return httperr.New(api.CodeDenied, fmt.Sprintf("You may not %s in %s (you hold: %s).", want, repository, held))
}

// Credentials are what a request presented: a session's, Basic credentials, or a bearer
// token. Key names the state cached for them (a session id, or a hash of the credentials).
type Credentials struct {
	User, Secret, Key string
	// Stored marks a session's credentials: kept server-side since a throttled sign-in
	// checked them, so the client cannot choose them.
	Stored bool
}

// Authenticator turns the credentials a request presented into its identity; it is the one
// place credentials are checked. An error that is an httperr is answered as it is (429
// throttled, 503 store down); access.ErrBadCredentials makes the request anonymous.
type Authenticator interface {
	Identify(ctx context.Context, c Credentials) (Identity, error)
}
