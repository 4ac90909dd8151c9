package catalogs

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
)

// Bounds of a search across endpoints: how many endpoints are asked, how many names each
// adds, and how long one may take (its catalog is cached by its service after a first read).
const (
	maxSearched      = 20
	perEndpointHits  = 10
	endpointDeadline = 5 * time.Second
)

// Search is the main registry's search (tags by name, digest or label, from its index) with,
// for a caller who may browse other registries, each endpoint's: its repositories whose name
// contains query, or the tags its own index finds by digest or label. An endpoint that
// does not answer in time adds nothing and makes the page Incomplete.
func (s *Set) Search(ctx context.Context, query string, limit int) (api.SearchPage, error) {
	page, err := s.main.Search(ctx, query, limit)
	if err != nil && !httperr.Is(err, api.CodeNotAvailable) {
		return page, err
	}
	q := strings.ToLower(strings.TrimSpace(query))
	if mayBrowse(ctx) != nil || len(q) < 2 || len(query) > maxQuery {
		return page, err
	}
	eps, lerr := s.eps.Endpoints(ctx)
	if lerr != nil {
		return page, err
	}
	eps = slices.DeleteFunc(eps, func(e api.RegistryEndpoint) bool { return e.Name == api.MainRegistry })
	if len(eps) > maxSearched {
		eps, page.Incomplete = eps[:maxSearched], true
	}
	hits := make([][]api.SearchResult, len(eps))
	var failed sync.Once
	var wg sync.WaitGroup
	for i, e := range eps {
		wg.Go(func() {
			h, ok := s.searchEndpoint(ctx, e.Name, strings.TrimSpace(query))
			hits[i] = h
			if !ok {
				failed.Do(func() { page.Incomplete = true })
			}
		})
	}
	wg.Wait()
	page.Query = strings.TrimSpace(query)
	if page.Results == nil {
		page.Results = []api.SearchResult{}
	}
	for _, h := range hits {
		page.Results = append(page.Results, h...)
	}
	return page, nil
}

// maxQuery bounds the text of a search sent to the endpoints (the main search's own bound).
const maxQuery = 1024

// searchEndpoint returns endpoint name's hits for query: by name, its repositories whose
// name contains it (from its catalog, which a first search walks); by digest or label, its
// index's search (none without an index). ok is false when the endpoint did not answer
// (completely).
func (s *Set) searchEndpoint(ctx context.Context, name, query string) ([]api.SearchResult, bool) {
	ctx, cancel := context.WithTimeout(ctx, endpointDeadline)
	defer cancel()
	cat, err := s.For(ctx, name)
	if err != nil {
		return nil, false
	}
	q := strings.ToLower(query)
	if strings.HasPrefix(q, "sha256:") || strings.HasPrefix(q, "label:") || strings.Contains(q, "=") {
		page, err := cat.Search(ctx, query, perEndpointHits)
		if httperr.Is(err, api.CodeNotAvailable) {
			return nil, true // digests and labels are searched in an index; this endpoint has none
		}
		for i := range page.Results {
			page.Results[i].Registry = name
		}
		return page.Results, err == nil && !page.Incomplete
	}
	rows, err := cat.Repositories(ctx, catalog.RepositoryQuery{Query: q, Limit: perEndpointHits})
	if err != nil {
		return nil, false
	}
	out := make([]api.SearchResult, 0, len(rows.Repositories))
	for _, r := range rows.Repositories {
		out = append(out, api.SearchResult{Registry: name, Repository: r.Name, Match: "repository"})
	}
	return out, true
}

// ServeSearch answers GET /api/v1/search?q=&limit= across every registry the caller may read.
func (s *Set) ServeSearch(w http.ResponseWriter, r *http.Request) {
	p, err := httperr.Paging(r, 50, 200)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	res, err := s.Search(r.Context(), r.URL.Query().Get("q"), p.Limit)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, res)
}
