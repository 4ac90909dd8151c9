package site

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/ui"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
)

// pageSource is what a prerendered page reads its data from: the catalog, as the principal
// in ctx (the request's), exactly as the /api/v1 routes the browser would call answer it.
type pageSource struct {
	cat      *catalog.Service
	activity *events.API                           // nil: no notifications recorded
	jobs     *ops.Manager                          // nil: no jobs to show
	session  func(ctx context.Context) api.Session // who the principal in ctx is (whoami.go)
}

var _ ui.Source = pageSource{}

// Answering marks a page with its data being built (catalog.Service.Answering).
func (s pageSource) Answering() func() { return s.cat.Answering() }

func (s pageSource) Repositories(ctx context.Context, q api.RepositoryQuery) (api.RepositoryPage, error) {
	page, err := s.cat.Repositories(ctx, catalog.RepositoryQuery{Query: q.Query, Sort: q.Sort, Kind: q.Kind, Offset: q.Offset, Limit: q.Limit})
	return page, asAPI(err)
}

func (s pageSource) Session(ctx context.Context) api.Session { return s.session(ctx) }

func (s pageSource) Jobs(ctx context.Context, q api.JobQuery) (api.JobList, error) {
	if s.jobs == nil {
		return api.JobList{}, &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "This Berth runs no jobs."}
	}
	list, err := s.jobs.List(ctx, q)
	return list, asAPI(err)
}

func (s pageSource) Job(ctx context.Context, id string) (api.Job, error) {
	if s.jobs == nil {
		return api.Job{}, &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "This Berth runs no jobs."}
	}
	j, ok, err := s.jobs.Get(ctx, id)
	if err == nil && !ok {
		err = ops.UnknownJob(id)
	}
	return j, asAPI(err)
}

func (s pageSource) FirstTags(ctx context.Context, repository string, limit int) (api.TagPage, error) {
	page, err := s.cat.Tags(ctx, repository, catalog.TagQuery{Sort: "-created", Limit: limit, Indexed: true})
	return page, asAPI(err)
}

func (s pageSource) TagNames(ctx context.Context, repository string) (api.TagPage, error) {
	page, err := s.cat.TagNames(ctx, repository)
	return page, asAPI(err)
}

func (s pageSource) RepositoryStats(ctx context.Context, repository, rng string) (api.RepositoryStats, error) {
	if s.activity == nil {
		return api.RepositoryStats{}, &api.Error{Status: api.CodeNotAvailable.Status(), Code: api.CodeNotAvailable, Message: "Berth records no notifications here."}
	}
	// As GET /api/v1/stats/… answers it: for a caller who may read the catalog too.
	if err := s.cat.CanList(ctx); err != nil {
		return api.RepositoryStats{}, asAPI(err)
	}
	st, err := s.activity.RepositoryStats(ctx, repository, rng)
	return st, asAPI(err)
}

func (s pageSource) Manifest(ctx context.Context, repository, reference string) (api.Manifest, error) {
	m, err := s.cat.Manifest(ctx, repository, reference)
	return m, asAPI(err)
}

// asAPI gives the page an error as the browser's client would have received it: its code
// and the sentence for people, never the cause (which may hold internal detail).
func asAPI(err error) error {
	var e *httperr.Error
	if errors.As(err, &e) {
		return &api.Error{Status: e.Status, Code: e.Code, Message: e.Message}
	}
	return err
}

// answering is what a page source with background work to hold back implements.
type answering interface{ Answering() func() }

// pages serves go-app's handler. A page a browser navigates to (Sec-Fetch-Mode: navigate, also
// when its service worker forwards the navigation) is
// prerendered with its data, read by src as the request's principal (put in by principal),
// and marked private and no-store: it is that user's alone. Everything else, such as the
// service worker filling its cache or the static export, gets pages without data, which the
// browser fills in itself. src nil: never any data. Either way a page that says what its
// address names does not exist answers 404.
func pages(h http.Handler, src ui.Source, principal func(http.Handler) http.Handler) http.Handler {
	render := func(w http.ResponseWriter, r *http.Request, src ui.Source, private bool) {
		marked := func() {}
		if a, ok := src.(answering); ok {
			marked = sync.OnceFunc(a.Answering()) // background work holds back while the page is rendered
			defer marked()
		}
		u, done := ui.Prerender(r.Context(), r.URL, src)
		r = r.Clone(r.Context())
		r.URL = u
		if private {
			r.Header.Del("If-None-Match") // never a 304 for a copy made for someone else
		}
		page := &pageBuffer{header: http.Header{}, code: http.StatusOK}
		h.ServeHTTP(page, r)
		if r.URL.Path == "/app.js" && page.code == http.StatusOK {
			page.body = *bytes.NewBuffer(directWasm(page.body.Bytes()))
			page.header.Set("Content-Length", strconv.Itoa(page.body.Len()))
		}
		missing := done()
		marked() // before the page is sent: a client that stops reading holds nothing back
		// A navigation its service worker preloaded (go-app's worker keeps app.wasm) needs no
		// preload of app.wasm: its app.js reads it from the cache after the first frame.
		kept := private && r.Header.Get("Service-Worker-Navigation-Preload") != ""
		page.writeTo(w, missing, private, kept)
	}
	withData := principal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, r, src, true)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Sec-Fetch-Mode")
		if r.URL.User != nil {
			// Only Prerender puts user info into a page URL (an absolute-form request line
			// could carry one).
			r = r.Clone(r.Context())
			r.URL.User = nil
		}
		switch {
		case src != nil && r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Mode") == "navigate":
			withData.ServeHTTP(w, r)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			render(w, r, nil, false)
		default:
			// Pages are only read: a POST to /healthz/deps or a page path is a mistake, not
			// a request for the UI.
			w.Header().Set("Allow", "GET, HEAD")
			httperr.Write(w, r, httperr.New(api.CodeMethodNotAllowed, r.Method+" is not allowed here; pages answer GET and HEAD"))
		}
	})
}

// pageBuffer holds a page go-app wrote, to be fixed up before it is sent: pages are small,
// and go-app writes each in one piece with its length anyway.
type pageBuffer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (p *pageBuffer) Header() http.Header         { return p.header }
func (p *pageBuffer) WriteHeader(code int)        { p.code = code }
func (p *pageBuffer) Write(b []byte) (int, error) { return p.body.Write(b) }

// falseBooleans are boolean attributes go-app's server rendering writes as name="false"
// (Checked(false), Disabled(false)…). HTML reads any value as true: the page would arrive
// with every box ticked, every option selected and buttons disabled until app.wasm runs.
var falseBooleans = regexp.MustCompile(` (?:checked|selected|disabled|open|required|autofocus|readonly|hidden|multiple|novalidate|inert)="false"`)

// writeTo sends the page: 404 when it says its address names nothing, private and no-store
// when it carries someone's data (go-app marks every answer no-cache with its version's
// ETag, which would let a browser or proxy keep and revalidate it), without app.wasm's
// preload when the service worker keeps app.wasm.
func (p *pageBuffer) writeTo(w http.ResponseWriter, missing, private, kept bool) {
	body := p.body.Bytes()
	if p.code == http.StatusOK && strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		body = falseBooleans.ReplaceAll(body, nil)
		if kept {
			body = preloadTag.ReplaceAll(body, nil)
		}
		p.header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	for k, v := range p.header {
		w.Header()[k] = v
	}
	if private {
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Del("ETag")
	}
	code := p.code
	if missing && code == http.StatusOK {
		code = http.StatusNotFound
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
