// Package catalog is the read side of /api/v1: the repository list and tag details, gathered
// from the registry (through server/registry, as the person asking) by bounded concurrent
// fan-out, cached by digest and kept in a persistent metadata index (index.go). Who may read a
// repository is decided by the Authorizer before anything of it is read, cached or indexed.
package catalog

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/singleflight"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Options configures a Service.
type Options struct {
	// Registry reaches the registry as the principal in each request's context.
	Registry *registry.Client
	// Cache holds manifests and configs by digest; nil means a 64 MiB in-process LRU.
	Cache cache.Cache
	// CatalogTTL is how long a read of the registry's catalog is reused.
	CatalogTTL time.Duration
	// PullHost is the host shown in pull commands; empty means the registry's host.
	PullHost string
	// TagTTL is how long a tag → digest answer and a tag list are trusted before the
	// registry is asked again (a cheap HEAD or list).
	TagTTL time.Duration
	// Authorizer decides what the caller may read (required): every read of a repository
	// asks it first, before the index, the caches or the registry; search hits are filtered
	// by it, and the catalog is its list of what the caller may see.
	Authorizer access.Authorizer
	// Index, if set, is the persistent metadata index (the store): tag → digest rows and
	// digest summaries that survive restarts and are shared by replicas.
	Index store.Index
	// Trusted reports whether push and delete notifications arrive reliably; while it says
	// so, indexed tag → digest rows are shown without a HEAD after TagTTL (notifications move
	// them). Nil means never.
	Trusted func() bool
	// Manifests, if set, enumerates a repository's manifests from the registry's storage
	// (the embedded registry): untagged manifests are then listed completely.
	Manifests ManifestLister
	// Own is Berth's own access to the registry, as itself: the push indexer, the sync's
	// index fill and the catalog walk read with it (nil: Registry, whose service credentials
	// serve an identity without credentials of its own).
	Own *registry.Client
	// Known lists repositories to show where the registry refuses its catalog
	// (--repositories): they are listed whether or not anything else told of them.
	Known []string
	// Revalidation paces the background HEADs of stale tag rows (see revalidate.go).
	Revalidation Revalidation
	// Progress, if set, reads how far the walk filling the index has come (whichever
	// replica runs it); catalog pages carry it while the index is filled the first time.
	Progress func(ctx context.Context) (api.IndexProgress, error)
	// Opened, if set, is told the repositories callers read, so the walk filling the index
	// takes them first.
	Opened func(repository string)
	// Worst, if set, gives catalog rows the worst severity of Berth's scans
	// (store.Scans.WorstSeverities).
	Worst func(ctx context.Context, repositories []string) (map[string]string, error)
	// Reports, if set, gives tags the severity and fixable criticals of Berth's scans
	// (store.Scans.ScanReports).
	Reports func(ctx context.Context, digests []string) (map[string]store.ScanReport, error)
}

// Service answers /api/v1 read requests.
type Service struct {
	reg      *registry.Client
	own      *registry.Client
	authz    access.Authorizer
	cache    cache.Cache
	ttl      time.Duration
	pullHost string
	tagTTL   time.Duration
	flight   singleflight.Group
	sums     summaryCache
	idx      store.Index
	trusted  func() bool
	lister   ManifestLister
	pushes   chan store.Event
	now      func() time.Time
	reval    *revalidator

	progress progressCache
	opened   func(repository string)
	worst    func(ctx context.Context, repositories []string) (map[string]string, error)
	reports  func(ctx context.Context, digests []string) (map[string]store.ScanReport, error)

	walkMu   sync.Mutex
	walking  *walk
	recorded map[string]bool // repositories opened by name and put in the index

	known   []string
	refused atomic.Bool // the registry refuses Berth its catalog
	seeding atomic.Bool // demo content is being pushed (SetSeeding)

	changes    *changes  // open pages wait on these (changes.go)
	refreshing sync.Map  // "principal\x00repository" whose tag list is listed again in the background
	usageMemo  usageMemo // storage usage by caller and repository, while the tags stay put
	orders     orderMemo // tag orders of large repositories, for a moment (order_memo.go)

	mu     sync.Mutex
	states map[string]*state
}

// state is what one principal has been told by the registry: its repository list, tag lists
// and tag → digest answers. Principals never share these, since the registry may answer them
// differently; they share only the digest-keyed documents, which are read after the
// principal's own answer.
type state struct {
	used time.Time // guarded by Service.mu

	// tags and lists remember tag → digest and a repository's tag names for TagTTL, so paging
	// through a large repository does not re-list and re-HEAD it for every page.
	cacheMu sync.Mutex
	tags    map[string]tagEntry
	lists   map[string]listEntry

	mu      sync.Mutex
	repos   []string
	reposAt time.Time
	loading chan struct{} // closed when the catalog read under way ends
	loadErr error
	refused bool // the registry refuses this principal its catalog: repos is what is known
}

type tagEntry struct {
	desc v1.Descriptor
	at   time.Time
}

type listEntry struct {
	names []string
	at    time.Time
}

// maxStates is how many principals' states are kept before idle ones are dropped.
const maxStates = 1000

// maxTagEntries bounds a principal's tag cache; past it the cache starts over.
const maxTagEntries = 200_000

// New returns a Service for the registry in opts.
func New(opts Options) *Service {
	if opts.Cache == nil {
		opts.Cache = cache.NewLRU(64 << 20)
	}
	if opts.CatalogTTL <= 0 {
		opts.CatalogTTL = 10 * time.Second
	}
	if opts.TagTTL <= 0 {
		opts.TagTTL = 10 * time.Second
	}
	if opts.PullHost == "" {
		opts.PullHost = opts.Registry.Address().Host
	}
	if opts.Authorizer == nil {
		panic("catalog: an Authorizer is required")
	}
	if opts.Own == nil {
		opts.Own = opts.Registry
	}
	s := &Service{
		reg: opts.Registry, own: opts.Own, authz: opts.Authorizer, cache: opts.Cache, ttl: opts.CatalogTTL, pullHost: opts.PullHost,
		tagTTL: opts.TagTTL, states: map[string]*state{},
		idx: opts.Index, worst: opts.Worst, reports: opts.Reports, trusted: opts.Trusted, lister: opts.Manifests, pushes: make(chan store.Event, 4096),
		known: slices.Clone(opts.Known), recorded: map[string]bool{},
		progress: progressCache{read: opts.Progress}, opened: opts.Opened, changes: newChanges(),
	}
	s.now, s.reval = newRevalidator(opts.Revalidation, opts.Registry.Concurrency())
	return s
}

// principalOf names the identity in ctx for state and singleflight keys: its credentials
// key, "" for an identity without credentials of its own.
func principalOf(ctx context.Context) string { return access.From(ctx).Key }

// berth is the identity of Berth's own reads (index fill, catalog walk): they go through Own.
var berth = access.Identity{Kind: access.Service, Name: "berth", Key: "\x00berth"}

// asBerth returns ctx for Berth's own reads.
func asBerth(ctx context.Context) context.Context { return access.With(ctx, berth) }

// client is the registry client for reads in ctx: Own for Berth itself, else Registry as the
// caller.
func (s *Service) client(ctx context.Context) *registry.Client {
	if access.From(ctx).Kind == access.Service {
		return s.own
	}
	return s.reg
}

// flightKey names who reads in ctx for singleflight keys, so one reader's failure is never
// handed to another.
func flightKey(ctx context.Context) string { return principalOf(ctx) }

// authorize answers nil when the caller in ctx may read repository; it runs before anything
// of the repository is read, cached or indexed.
func (s *Service) authorize(ctx context.Context, repository string) error {
	if err := registry.ValidateRepository(repository); err != nil {
		return err
	}
	return s.authz.Authorize(ctx, repository, access.Pull)
}

// state returns the state of the principal in ctx, creating it on first use.
func (s *Service) state(ctx context.Context) *state {
	key := principalOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.states[key]; ok {
		st.used = time.Now()
		return st
	}
	if len(s.states) >= maxStates {
		// Sessions end on other replicas, or just go idle: drop states unused for an hour.
		for k, st := range s.states {
			if k != "" && time.Since(st.used) > time.Hour {
				delete(s.states, k)
			}
		}
	}
	st := &state{tags: map[string]tagEntry{}, lists: map[string]listEntry{}, used: time.Now()}
	s.states[key] = st
	return st
}

// Forget drops what was cached for a principal, e.g. when its session ends.
func (s *Service) Forget(key string) {
	s.mu.Lock()
	delete(s.states, key)
	s.mu.Unlock()
	s.reg.Forget(key)
}

// Invalidate forgets what is known of a tag (and its repository's tag list) for everyone, so
// a push or delete event shows at once instead of after TagTTL.
func (s *Service) Invalidate(repository, tag string) {
	s.invalidate(repository, tag)
	s.changes.changed(repository) // open pages read it again
}

// invalidate is Invalidate without telling open pages.
func (s *Service) invalidate(repository, tag string) {
	s.reg.Changed(repository)
	s.orders.forget(repository)
	s.mu.Lock()
	states := make([]*state, 0, len(s.states))
	for _, st := range s.states {
		states = append(states, st)
	}
	s.mu.Unlock()
	for _, st := range states {
		st.cacheMu.Lock()
		delete(st.lists, repository)
		if e, ok := st.tags[repository+":"+tag]; ok {
			e.at = time.Time{} // stale: the next read revalidates it with a HEAD
			st.tags[repository+":"+tag] = e
		}
		st.cacheMu.Unlock()
		st.mu.Lock()
		st.reposAt = time.Time{} // a new repository may have appeared
		st.mu.Unlock()
	}
	if s.refused.Load() {
		// Written through Berth: listed, though the registry's catalog will not tell.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.record(ctx, repository)
	}
}
