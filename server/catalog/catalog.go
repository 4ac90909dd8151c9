// Package catalog is the read side of /api/v1: the repository list and tag details, gathered
// from the registry by bounded concurrent fan-out and cached by digest.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/httperr"
)

// referrerTag matches tags named after a digest: sha256-<hex> (OCI referrers fallback) and
// sha256-<hex>.sig/.att/.sbom (cosign).
var referrerTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.[a-z]+)?$`)

// maxDocument bounds a manifest or config read from the registry; real ones are kilobytes.
const maxDocument = 8 << 20

// Options configures a Service.
type Options struct {
	// Registry is the registry's base URL, e.g. http://127.0.0.1:5000.
	Registry string
	// Transport carries every request to the registry.
	Transport http.RoundTripper
	// Concurrency bounds the registry requests in flight at once.
	Concurrency int
	// Cache holds manifests and configs by digest; nil means a 64 MiB in-process LRU.
	Cache cache.Cache
	// CatalogTTL is how long a read of the registry's catalog is reused.
	CatalogTTL time.Duration
	// PullHost is the host shown in pull commands; empty means the registry's host.
	PullHost string
	// TagTTL is how long a tag → digest answer and a tag list are trusted before the
	// registry is asked again (a cheap HEAD or list).
	TagTTL time.Duration
	// Auth is Berth's own credentials for the registry; nil means anonymous. A Principal in
	// the request context overrides it.
	Auth authn.Authenticator
}

// Service answers /api/v1 read requests.
type Service struct {
	reg       name.Registry
	transport http.RoundTripper
	auth      authn.Authenticator
	sem       chan struct{}
	cache     cache.Cache
	ttl       time.Duration
	pullHost  string
	nameOpts  []name.Option

	tagTTL time.Duration
	flight singleflight.Group

	mu      sync.Mutex
	readers map[string]*reader
}

// Principal is who Berth reads the registry as: a signed-in user, or Berth itself with its
// service credentials (or anonymously).
type Principal struct {
	// Key names the principal's cached state, e.g. a session id; "" is Berth itself.
	Key string
	// Auth holds the user's credentials.
	Auth authn.Authenticator
	// User is the signed-in user's name, for audit records; "" is Berth itself.
	User string
}

type principalKey struct{}

// WithPrincipal returns a context whose registry reads are made as p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal WithPrincipal put into ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// reader is the registry as one principal sees it: a puller holding its tokens, and the
// repository list it may see.
type reader struct {
	puller *remote.Puller
	used   time.Time // guarded by Service.mu

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
}

type tagEntry struct {
	desc v1.Descriptor
	at   time.Time
}

type listEntry struct {
	names []string
	at    time.Time
}

// largeCatalogPage is the catalog page size asked for first.
const largeCatalogPage = 10_000

// maxReaders is how many principals' readers are kept before idle ones are dropped.
const maxReaders = 1000

// maxTagEntries bounds a principal's tag cache; past it the cache starts over.
const maxTagEntries = 200_000

// reader returns the state of the principal in ctx, creating it on first use.
func (s *Service) reader(ctx context.Context) (*reader, error) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if !ok || p.Auth == nil {
		p = Principal{Auth: s.auth}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.readers[p.Key]; ok {
		r.used = time.Now()
		return r, nil
	}
	if len(s.readers) >= maxReaders {
		// Sessions end on other replicas, or just go idle: drop readers unused for an hour.
		for k, r := range s.readers {
			if k != "" && time.Since(r.used) > time.Hour {
				delete(s.readers, k)
			}
		}
	}
	puller, err := remote.NewPuller(remote.WithTransport(s.transport), remote.WithAuth(p.Auth), remote.WithUserAgent("berth"))
	if err != nil {
		return nil, err
	}
	r := &reader{puller: puller, tags: map[string]tagEntry{}, lists: map[string]listEntry{}, used: time.Now()}
	s.readers[p.Key] = r
	return r, nil
}

// Forget drops what was cached for a principal, e.g. when its session ends.
func (s *Service) Forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.readers, key)
}

// CheckCredentials asks the registry whether auth is accepted: for token registries the
// token server must issue a token, for Basic ones /v2/ must answer 200.
func (s *Service) CheckCredentials(ctx context.Context, auth authn.Authenticator) error {
	invalid := httperr.New(http.StatusUnauthorized, "INVALID_CREDENTIALS", "The registry rejected that username or password.")
	rt, err := transport.NewWithContext(ctx, s.reg, auth, s.transport, []string{s.reg.Scope(transport.PullScope)})
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return invalid
	}
	if err != nil {
		return s.registryError(err, "the registry's sign-in")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.reg.Scheme()+"://"+s.reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return s.registryError(err, "the registry's sign-in")
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return invalid
	}
	if resp.StatusCode != http.StatusOK {
		return httperr.New(http.StatusBadGateway, "REGISTRY_ERROR", fmt.Sprintf("The registry answered %s while checking credentials.", resp.Status))
	}
	return nil
}

// New returns a Service for the registry in opts.
func New(opts Options) (*Service, error) {
	host, insecure, err := splitRegistryURL(opts.Registry)
	if err != nil {
		return nil, err
	}
	nopts := []name.Option{name.StrictValidation}
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w", opts.Registry, err)
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 16
	}
	if opts.Cache == nil {
		opts.Cache = cache.NewLRU(64 << 20)
	}
	if opts.CatalogTTL <= 0 {
		opts.CatalogTTL = 10 * time.Second
	}
	if opts.Transport == nil {
		// The default keeps only 2 idle connections per host: with more requests than that in
		// flight, every other one would open a new connection.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = opts.Concurrency
		opts.Transport = t
	}
	if opts.Auth == nil {
		opts.Auth = authn.Anonymous
	}
	if opts.TagTTL <= 0 {
		opts.TagTTL = 10 * time.Second
	}
	if opts.PullHost == "" {
		opts.PullHost = host
	}
	return &Service{
		reg:       reg,
		transport: opts.Transport,
		auth:      opts.Auth,
		sem:       make(chan struct{}, opts.Concurrency),
		cache:     opts.Cache,
		ttl:       opts.CatalogTTL,
		pullHost:  opts.PullHost,
		nameOpts:  nopts,
		readers:   map[string]*reader{},
		tagTTL:    opts.TagTTL,
	}, nil
}

func splitRegistryURL(raw string) (host string, insecure bool, err error) {
	switch {
	case strings.HasPrefix(raw, "http://"):
		return strings.TrimRight(strings.TrimPrefix(raw, "http://"), "/"), true, nil
	case strings.HasPrefix(raw, "https://"):
		return strings.TrimRight(strings.TrimPrefix(raw, "https://"), "/"), false, nil
	}
	return "", false, fmt.Errorf("registry URL %q must start with http:// or https://", raw)
}

// begin takes a Concurrency slot for a registry request and returns the puller of the
// principal in ctx to make it with.
func (s *Service) begin(ctx context.Context) (*remote.Puller, func(), error) {
	r, err := s.reader(ctx)
	if err != nil {
		return nil, nil, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return r.puller, release, nil
}

// acquire takes one of the Concurrency slots for a registry request.
func (s *Service) acquire(ctx context.Context) (release func(), err error) {
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Repositories returns the page of repository names containing query (case-insensitive).
func (s *Service) Repositories(ctx context.Context, query string, offset, limit int) (api.RepositoryPage, error) {
	names, at, err := s.catalog(ctx)
	if err != nil {
		return api.RepositoryPage{}, err
	}
	q := strings.ToLower(strings.TrimSpace(query))
	page := api.RepositoryPage{Offset: offset, Limit: limit, Query: query, Updated: at, Repositories: []api.Repository{}}
	for _, n := range names {
		if q != "" && !strings.Contains(n, q) {
			continue
		}
		if page.Total >= offset && len(page.Repositories) < limit {
			page.Repositories = append(page.Repositories, api.Repository{Name: n})
		}
		page.Total++
	}
	return page, nil
}

// catalog returns the repository names the principal in ctx may see, read at most once per
// TTL; concurrent callers share one read.
func (s *Service) catalog(ctx context.Context) ([]string, time.Time, error) {
	r, err := s.reader(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	r.mu.Lock()
	if r.repos != nil {
		// A list we have is answered at once, even when old; an old one is refreshed in the
		// background, so search-as-you-type never waits for the registry.
		if time.Since(r.reposAt) >= s.ttl && r.loading == nil {
			r.loading = make(chan struct{})
			go s.loadCatalog(r, r.loading)
		}
		defer r.mu.Unlock()
		return r.repos, r.reposAt, nil
	}
	wait := r.loading
	if wait == nil {
		wait = make(chan struct{})
		r.loading = wait
		go s.loadCatalog(r, wait)
	}
	r.mu.Unlock()

	select {
	case <-wait:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loadErr != nil {
		return nil, time.Time{}, r.loadErr
	}
	return r.repos, r.reposAt, nil
}

// loadCatalog reads the whole catalog, following the registry's pagination. It runs detached
// from any one request so that a caller giving up does not waste the read for the others.
func (s *Service) loadCatalog(r *reader, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var names []string
	release, err := s.acquire(ctx)
	if err == nil {
		// Large pages make a 100,000-repository catalog a few requests instead of a hundred;
		// registries that cap the page size (distribution's catalog.maxentries, 1000 by
		// default) refuse them with 400, and get the default size instead.
		names, err = remote.Catalog(ctx, s.reg, remote.Reuse(r.puller), remote.WithPageSize(largeCatalogPage))
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusBadRequest {
			names, err = r.puller.Catalog(ctx, s.reg)
		}
		release()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loading = nil
	r.loadErr = nil
	if err != nil {
		r.loadErr = s.registryError(err, "the repository list")
		if r.repos != nil {
			slog.Warn("catalog refresh failed; keeping the last list", "err", err)
			r.loadErr = nil
		}
	} else {
		names = slices.DeleteFunc(names, func(n string) bool { return n == "" })
		slices.Sort(names)
		r.repos, r.reposAt = names, time.Now()
	}
	close(done)
}

// TagNames returns every tag of the repository, sorted, without details: the UI shows the
// rows at once and fills in details page by page.
func (s *Service) TagNames(ctx context.Context, repository string) (api.TagPage, error) {
	repo, err := s.repository(repository)
	if err != nil {
		return api.TagPage{}, err
	}
	names, err := s.tagNames(ctx, repo)
	if err != nil {
		return api.TagPage{}, err
	}
	page := api.TagPage{Repository: repository, Total: len(names), Limit: len(names), PullHost: s.pullHost, Tags: make([]api.Tag, len(names))}
	for i, n := range names {
		page.Tags[i].Name = n
	}
	return page, nil
}

// tagNames lists a repository's tags (following the registry's pagination), sorted, reusing a
// list younger than TagTTL.
func (s *Service) tagNames(ctx context.Context, repo name.Repository) ([]string, error) {
	r, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	key := repo.RepositoryStr()
	r.cacheMu.Lock()
	e, ok := r.lists[key]
	r.cacheMu.Unlock()
	if ok && time.Since(e.at) < s.tagTTL {
		return e.names, nil
	}
	v, err, _ := s.flight.Do("list/"+principalOf(ctx)+"/"+key, func() (any, error) {
		p, release, err := s.begin(ctx)
		if err != nil {
			return nil, err
		}
		names, err := p.List(ctx, repo)
		release()
		if err != nil {
			return nil, s.registryError(err, "repository "+key)
		}
		slices.Sort(names)
		r.cacheMu.Lock()
		if len(r.lists) > 10_000 {
			clear(r.lists)
		}
		r.lists[key] = listEntry{names: names, at: time.Now()}
		r.cacheMu.Unlock()
		return names, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// principalOf names the principal in ctx for singleflight keys: requests of different users
// never share an answer, since the registry may treat them differently.
func principalOf(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p.Key
}

// Invalidate forgets what is known of a tag (and its repository's tag list) for everyone, so
// a push or delete event shows at once instead of after TagTTL.
func (s *Service) Invalidate(repository, tag string) {
	s.mu.Lock()
	readers := make([]*reader, 0, len(s.readers))
	for _, r := range s.readers {
		readers = append(readers, r)
	}
	s.mu.Unlock()
	for _, r := range readers {
		r.cacheMu.Lock()
		delete(r.lists, repository)
		if e, ok := r.tags[repository+":"+tag]; ok {
			e.at = time.Time{} // stale: the next read revalidates it with a HEAD
			r.tags[repository+":"+tag] = e
		}
		r.cacheMu.Unlock()
		r.mu.Lock()
		r.reposAt = time.Time{} // a new repository may have appeared
		r.mu.Unlock()
	}
}

// head resolves a tag to its descriptor, trusting an answer younger than TagTTL. A tag seen
// before is revalidated with a HEAD; one never seen is fetched with a GET, which costs the same
// round trip and brings the manifest along, so a cold page makes one request less per tag.
func (s *Service) head(ctx context.Context, repo name.Repository, tag string) (*v1.Descriptor, error) {
	r, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	key := repo.RepositoryStr() + ":" + tag
	r.cacheMu.Lock()
	e, ok := r.tags[key]
	r.cacheMu.Unlock()
	if ok && time.Since(e.at) < s.tagTTL {
		d := e.desc
		return &d, nil
	}
	p, release, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	var desc *v1.Descriptor
	if ok {
		desc, err = p.Head(ctx, repo.Tag(tag))
	} else {
		var d *remote.Descriptor
		if d, err = p.Get(ctx, repo.Tag(tag)); err == nil {
			desc = &d.Descriptor
			// ggcr computed the digest from these very bytes, so they are safe to keep by it.
			if len(d.Manifest) <= maxDocument {
				s.cache.Set(ctx, "manifest/"+d.Digest.String(), d.Manifest)
			}
		}
	}
	release()
	if err != nil {
		return nil, err
	}
	r.cacheMu.Lock()
	if len(r.tags) >= maxTagEntries {
		clear(r.tags)
	}
	r.tags[key] = tagEntry{desc: *desc, at: time.Now()}
	r.cacheMu.Unlock()
	return desc, nil
}

// Tags returns a page of the repository's tags, sorted by name, with their details.
func (s *Service) Tags(ctx context.Context, repository string, offset, limit int) (api.TagPage, error) {
	repo, err := s.repository(repository)
	if err != nil {
		return api.TagPage{}, err
	}
	names, err := s.tagNames(ctx, repo)
	if err != nil {
		return api.TagPage{}, err
	}
	page := api.TagPage{Repository: repository, Total: len(names), Offset: offset, Limit: limit, PullHost: s.pullHost, Tags: []api.Tag{}}
	if offset < len(names) {
		names = names[offset:min(len(names), offset+limit)]
	} else {
		names = nil
	}
	page.Tags = make([]api.Tag, len(names))
	var wg sync.WaitGroup
	for i, t := range names {
		wg.Go(func() { page.Tags[i] = s.tag(ctx, repo, t) })
	}
	wg.Wait()
	return page, ctx.Err()
}

// repositoryName is the distribution grammar for repository names: lowercase components
// separated by single slashes, so no empty, "." or ".." component can reach the registry.
var repositoryName = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

func (s *Service) repository(repository string) (name.Repository, error) {
	if len(repository) > 255 || !repositoryName.MatchString(repository) {
		return name.Repository{}, httperr.New(http.StatusBadRequest, "NAME_INVALID", fmt.Sprintf("%q is not a valid repository name", repository))
	}
	repo, err := name.NewRepository(s.reg.RegistryStr()+"/"+repository, s.nameOpts...)
	if err != nil || repo.RepositoryStr() != repository {
		return name.Repository{}, httperr.New(http.StatusBadRequest, "NAME_INVALID", fmt.Sprintf("%q is not a valid repository name", repository))
	}
	return repo, nil
}

// tag resolves a tag to its digest (a cheap HEAD, always fresh) and describes what it points
// to from the digest-keyed cache, fetching only what the cache lacks.
func (s *Service) tag(ctx context.Context, repo name.Repository, tag string) api.Tag {
	t := api.Tag{Name: tag}
	desc, err := s.head(ctx, repo, tag)
	if err != nil {
		t.Error = describe(err)
		return t
	}
	t.Digest, t.MediaType = desc.Digest.String(), string(desc.MediaType)
	sum, err := s.summarize(ctx, repo, desc.Digest, t.MediaType)
	if err != nil {
		t.Error = describe(err)
	}
	t.Kind, t.Size, t.Created, t.Platforms, t.ArtifactType = sum.kind, sum.size, sum.created, sum.platforms, sum.artifactType
	t.Attestations = len(sum.attestations)
	if referrerTag.MatchString(tag) {
		// cosign signatures and the OCI referrers fallback index are tagged after the digest
		// they describe; they are accessories, not releases.
		t.Kind, t.Platforms = "referrer", nil
	}
	return t
}

// manifest is the union of the image manifest and index fields Berth reads.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// config is the part of an image config the tag list needs.
type config struct {
	Created      time.Time `json:"created"`
	OS           string    `json:"os"`
	Architecture string    `json:"architecture"`
	Variant      string    `json:"variant"`
}

// summary is what Berth knows of a manifest after reading it and, for images, their configs.
type summary struct {
	raw          []byte
	m            manifest
	kind         string // image, index, artifact or schema1
	size         int64
	created      time.Time
	platforms    []api.Platform
	attestations []v1.Descriptor
	artifactType string
}

// summarize reads the manifest with the given digest and what its size, date and platforms
// need, all through the digest-keyed cache. mediaType is the registry's Content-Type, used
// when the manifest does not name its own. The summary is partial when err is set.
func (s *Service) summarize(ctx context.Context, repo name.Repository, digest v1.Hash, mediaType string) (summary, error) {
	var sum summary
	raw, err := s.manifest(ctx, repo, digest)
	if err != nil {
		return sum, err
	}
	sum.raw = raw
	if err := json.Unmarshal(raw, &sum.m); err != nil {
		return sum, fmt.Errorf("manifest %s is not valid JSON: %w", digest, err)
	}
	if sum.m.MediaType == "" {
		sum.m.MediaType = types.MediaType(mediaType)
	}
	switch {
	case sum.m.SchemaVersion == 1:
		sum.kind = "schema1"
		return sum, errSchema1
	case len(sum.m.Manifests) > 0 || sum.m.MediaType.IsIndex():
		sum.kind = "index"
		return sum, s.summarizeIndex(ctx, repo, &sum)
	}
	p, artifact, err := s.image(ctx, repo, digest, sum.m)
	sum.size, sum.created = p.Size, p.Created
	if artifact != "" {
		sum.kind, sum.artifactType = "artifact", artifact
		return sum, err
	}
	sum.kind = "image"
	if p.OS != "" {
		sum.platforms = []api.Platform{p}
	}
	return sum, err
}

var errSchema1 = errors.New("legacy Docker schema 1 manifest: registries and clients dropped it; it carries no sizes and its platform and history are not shown")

func (s *Service) summarizeIndex(ctx context.Context, repo name.Repository, sum *summary) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	// The platform list is complete before any goroutine writes into it.
	var images []v1.Descriptor
	for _, d := range sum.m.Manifests {
		if attestation(d) {
			sum.attestations = append(sum.attestations, d)
			continue
		}
		p := api.Platform{Digest: d.Digest.String()}
		if d.Platform != nil {
			p.OS, p.Architecture, p.Variant = d.Platform.OS, d.Platform.Architecture, d.Platform.Variant
		}
		sum.platforms = append(sum.platforms, p)
		images = append(images, d)
	}
	for i, d := range images {
		wg.Go(func() {
			raw, err := s.manifest(ctx, repo, d.Digest)
			var cm manifest
			if err == nil {
				err = json.Unmarshal(raw, &cm)
			}
			var img api.Platform
			if err == nil {
				img, _, err = s.image(ctx, repo, d.Digest, cm)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.Digest, err))
				return
			}
			pl := &sum.platforms[i]
			pl.Size, pl.Created = img.Size, img.Created
			if pl.OS == "" {
				pl.OS, pl.Architecture, pl.Variant = img.OS, img.Architecture, img.Variant
			}
		})
	}
	wg.Wait()
	for _, p := range sum.platforms {
		sum.size += p.Size
		if p.Created.After(sum.created) {
			sum.created = p.Created
		}
	}
	return errors.Join(errs...)
}

// attestation reports whether an index entry is a buildx attestation rather than a platform.
func attestation(d v1.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// image sums an image manifest's config and layers, and reads its config for the platform and
// creation date. A manifest whose config is not an image config is an artifact, whose type
// is returned instead.
func (s *Service) image(ctx context.Context, repo name.Repository, digest v1.Hash, m manifest) (api.Platform, string, error) {
	p := api.Platform{Digest: digest.String(), Size: m.Config.Size}
	for _, l := range m.Layers {
		p.Size += l.Size
	}
	artifact := artifactType(m)
	if artifact != "" || m.Config.Digest.Hex == "" {
		return p, artifact, nil
	}
	raw, err := s.blob(ctx, repo, m.Config.Digest)
	if err != nil {
		return p, "", err
	}
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return p, "", fmt.Errorf("config %s is not valid JSON: %w", m.Config.Digest, err)
	}
	p.OS, p.Architecture, p.Variant, p.Created = c.OS, c.Architecture, c.Variant, c.Created
	return p, "", nil
}

// artifactType returns what kind of artifact a manifest is, or "" for a container image.
func artifactType(m manifest) string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	switch m.Config.MediaType {
	case types.DockerConfigJSON, types.OCIConfigJSON, "":
		return ""
	}
	return string(m.Config.MediaType)
}

// manifest returns the raw manifest with the given digest, from the cache or the registry.
func (s *Service) manifest(ctx context.Context, repo name.Repository, digest v1.Hash) ([]byte, error) {
	return s.document(ctx, "manifest/"+digest.String(), func(p *remote.Puller) ([]byte, error) {
		// Get by digest verifies the bytes against the digest, so caching them forever is safe.
		d, err := p.Get(ctx, repo.Digest(digest.String()))
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", digest, err)
		}
		return d.Manifest, nil
	})
}

// blob returns a small blob (an image config) by digest, from the cache or the registry.
func (s *Service) blob(ctx context.Context, repo name.Repository, digest v1.Hash) ([]byte, error) {
	return s.document(ctx, "blob/"+digest.String(), func(p *remote.Puller) ([]byte, error) {
		l, err := p.Layer(ctx, repo.Digest(digest.String()))
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", digest, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", digest, err)
		}
		defer rc.Close()
		// Reading to EOF makes ggcr verify the digest.
		b, err := io.ReadAll(io.LimitReader(rc, maxDocument+1))
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", digest, err)
		}
		return b, nil
	})
}

// document returns the content-addressed document under key from the cache, or fetches it
// once however many requests want it at the same moment, bounded by the concurrency slots.
func (s *Service) document(ctx context.Context, key string, fetch func(*remote.Puller) ([]byte, error)) ([]byte, error) {
	if b, ok := s.cache.Get(ctx, key); ok {
		return b, nil
	}
	v, err, _ := s.flight.Do(principalOf(ctx)+"/"+key, func() (any, error) {
		p, release, err := s.begin(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
		b, err := fetch(p)
		if err != nil {
			return nil, err
		}
		if len(b) > maxDocument {
			return nil, fmt.Errorf("%s is larger than %d bytes", key, maxDocument)
		}
		s.cache.Set(ctx, key, b)
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// registryError maps an error from reading what (e.g. "repository library/alpine") from the
// registry to the status and sentence the API answers with.
func (s *Service) registryError(err error, what string) error {
	var te *transport.Error
	reg := s.reg.RegistryStr()
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden):
		return httperr.Wrap(http.StatusUnauthorized, "UNAUTHORIZED", fmt.Sprintf("The registry at %s refused access to %s.", reg, what), err)
	case errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
		return httperr.Wrap(http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("There is no %s in the registry at %s.", what, reg), err)
	case errors.As(err, &te):
		return httperr.Wrap(http.StatusBadGateway, "REGISTRY_ERROR", fmt.Sprintf("Reading %s: %s.", what, describe(err)), err)
	case httperr.Timeout(err):
		return httperr.Wrap(http.StatusGatewayTimeout, "REGISTRY_TIMEOUT", fmt.Sprintf("The registry at %s did not answer in time.", reg), err)
	default:
		return httperr.Wrap(http.StatusBadGateway, "REGISTRY_UNAVAILABLE", fmt.Sprintf("Cannot reach the registry at %s: %s.", reg, httperr.Reason(err)), err)
	}
}

// describe shortens an error for a per-tag message.
func describe(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		if len(te.Errors) > 0 {
			return fmt.Sprintf("registry answered %d: %s", te.StatusCode, te.Errors[0].Message)
		}
		return fmt.Sprintf("registry answered %d", te.StatusCode)
	}
	return err.Error()
}
