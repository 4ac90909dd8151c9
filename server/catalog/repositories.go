package catalog

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
)

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

// CanList reports (by answering the error the registry gave) whether the principal in ctx
// may read the catalog at all.
func (s *Service) CanList(ctx context.Context) error {
	_, _, err := s.catalog(ctx)
	return err
}

// catalog returns the repository names the principal in ctx may see, read at most once per
// TTL; concurrent callers share one read.
func (s *Service) catalog(ctx context.Context) ([]string, time.Time, error) {
	st := s.state(ctx)
	st.mu.Lock()
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
	names, err := s.list(ctx)
	st.mu.Lock()
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
