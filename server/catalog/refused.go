package catalog

import (
	"context"
	"github.com/berth-registry/berth/server/access"
	"log/slog"
	"slices"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// Registries that refuse their catalog (GitLab, GHCR, Harbor to non-administrators) still
// serve the repositories themselves: Berth then lists what it knows of — repositories in the
// index (pushed, notified), the operator's list (Options.Known) and repositories opened by
// name — and says the list may be incomplete (api.RepositoryPage.CatalogRefused).

// stateRefused is the index's catalog state while the registry refuses its catalog.
const stateRefused = "refused"

// maxKnown bounds the repositories a refused catalog is made of.
const maxKnown = 100_000

// RefusedCatalog records that the registry refused Berth its catalog at start: the operator's
// list goes into the index, nothing is dropped from it, and the repositories it holds are
// returned for the sync to walk instead.
func (s *Service) RefusedCatalog(ctx context.Context, start time.Time) ([]string, error) {
	if s.idx == nil {
		s.refused.Store(true)
		return slices.Clone(s.known), nil
	}
	if err := s.catalogRefused(ctx, start); err != nil {
		return nil, err
	}
	rows, _, err := s.idx.IndexRepositories(ctx, store.RepositoryQuery{Limit: maxKnown})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(rows))
	for _, r := range rows {
		names = append(names, r.Name)
	}
	return names, nil
}

// catalogRefused records in the index that the registry refused a catalog walk started at
// start, with the operator's list.
func (s *Service) catalogRefused(ctx context.Context, start time.Time) error {
	if !s.refused.Swap(true) {
		slog.Info("the registry refuses its catalog: listing the repositories Berth knows of", "configured", len(s.known))
	}
	if err := s.idx.PutRepositories(ctx, s.known, start); err != nil {
		return err
	}
	return s.idx.SetIndexState(ctx, stateCatalog, stateRefused)
}

// visited notes a repository whose tags the caller in ctx read by name, where the registry
// refuses the catalog: Berth's own list keeps it in the index, a user's in their state.
func (s *Service) visited(ctx context.Context, st *state, repository string) {
	st.mu.Lock()
	if st.refused && !slices.Contains(st.repos, repository) {
		st.repos = append(st.repos, repository)
		slices.Sort(st.repos)
	}
	st.mu.Unlock()
	if s.ownView(ctx) {
		s.record(ctx, repository)
	}
}

// record puts a repository into the index's list where the registry refuses its catalog,
// once per process.
func (s *Service) record(ctx context.Context, repository string) {
	if !s.refused.Load() || s.idx == nil {
		return
	}
	s.walkMu.Lock()
	seen := s.recorded[repository]
	if !seen && len(s.recorded) < maxKnown {
		s.recorded[repository] = true
	}
	s.walkMu.Unlock()
	if !seen {
		if err := s.idx.PutRepositories(ctx, []string{repository}, time.Now()); err != nil {
			slog.Warn("index: record a repository opened by name", "repository", repository, "err", err)
		}
	}
}

// refusedList is a user's list when the registry refuses them its catalog: the operator's
// list and what they opened by name, never names only Berth's index knows.
func (s *Service) refusedList(st *state) []string {
	names := slices.Clone(s.known)
	st.mu.Lock()
	if st.refused {
		names = append(names, st.repos...)
	}
	st.mu.Unlock()
	slices.Sort(names)
	return slices.Compact(names)
}

// readable keeps the names the caller in ctx may read.
func (s *Service) readable(ctx context.Context, names []string) []string {
	return slices.DeleteFunc(names, func(n string) bool { return s.authz.Authorize(ctx, n, access.Pull) != nil })
}
