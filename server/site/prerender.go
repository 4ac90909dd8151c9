package site

import (
	"context"
	"net/http"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/ui"
	"github.com/berth-registry/berth/server/catalog"
)

// pageSource is what a prerendered page reads its data from: the catalog, as the principal
// in ctx (the request's), exactly as the /api/v1 routes the browser would call answer it.
type pageSource struct{ cat *catalog.Service }

var _ ui.Source = pageSource{}

func (s pageSource) Repositories(ctx context.Context, q api.RepositoryQuery) (api.RepositoryPage, error) {
	return s.cat.Repositories(ctx, catalog.RepositoryQuery{Query: q.Query, Sort: q.Sort, Kind: q.Kind, Offset: q.Offset, Limit: q.Limit})
}

func (s pageSource) AllTags(ctx context.Context, repository string) (api.TagPage, error) {
	return s.cat.Tags(ctx, repository, catalog.TagQuery{All: true})
}

func (s pageSource) Manifest(ctx context.Context, repository, reference string) (api.Manifest, error) {
	return s.cat.Manifest(ctx, repository, reference)
}

// pages serves go-app's handler. A page a browser navigates to (Sec-Fetch-Mode: navigate, also
// when its service worker forwards the navigation) is
// prerendered with its data, read by src as the request's principal (put in by principal),
// and marked private and no-store: it is that user's alone. Everything else, such as the
// service worker filling its cache or the static export, gets pages without data, which the
// browser fills in itself. src nil: never any data.
func pages(h http.Handler, src ui.Source, principal func(http.Handler) http.Handler) http.Handler {
	withData := principal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, done := ui.Prerender(r.Context(), r.URL, src)
		defer done()
		r = r.Clone(r.Context())
		r.URL = u
		r.Header.Del("If-None-Match") // never a 304 for a copy made for someone else
		h.ServeHTTP(&privatePage{ResponseWriter: w}, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Sec-Fetch-Mode")
		if r.URL.User != nil {
			// Only Prerender puts user info into a page URL (an absolute-form request line
			// could carry one).
			r = r.Clone(r.Context())
			r.URL.User = nil
		}
		if src != nil && r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Mode") == "navigate" {
			withData.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// privatePage makes a page with data its requester's alone. go-app marks every answer
// no-cache with its version's ETag, which would let a browser or proxy keep and revalidate
// it; this replaces both just before the header is written.
type privatePage struct {
	http.ResponseWriter
	marked bool
}

func (w *privatePage) mark() {
	if !w.marked {
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Del("ETag")
		w.marked = true
	}
}

func (w *privatePage) WriteHeader(code int) {
	w.mark()
	w.ResponseWriter.WriteHeader(code)
}

func (w *privatePage) Write(b []byte) (int, error) {
	w.mark()
	return w.ResponseWriter.Write(b)
}
