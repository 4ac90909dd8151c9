package catalog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// The persistent metadata index (store.Index) behind the per-principal state: tag → digest
// rows, digest summaries and documents that survive restarts and are shared by replicas. It is
// filled by push notifications (IndexEvents), by the reconciliation sync (SyncRepositories,
// SyncTags, FillIndex), both reading as Berth itself (Options.Own), and by reads that miss.
// Reads consult it only after the caller passed Berth's access control (Options.Access) and
// the caller's own registry answer for the repository (its tag list), never instead of them.

// indexed turns an index row into the tag the API shows.
func indexed(name string, row store.IndexedTag) api.Tag {
	m := row.Manifest
	t := api.Tag{
		Name: name, Digest: row.Digest, MediaType: m.MediaType, Kind: m.Kind, Size: m.Size, Created: m.Created,
		Attestations: m.Attestations, ArtifactType: m.ArtifactType, Pushed: row.Pushed, Referrers: row.Referrers,
	}
	for _, p := range m.Platforms {
		t.Platforms = append(t.Platforms, api.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, Digest: p.Digest, Size: p.Size, Created: p.Created})
	}
	if m.Note != "" {
		t.Error = m.Note
	}
	if registry.IsReferrerTag(name) {
		t.Kind, t.Platforms = "referrer", nil
	}
	return t
}

// indexManifest turns a complete summary into the index's row for digest.
func indexManifest(digest, mediaType string, sum summary, err error) (store.IndexManifest, bool) {
	if err != nil && err != sum.note {
		// Partial details (a config the registry failed on) are not kept: the row would
		// never be corrected, since digest rows never change. A note is the content's own.
		return store.IndexManifest{}, false
	}
	m := store.IndexManifest{
		Digest: digest, MediaType: mediaType, Kind: sum.kind, ArtifactType: sum.artifactType,
		Size: sum.size, Created: sum.created, Attestations: len(sum.attestations),
	}
	if sum.m.MediaType != "" {
		m.MediaType = string(sum.m.MediaType)
	}
	if sum.m.Subject != nil {
		m.Subject = sum.m.Subject.Digest.String()
	}
	if err != nil {
		m.Note = registry.Describe(err)
	}
	for _, p := range sum.platforms {
		m.Platforms = append(m.Platforms, store.IndexPlatform{
			OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, Digest: p.Digest, Size: p.Size, Created: p.Created,
			Labels: sum.labels[p.Digest],
		})
	}
	if len(m.Platforms) == 0 || m.Platforms[0].Digest != digest {
		// An image without a platform in its config still has labels of its own.
		m.Labels = sum.labels[digest]
	}
	return m, true
}

// fresh reports whether a tag row confirmed at checked may be shown without asking the
// registry again: always while notifications are trusted (they move the rows), otherwise
// within TagTTL.
func (s *Service) fresh(checked time.Time) bool {
	if s.trusted != nil && s.trusted() {
		return true
	}
	return s.now().Sub(checked) < s.tagTTL
}

// writes collects what one request learned, so it reaches the store in a few transactions
// instead of one per tag.
type writes struct {
	mu        sync.Mutex
	tags      []store.IndexTag
	confirmed []store.IndexTag                 // rows a HEAD found where the index has them
	manifests map[string][]store.IndexManifest // by repository
	docs      map[string][]byte
	now       time.Time // what the rows written say the registry confirmed them at
}

type writesKey struct{}

func (s *Service) withWrites(ctx context.Context) (context.Context, *writes) {
	w := &writes{manifests: map[string][]store.IndexManifest{}, docs: map[string][]byte{}, now: s.now()}
	return context.WithValue(ctx, writesKey{}, w), w
}

func (w *writes) tag(t store.IndexTag) {
	w.mu.Lock()
	w.tags = append(w.tags, t)
	w.mu.Unlock()
}

// confirm records that the registry still has t where the index does (only its check time
// is written).
func (w *writes) confirm(t store.IndexTag) {
	w.mu.Lock()
	w.confirmed = append(w.confirmed, t)
	w.mu.Unlock()
}

func (w *writes) manifest(repository string, m store.IndexManifest) {
	w.mu.Lock()
	w.manifests[repository] = append(w.manifests[repository], m)
	w.mu.Unlock()
}

func (w *writes) doc(key string, b []byte) {
	w.mu.Lock()
	w.docs[key] = b
	w.mu.Unlock()
}

// flush writes what was collected. Failures are logged, not returned: the index is a cache of
// the registry, and the answer already given stays right.
func (s *Service) flush(ctx context.Context, w *writes) {
	if s.idx == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if err := s.idx.PutDocuments(ctx, w.docs); err != nil {
		slog.Warn("index: store documents", "err", err)
	}
	for repo, ms := range w.manifests {
		if err := s.idx.PutManifests(ctx, repo, ms); err != nil {
			slog.Warn("index: store manifests", "repository", repo, "err", err)
		}
		s.orders.forget(repo) // described: its tags' sizes and dates (order_memo.go)
	}
	// The memo says only what the index does: rows that failed to be written drop their
	// repositories' entries instead.
	for _, put := range []struct {
		what  string
		rows  []store.IndexTag
		write func(context.Context, []store.IndexTag) error
	}{{"store tags", w.tags, s.idx.PutTags}, {"confirm tags", w.confirmed, s.idx.ConfirmTags}} {
		if err := put.write(ctx, put.rows); err != nil {
			slog.Warn("index: "+put.what, "err", err)
			for _, t := range put.rows {
				s.orders.forget(t.Repository)
			}
			continue
		}
		s.orders.written(put.rows)
	}
}

// record remembers, for the store, a tag the registry resolved and the summary of its digest.
func record(ctx context.Context, repository, tag string, desc v1.Descriptor, sum summary, err error) {
	w, _ := ctx.Value(writesKey{}).(*writes)
	if w == nil {
		return
	}
	if tag != "" {
		w.tag(store.IndexTag{Repository: repository, Tag: tag, Digest: desc.Digest.String(), Checked: w.now, Pushed: w.now})
	}
	if m, ok := indexManifest(desc.Digest.String(), string(desc.MediaType), sum, err); ok {
		w.manifest(repository, m)
	}
}

// IndexEvents queues the manifests of pushes for reading into the index (the tags themselves
// are in the store with the events already). It never blocks: it runs on the event writer.
func (s *Service) IndexEvents(events []store.Event) {
	if s.idx == nil {
		return
	}
	for _, e := range events {
		if e.Action != store.ActionPush || e.Digest == "" || !e.Manifest() {
			continue
		}
		select {
		case s.pushes <- e:
		default:
			// The sync fills in what a burst larger than the queue leaves out.
			slog.Debug("index: push queue full", "repository", e.Repository, "digest", e.Digest)
		}
	}
}

// RunIndexer reads queued pushes into the index until ctx is done, as Berth itself (through
// Own): a push is described within moments of its notification.
func (s *Service) RunIndexer(ctx context.Context) {
	if s.idx == nil {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for range max(1, s.own.Concurrency()/4) {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-s.pushes:
					s.indexPush(ctx, e)
				}
			}
		})
	}
}

func (s *Service) indexPush(ctx context.Context, e store.Event) {
	h, err := v1.NewHash(e.Digest)
	if err != nil {
		return
	}
	ctx, w := s.withWrites(asBerth(ctx))
	desc := v1.Descriptor{Digest: h, MediaType: types.MediaType(e.MediaType)}
	sum, err := s.summarize(ctx, e.Repository, h, e.MediaType)
	if err != nil && sum.raw == nil {
		slog.Debug("index: read pushed manifest", "repository", e.Repository, "digest", e.Digest, "err", err)
		return
	}
	record(ctx, e.Repository, "", desc, sum, err)
	s.flush(ctx, w)
}

// SyncRepositories records a complete catalog walk that started at start: the repositories
// it listed, and none of those it no longer lists.
func (s *Service) SyncRepositories(ctx context.Context, names []string, start time.Time) error {
	if s.idx == nil {
		return nil
	}
	if err := s.idx.PutRepositories(ctx, names, start); err != nil {
		return err
	}
	if err := s.idx.DropRepositories(ctx, start); err != nil {
		return err
	}
	s.refused.Store(false)
	return s.idx.SetIndexState(ctx, stateCatalog, "complete")
}

// SyncTags records the complete tag lists of repositories as resolved at asOf.
func (s *Service) SyncTags(ctx context.Context, lists map[string]map[string]v1.Descriptor, asOf time.Time) error {
	if s.idx == nil {
		return nil
	}
	rows := make(map[string][]store.IndexTag, len(lists))
	for repo, tags := range lists {
		rs := make([]store.IndexTag, 0, len(tags))
		for tag, d := range tags {
			rs = append(rs, store.IndexTag{Repository: repo, Tag: tag, Digest: d.Digest.String(), Checked: asOf})
		}
		rows[repo] = rs
	}
	return s.idx.ReplaceTags(ctx, rows, asOf)
}

// FillIndex reads every manifest tags point to that the index does not describe yet, as
// Berth itself (through Own), and returns how many it described, telling described (if
// set) after each batch.
func (s *Service) FillIndex(ctx context.Context, described func(n int)) (int, error) {
	if s.idx == nil {
		return 0, nil
	}
	ctx = asBerth(ctx)
	done, after := 0, ""
	for {
		missing, err := s.idx.MissingManifests(ctx, after, 1000)
		if err != nil || len(missing) == 0 {
			return done, err
		}
		after = missing[len(missing)-1].Digest
		wctx, w := s.withWrites(ctx)
		g, gctx := errgroup.WithContext(wctx)
		g.SetLimit(s.own.Concurrency())
		for _, m := range missing {
			g.Go(func() error {
				h, err := v1.NewHash(m.Digest)
				if err != nil {
					return nil
				}
				sum, err := s.summarize(gctx, m.Repository, h, "")
				if err != nil && sum.raw == nil {
					slog.Debug("index: fill", "repository", m.Repository, "digest", m.Digest, "err", err)
					return nil
				}
				record(gctx, m.Repository, "", v1.Descriptor{Digest: h}, sum, err)
				return nil
			})
		}
		_ = g.Wait()
		s.flush(ctx, w)
		n := 0
		for _, ms := range w.manifests {
			n += len(ms)
		}
		done += n
		if described != nil {
			described(n)
		}
		if err := ctx.Err(); err != nil {
			return done, err
		}
	}
}

// stateCatalog is the index state key set once a catalog walk completed.
const stateCatalog = "catalog"

// walk is one catalog walk into the index, as Berth itself.
type walk struct {
	first chan struct{} // closed when the first page is stored, or the walk ended
	done  chan struct{} // closed when the walk ended
	err   error         // set before done is closed
}

// indexCatalog answers Berth's own catalog page from the index, unfiltered: only without
// access control (see Repositories). On the very first start it waits only for the
// registry's first catalog page, not the whole walk.
func (s *Service) indexCatalog(ctx context.Context, q RepositoryQuery) (api.RepositoryPage, error) {
	value, at, complete, err := s.idx.IndexState(ctx, stateCatalog)
	if err != nil {
		return api.RepositoryPage{}, storeDown(err)
	}
	if !complete || time.Since(at) >= s.ttl {
		w := s.startWalk(ctx)
		if !complete {
			select {
			case <-w.first:
			case <-ctx.Done():
				return api.RepositoryPage{}, ctx.Err()
			}
			select {
			case <-w.done:
				if w.err != nil {
					return api.RepositoryPage{}, w.err
				}
				complete = true
				at = time.Now()
				value, _, _, _ = s.idx.IndexState(ctx, stateCatalog)
			default:
			}
		}
	}
	rows, total, err := s.idx.IndexRepositories(ctx, store.RepositoryQuery{Query: q.Query, Sort: q.Sort, Kind: q.Kind, Offset: q.Offset, Limit: q.Limit})
	if err != nil {
		return api.RepositoryPage{}, storeDown(err)
	}
	page := api.RepositoryPage{Offset: q.Offset, Limit: q.Limit, Query: q.Query, Sort: q.Sort, Total: total, Updated: at, Partial: !complete,
		CatalogRefused: value == stateRefused, Repositories: make([]api.Repository, 0, len(rows))}
	s.refused.Store(page.CatalogRefused) // another replica's walk may have learnt it
	for _, r := range rows {
		page.Repositories = append(page.Repositories, repositoryRow(r))
	}
	return page, nil
}

func repositoryRow(r store.RepositorySummary) api.Repository {
	return api.Repository{Name: r.Name, Tags: r.Tags, LastPush: r.LastPush, Size: r.Size, Pulls: r.Pulls, Kind: r.Kind}
}

// startWalk starts a catalog walk into the index unless one runs in this process.
func (s *Service) startWalk(ctx context.Context) *walk {
	s.walkMu.Lock()
	defer s.walkMu.Unlock()
	if s.walking != nil {
		return s.walking
	}
	w := &walk{first: make(chan struct{}), done: make(chan struct{})}
	s.walking = w
	ctx = asBerth(context.WithoutCancel(ctx))
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		start := time.Now()
		var once sync.Once
		firstPage := func() { once.Do(func() { close(w.first) }) }
		var names []string
		err := s.own.CatalogPages(ctx, func(page []string) error {
			names = append(names, page...)
			if err := s.idx.PutRepositories(ctx, page, start); err != nil {
				return storeDown(err)
			}
			firstPage()
			return nil
		})
		switch {
		case err == nil:
			err = storeDown(s.SyncRepositories(ctx, names, start))
		case s.own.CatalogRefused(ctx, err):
			err = storeDown(s.catalogRefused(ctx, start))
		}
		if err != nil {
			slog.Warn("index: catalog walk", "err", err)
		}
		s.walkMu.Lock()
		s.walking = nil
		s.walkMu.Unlock()
		w.err = err
		close(w.done)
		firstPage()
	}()
	return w
}

// storeDown reports a failed index read or write as 503 STORE_UNAVAILABLE: the database is
// down or failing, which asking again later mends; Berth's own errors pass as they are.
func storeDown(err error) error {
	var he *httperr.Error
	if err == nil || errors.As(err, &he) || errors.Is(err, context.Canceled) {
		return err
	}
	return httperr.Wrap(api.CodeStoreUnavailable, "The database is unavailable, so Berth's index cannot be read right now; try again shortly.", err)
}
