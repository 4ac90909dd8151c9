package auth

import (
	"context"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// Actions and its values are access's: the one set of actions of the server.
type Actions = access.Actions

// The actions, named here for the policy's tables.
const (
	Pull   = access.Pull
	Push   = access.Push
	Delete = access.Delete
	Manage = access.Manage
	All    = access.All
)

// RoleActions is what a role allows: viewer pulls, developer also pushes, maintainer also
// deletes, owner also manages the namespace.
func RoleActions(role string) Actions {
	switch role {
	case store.RoleViewer:
		return Pull
	case store.RoleDeveloper:
		return Pull | Push
	case store.RoleMaintainer:
		return Pull | Push | Delete
	case store.RoleOwner:
		return All
	}
	return 0
}

// ValidRole reports whether role is one of the four roles.
func ValidRole(role string) bool { return RoleActions(role) != 0 }

// Policy decides what a subject may do to a repository, from the store's namespaces,
// teams and memberships. Answers are cached for a short time (cross-replica changes show
// within it) and the cache is dropped at once on every change made through this process.
type Policy struct {
	st            store.Accounts
	defaultAccess Actions
	ttl           time.Duration
	now           func() time.Time

	mu         sync.Mutex
	namespaces map[string]store.Namespace
	nsAt       time.Time
	roles      map[string]userRoles
}

// userRoles is what one user holds, as last read.
type userRoles struct {
	at       time.Time
	exists   bool
	admin    bool
	disabled bool
	// direct and teams are the user's namespace roles and team roles.
	direct map[string]string
	teams  map[string]string
}

// NewPolicy returns a Policy over st; defaultAccess is what signed-in users may do to
// repositories outside any namespace (0 or Pull).
func NewPolicy(st store.Accounts, defaultAccess Actions) *Policy {
	return &Policy{st: st, defaultAccess: defaultAccess, ttl: 5 * time.Second, now: time.Now, roles: map[string]userRoles{}}
}

// Invalidate drops every cached answer; every change to accounts calls it.
func (p *Policy) Invalidate() {
	p.mu.Lock()
	p.namespaces, p.roles = nil, map[string]userRoles{}
	p.mu.Unlock()
}

// NamespaceOf is the namespace a repository belongs to: its first path component, or ""
// (the global namespace) for a name without a slash.
func NamespaceOf(repository string) string {
	ns, _, ok := strings.Cut(repository, "/")
	if !ok {
		return ""
	}
	return ns
}

// Decide returns what sub may do to repository. It is the one policy: the token endpoint,
// the catalog filter and the job guard all ask it.
func (p *Policy) Decide(ctx context.Context, sub access.Identity, repository string) (Actions, error) {
	if sub.Kind == access.Service {
		return All, nil
	}
	nsName := NamespaceOf(repository)
	namespaces, err := p.loadNamespaces(ctx)
	if err != nil {
		return 0, err
	}
	ns, known := namespaces[nsName]
	var a Actions
	if known && ns.Public {
		a |= Pull
	}
	switch sub.Kind {
	case access.Robot:
		if known && sub.Namespace == nsName {
			live, err := p.ownerLive(ctx, ns)
			if err != nil {
				return 0, err
			}
			if live {
				a |= RoleActions(sub.Role) &^ Manage
			}
		}
	case access.User:
		r, err := p.userRoles(ctx, sub.Name)
		if err != nil {
			return 0, err
		}
		switch {
		case !r.exists || r.disabled:
			return 0, nil
		case r.admin:
			a = All
		case known:
			a |= RoleActions(r.direct[nsName])
			if ns.Kind == store.NamespaceUser && ns.Owner == sub.Name {
				a |= All
			}
			if ns.Kind == store.NamespaceTeam {
				a |= RoleActions(r.teams[ns.Owner])
			}
		case nsName != "":
			// Outside any namespace: the operator's default. The global namespace (no
			// slash) is the administrators'.
			a |= p.defaultAccess
		case nsName == "":
			a |= p.defaultAccess & Pull
		}
		if sub.ReadOnly {
			a &= Pull
		}
	}
	return a, nil
}

// Catalog reports whether sub may list every repository (registry:catalog:*): Berth itself
// and administrators. Everyone else sees the catalog through Berth, filtered by Decide.
func (p *Policy) Catalog(ctx context.Context, sub access.Identity) (bool, error) {
	switch sub.Kind {
	case access.Service:
		return true, nil
	case access.User:
		if sub.ReadOnly {
			return false, nil
		}
		r, err := p.userRoles(ctx, sub.Name)
		return err == nil && r.exists && !r.disabled && r.admin, err
	}
	return false, nil
}

// Filter keeps the repositories sub may pull.
func (p *Policy) Filter(ctx context.Context, sub access.Identity, repositories []string) ([]string, error) {
	if ok, err := p.Catalog(ctx, sub); err != nil || ok {
		return repositories, err
	}
	out := make([]string, 0, len(repositories))
	for _, r := range repositories {
		a, err := p.Decide(ctx, sub, r)
		if err != nil {
			return nil, err
		}
		if a.Has(Pull) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ownerLive reports whether a namespace's robots may act: a personal namespace's stop with
// its owner (disabled or gone); a team namespace's belong to the team, which exists while the
// namespace does.
func (p *Policy) ownerLive(ctx context.Context, ns store.Namespace) (bool, error) {
	if ns.Kind != store.NamespaceUser {
		return true, nil
	}
	r, err := p.userRoles(ctx, ns.Owner)
	return r.exists && !r.disabled, err
}

func (p *Policy) loadNamespaces(ctx context.Context) (map[string]store.Namespace, error) {
	p.mu.Lock()
	if p.namespaces != nil && p.now().Sub(p.nsAt) < p.ttl {
		defer p.mu.Unlock()
		return p.namespaces, nil
	}
	p.mu.Unlock()
	all, err := p.st.Namespaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	m := make(map[string]store.Namespace, len(all))
	for _, n := range all {
		m[n.Name] = n
	}
	p.mu.Lock()
	p.namespaces, p.nsAt = m, p.now()
	p.mu.Unlock()
	return m, nil
}

func (p *Policy) userRoles(ctx context.Context, name string) (userRoles, error) {
	p.mu.Lock()
	if r, ok := p.roles[name]; ok && p.now().Sub(r.at) < p.ttl {
		p.mu.Unlock()
		return r, nil
	}
	p.mu.Unlock()
	r := userRoles{at: p.now(), direct: map[string]string{}, teams: map[string]string{}}
	u, ok, err := p.st.User(ctx, name)
	if err != nil {
		return r, fmt.Errorf("user %s: %w", name, err)
	}
	r.exists, r.admin, r.disabled = ok, u.Admin, u.Disabled
	if ok {
		direct, err := p.st.NamespaceRoles(ctx, name)
		if err != nil {
			return r, err
		}
		for _, m := range direct {
			r.direct[m.Group] = m.Role
		}
		teams, err := p.st.Memberships(ctx, name)
		if err != nil {
			return r, err
		}
		for _, m := range teams {
			r.teams[m.Group] = m.Role
		}
	}
	p.mu.Lock()
	if len(p.roles) > 10_000 {
		clear(p.roles)
	}
	p.roles[name] = r
	p.mu.Unlock()
	return r, nil
}
