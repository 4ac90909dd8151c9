package catalog

import (
	"context"
	"strings"
	"sync"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Search finds tags across the registry in the index, by repository or tag name, by digest
// ("sha256:…": tags pointing at it, directly or as a platform) or by label ("name=value" or
// "label:name"). Every hit's repository is checked against the caller's own registry access
// first (its tag list, cached per principal for TagTTL); hits in repositories the registry
// refuses the caller are dropped.
func (s *Service) Search(ctx context.Context, query string, limit int) (api.SearchPage, error) {
	query = strings.TrimSpace(query)
	out := api.SearchPage{Query: query, Results: []api.SearchResult{}}
	if s.idx == nil {
		return out, httperr.New(api.CodeNotFound, "Search needs Berth's metadata index (a --database).")
	}
	if len(query) < 2 {
		return out, httperr.New(api.CodeBadRequest, "q must have at least 2 characters")
	}
	// Ask for more than wanted, since some may be filtered out.
	hits, err := s.idx.Search(ctx, query, 4*limit)
	if err != nil {
		return out, err
	}
	var repos []string
	seen := map[string]bool{}
	for _, h := range hits {
		if !seen[h.Repository] {
			seen[h.Repository] = true
			repos = append(repos, h.Repository)
		}
	}
	allowed := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, repo := range repos {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if s.CanRead(ctx, repo) == nil {
				mu.Lock()
				allowed[repo] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return out, err
	}
	for _, h := range hits {
		if allowed[h.Repository] && len(out.Results) < limit {
			out.Results = append(out.Results, api.SearchResult{
				Repository: h.Repository, Tag: h.Tag, Digest: h.Digest, Kind: h.Kind, Match: h.Match, Label: h.Label,
			})
		}
	}
	return out, nil
}
