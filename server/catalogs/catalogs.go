// Package catalogs serves Berth's read pages for every registry endpoint: the main registry's
// catalog service, and one catalog.Service per other endpoint, built on first use from the
// endpoint's settings (its sealed credentials, the dial guard) and rebuilt when they change.
// Other endpoints are read with their own credentials, so only administrators browse them.
package catalogs

import (
	"context"
	"sync"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/replication"
)

// Endpoints is where the endpoints are kept: server/replication.
type Endpoints interface {
	Browse(ctx context.Context, name string) (replication.Browsing, error)
	Endpoints(ctx context.Context) ([]api.RegistryEndpoint, error)
}

// Set is every registry's catalog service.
type Set struct {
	main   *catalog.Service
	eps    Endpoints
	idx    Indexes
	holder string
	bg     context.Context // the endpoints' syncs run until Close
	stop   context.CancelFunc

	mu      sync.Mutex
	cats    map[string]built
	indexes map[string]*endpointIndex
}

// built is an endpoint's catalog service and the endpoint's version it was built for.
type built struct {
	version string
	cat     *catalog.Service
}

// endpointCache is each endpoint's manifest cache: content read with the endpoint's
// credentials stays with that endpoint.
const endpointCache = 16 << 20

// New returns the set over main's catalog and the endpoints in eps, each endpoint with an
// index of its own from idx (none when idx.Open is nil).
func New(main *catalog.Service, eps Endpoints, idx Indexes) *Set {
	bg, stop := context.WithCancel(context.Background())
	return &Set{main: main, eps: eps, idx: idx, holder: newHolder(), bg: bg, stop: stop,
		cats: map[string]built{}, indexes: map[string]*endpointIndex{}}
}

// For returns the catalog service of the registry name ("" or "main": the main registry)
// for the caller in ctx: 401 or 403 when they may not browse it, 404 when there is none.
func (s *Set) For(ctx context.Context, name string) (*catalog.Service, error) {
	if name == "" || name == api.MainRegistry {
		return s.main, nil
	}
	if err := mayBrowse(ctx); err != nil {
		return nil, err
	}
	b, err := s.eps.Browse(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cats[name]; ok && c.version == b.Version {
		return c.cat, nil
	}
	client, err := b.Dial()
	if err != nil {
		// Its TLS settings do not load (e.g. a CA file gone): said without the server's paths.
		return nil, httperr.Wrap(api.CodeRegistryUnavailable, "The registry endpoint "+name+" cannot be reached as configured: test it on the replication page.", err)
	}
	opts := catalog.Options{
		Registry: client, Cache: cache.NewLRU(endpointCache), Known: b.Endpoint.Repositories,
		Authorizer: adminOnly{reg: registry.NewAuthorizer(client, 0), noCatalog: b.Endpoint.NoCatalog},
	}
	started, indexed := s.indexed(ctx, name, b.Version, client, &opts)
	cat := catalog.New(opts)
	started(cat)
	if indexed || s.idx.Open == nil {
		// Kept; one built without the index it should have (it did not open) is not, so the
		// next read tries the index again.
		s.cats[name] = built{version: b.Version, cat: cat}
	}
	return cat, nil
}

// mayBrowse answers nil when the caller in ctx may browse endpoints other than the main
// registry: administrators (and Berth itself). The namespace policy speaks of the main
// registry's repositories only, and an endpoint is read with its own credentials.
func mayBrowse(ctx context.Context) error {
	id := access.From(ctx)
	switch {
	case id.Kind == access.Service, id.Kind == access.User && id.Admin:
		return nil
	case !id.Signed():
		return httperr.New(api.CodeUnauthorized, "Sign in as an administrator to browse other registries.")
	}
	return httperr.New(api.CodeDenied, "Only administrators browse registries other than the main one.")
}

// adminOnly is an endpoint's authorizer: administrators read what the endpoint's credentials
// read; nobody writes through Berth's pages there.
type adminOnly struct {
	reg       *registry.Authorizer
	noCatalog bool
}

func (a adminOnly) Authorize(ctx context.Context, repository string, want access.Actions) error {
	if err := mayBrowse(ctx); err != nil {
		return err
	}
	if want&^access.Pull != 0 {
		return httperr.New(api.CodeDenied, "Berth's pages only read registries other than the main one.")
	}
	return a.reg.Authorize(ctx, repository, want)
}

func (a adminOnly) Repositories(ctx context.Context) ([]string, error) {
	if err := mayBrowse(ctx); err != nil {
		return nil, err
	}
	if a.noCatalog {
		// Refused like a registry refusing its catalog: the catalog lists what it knows of.
		return nil, httperr.New(api.CodeDenied, "The endpoint's catalog is not used (noCatalog).")
	}
	return a.reg.Repositories(ctx)
}

func (a adminOnly) Everything(ctx context.Context) (bool, error) { return mayBrowse(ctx) == nil, nil }
