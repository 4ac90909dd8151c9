package catalog

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// RepositoryQuery selects a page of the catalog.
type RepositoryQuery struct {
	// Query keeps names containing it (case-insensitive).
	Query string
	// Sort is name (default), pushed or size; "-" first for descending. Orders other than
	// by name need the index.
	Sort string
	// Kind keeps repositories holding mainly images, charts or other artifacts (needs the
	// index).
	Kind   string
	Offset int
	Limit  int
}

// Repositories returns a page of the repositories the principal in ctx may list, with what
// the index knows of each. With access control the list is the policy-filtered one (List),
// and the total, the kind filter and the orders are computed over it alone, so neither a
// count nor a page position tells of a repository the caller may not pull.
func (s *Service) Repositories(ctx context.Context, q RepositoryQuery) (api.RepositoryPage, error) {
	page, err := s.repositories(ctx, q)
	page.Seeding = s.seeding.Load()
	if err == nil {
		s.labelPartial(ctx, &page)
		s.severities(ctx, &page)
	}
	return page, err
}

// severities adds the worst severity of Berth's scans to the page's rows, in one index
// query; without it (no store, the database down) the rows show none.
func (s *Service) severities(ctx context.Context, page *api.RepositoryPage) {
	if s.worst == nil || len(page.Repositories) == 0 {
		return
	}
	names := make([]string, len(page.Repositories))
	for i, r := range page.Repositories {
		names[i] = r.Name
	}
	worst, err := s.worst(ctx, names)
	if err != nil {
		slog.Warn("index: worst severities", "err", err)
		return
	}
	for i := range page.Repositories {
		page.Repositories[i].Severity = worst[page.Repositories[i].Name]
	}
}

// SetSeeding says whether demo content is being pushed into the registry: catalog answers say
// so meanwhile, and the UI waits for it instead of showing a partial catalog.
func (s *Service) SetSeeding(on bool) { s.seeding.Store(on) }

func (s *Service) repositories(ctx context.Context, q RepositoryQuery) (api.RepositoryPage, error) {
	if err := checkSort(q.Sort); err != nil {
		return api.RepositoryPage{}, err
	}
	switch q.Kind {
	case "", "image", "chart", "artifact":
	default:
		return api.RepositoryPage{}, httperr.New(api.CodeBadRequest, "kind must be image, chart or artifact")
	}
	if q.Kind != "" && s.idx == nil {
		return api.RepositoryPage{}, httperr.New(api.CodeNotAvailable, "Filtering the catalog by kind needs the metadata index, which is off here.")
	}
	if s.ownView(ctx) {
		// Berth's own view is what its catalog walks stored: shared by replicas, kept across
		// restarts, answered without holding the catalog in memory.
		page, err := s.indexCatalog(ctx, q)
		if !httperr.Is(err, api.CodeStoreUnavailable) || q.Kind != "" || !byName(q.Sort) {
			return page, err
		}
		// The database is down: the registry's own list still answers a page by name.
		slog.Warn("index unavailable; answering the catalog from the registry", "err", err)
	}
	names, at, err := s.catalog(ctx)
	if err != nil {
		return api.RepositoryPage{}, err
	}
	st := s.state(ctx)
	st.mu.Lock()
	refused := st.refused
	st.mu.Unlock()
	qs := strings.ToLower(strings.TrimSpace(q.Query))
	var match []string
	for _, n := range names {
		if qs == "" || strings.Contains(n, qs) {
			match = append(match, n)
		}
	}
	page := api.RepositoryPage{Offset: q.Offset, Limit: q.Limit, Query: q.Query, Sort: q.Sort, Updated: at, Total: len(match),
		CatalogRefused: refused, Repositories: []api.Repository{}}
	rows := map[string]store.RepositorySummary{}
	if q.Kind != "" && s.idx != nil {
		// The kind comes from the index: the user's own list is matched against it.
		if rows, err = s.idx.RepositorySummaries(ctx, match); err != nil {
			return api.RepositoryPage{}, storeDown(err)
		}
		match = slices.DeleteFunc(match, func(n string) bool { return rows[n].Kind != q.Kind })
		page.Total = len(match)
	}
	field := strings.TrimPrefix(q.Sort, "-")
	if s.idx != nil && field != "" && field != store.SortName {
		// Another order needs every matching row; a signed-in user's catalog is their own,
		// so it is matched against the index here rather than in SQL.
		if rows, err = s.idx.RepositorySummaries(ctx, match); err != nil {
			return api.RepositoryPage{}, storeDown(err)
		}
		slices.SortStableFunc(match, func(a, b string) int {
			ra, rb := rows[a], rows[b]
			if field == store.SortSize {
				return cmp.Compare(ra.Size, rb.Size)
			}
			return ra.LastPush.Compare(rb.LastPush)
		})
	}
	if strings.HasPrefix(q.Sort, "-") {
		slices.Reverse(match)
	}
	if q.Offset < len(match) {
		match = match[q.Offset:min(len(match), q.Offset+q.Limit)]
	} else {
		match = nil
	}
	if s.idx != nil && len(rows) == 0 && len(match) > 0 {
		// The figures are extras: without the database the names still show.
		if rows, err = s.idx.RepositorySummaries(ctx, match); err != nil {
			slog.Warn("index: repository figures", "err", err)
		}
	}
	for _, n := range match {
		r, ok := rows[n]
		if !ok {
			r.Name = n
		}
		page.Repositories = append(page.Repositories, repositoryRow(r))
	}
	return page, nil
}

// ownView reports whether ctx asks for the whole catalog as Berth sees it, answered from the
// index: the Authorizer says the caller sees every repository.
func (s *Service) ownView(ctx context.Context) bool {
	if s.idx == nil {
		return false
	}
	all, err := s.authz.Everything(ctx)
	return err == nil && all
}

// byName reports whether sort orders the catalog by name, which needs no index.
func byName(sort string) bool {
	return strings.TrimPrefix(sort, "-") == "" || strings.TrimPrefix(sort, "-") == store.SortName
}

func checkSort(sort string) error {
	switch strings.TrimPrefix(sort, "-") {
	case "", store.SortName, store.SortPushed, store.SortSize:
		return nil
	}
	return httperr.New(api.CodeBadRequest, "sort must be name, pushed or size, with - first for descending")
}

// CanList reports (by answering the error the registry gave) whether the principal in ctx
// may read the catalog at all.
func (s *Service) CanList(ctx context.Context) error {
	if s.ownView(ctx) {
		_, err := s.indexCatalog(ctx, RepositoryQuery{Limit: 1})
		return err
	}
	_, _, err := s.catalog(ctx)
	return err
}

// maxStale is the oldest list answered while a fresh one is read.
const maxStale = time.Minute

// catalog returns the repository names the principal in ctx may see, read at most once per
// TTL; concurrent callers share one read.
func (s *Service) catalog(ctx context.Context) ([]string, time.Time, error) {
	st := s.state(ctx)
	st.mu.Lock()
	if st.repos != nil && time.Since(st.reposAt) >= maxStale {
		// Too old to stand for what the caller may see now (access may have been taken away
		// since): wait for a fresh read.
		st.repos = nil
	}
	if st.repos != nil {
		// A list we have is answered at once, even when old; an old one is refreshed in the
		// background, so search-as-you-type never waits for the registry.
		if time.Since(st.reposAt) >= s.ttl && st.loading == nil {
			st.loading = make(chan struct{})
			go s.loadCatalog(context.WithoutCancel(ctx), st, st.loading)
		}
		defer st.mu.Unlock()
		return st.repos, st.reposAt, nil
	}
	wait := st.loading
	if wait == nil {
		wait = make(chan struct{})
		st.loading = wait
		go s.loadCatalog(context.WithoutCancel(ctx), st, wait)
	}
	st.mu.Unlock()

	select {
	case <-wait:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.loadErr != nil {
		return nil, time.Time{}, st.loadErr
	}
	return st.repos, st.reposAt, nil
}

// loadCatalog reads the whole catalog. It runs detached from any one request's cancellation
// (keeping its principal) so that a caller giving up does not waste the read for the others.
func (s *Service) loadCatalog(ctx context.Context, st *state, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	names, err := s.authz.Repositories(ctx)
	refused := err != nil && s.reg.CatalogRefused(ctx, err)
	if refused {
		st.mu.Lock()
		st.refused = true
		st.mu.Unlock()
		// What stands in for the catalog is still only what the caller may read.
		names, err = s.readable(ctx, s.refusedList(st)), nil
	}
	st.mu.Lock()
	st.refused = refused
	defer st.mu.Unlock()
	st.loading = nil
	st.loadErr = nil
	if err != nil {
		st.loadErr = err
		if st.repos != nil {
			slog.Warn("catalog refresh failed; keeping the last list", "err", err)
			st.loadErr = nil
		}
	} else {
		slices.Sort(names)
		st.repos, st.reposAt = names, time.Now()
	}
	close(done)
}

// scanFacts adds what Berth's scans found to tags, from the index in one query: the worst
// severity and the critical findings with a fix.
func (s *Service) scanFacts(ctx context.Context, tags []api.Tag) {
	if s.reports == nil || len(tags) == 0 {
		return
	}
	digests := make([]string, 0, len(tags))
	for _, t := range tags {
		if t.Digest != "" {
			digests = append(digests, t.Digest)
		}
	}
	reports, err := s.reports(ctx, digests)
	if err != nil {
		slog.Warn("index: scan reports of tags", "err", err)
		return
	}
	for i, t := range tags {
		r, ok := reports[t.Digest]
		if !ok || r.Error != "" || r.DBVersion == "" {
			continue
		}
		tags[i].Severity, tags[i].FixableCritical = worstOf(r), r.FixableCritical
	}
}

// worstOf is a report's worst severity, "none" without findings.
func worstOf(r store.ScanReport) string {
	for _, c := range []struct {
		n    int
		name string
	}{{r.Critical, "critical"}, {r.High, "high"}, {r.Medium, "medium"}, {r.Low, "low"}, {r.Unknown, "unknown"}} {
		if c.n > 0 {
			return c.name
		}
	}
	return "none"
}
