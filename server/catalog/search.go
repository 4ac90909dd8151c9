package catalog

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Search finds tags across the registry in the index, by repository or tag name, by digest
// ("sha256:…": tags pointing at it, directly or as a platform) or by label ("name=value" or
// "label:name"). Every hit's repository is checked first (CanRead: the policy with access
// control, else the caller's own registry access, its tag list cached per principal for
// TagTTL); hits in repositories the caller may not read are dropped, so a shared digest or
// label names no tag of someone else's private repository.
func (s *Service) Search(ctx context.Context, query string, limit int) (api.SearchPage, error) {
	query = strings.TrimSpace(query)
	out := api.SearchPage{Query: query, Results: []api.SearchResult{}}
	if s.idx == nil {
		return out, httperr.New(api.CodeNotAvailable, "Search needs Berth's metadata index (a --database).")
	}
	if len(query) < 2 {
		return out, httperr.New(api.CodeBadRequest, "q must have at least 2 characters")
	}
	if len(query) > maxSearchQuery {
		return api.SearchPage{Results: []api.SearchResult{}}, httperr.New(api.CodeBadRequest, fmt.Sprintf("q must have at most %d characters", maxSearchQuery))
	}
	// Ask for more than wanted, since some may be filtered out; when the filter leaves too few
	// and the index had more, ask again for more (up to what one store search returns), so
	// a caller whose repositories sort after many others' still finds theirs.
	allowed := map[string]bool{}
	for want := 4 * limit; ; want = min(store.MaxSearch, 4*want) {
		hits, err := s.idx.Search(ctx, query, want)
		if err != nil {
			return out, storeDown(err)
		}
		capped, err := s.allow(ctx, hits, allowed)
		if err != nil {
			return out, err
		}
		out.Results = out.Results[:0]
		for _, h := range hits {
			if allowed[h.Repository] && len(out.Results) < limit {
				out.Results = append(out.Results, api.SearchResult{
					Repository: h.Repository, Tag: h.Tag, Digest: h.Digest, Kind: h.Kind, Match: h.Match, Label: h.Label,
				})
			}
		}
		if capped {
			out.Incomplete = len(out.Results) < limit
			return out, nil
		}
		if len(out.Results) == limit || len(hits) < want || want >= store.MaxSearch {
			return out, nil
		}
	}
}

// maxSearchQuery bounds a search's text: names, digests and labels are all shorter.
const maxSearchQuery = 1024

// maxSearchChecks bounds the repositories one search checks the caller's access to: without
// access control each is a registry round trip as the caller.
const maxSearchChecks = 100

// allow decides, for each repository of hits not decided yet, whether the caller may read
// it (CanRead: the policy with access control, else the caller's registry access). Past
// maxSearchChecks repositories in all, the rest stay undecided (not readable) and capped is
// true.
func (s *Service) allow(ctx context.Context, hits []store.SearchHit, allowed map[string]bool) (capped bool, err error) {
	var repos []string
	for _, h := range hits {
		if _, ok := allowed[h.Repository]; ok {
			continue
		}
		if len(allowed) >= maxSearchChecks {
			capped = true
			continue
		}
		allowed[h.Repository] = false
		repos = append(repos, h.Repository)
	}
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
	return capped, ctx.Err()
}
