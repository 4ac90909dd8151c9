package ui

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// Source is where the server reads the data of a page it prerenders, as the user who asked
// for the page (the catalog service with the request's principal). The browser has none: it
// starts from what the server put into the page, or fetches.
type Source interface {
	// Repositories returns a page of the catalog, filtered, ordered and cut as q says.
	Repositories(ctx context.Context, q api.RepositoryQuery) (api.RepositoryPage, error)
	// FirstTags returns a repository's newest limit tags with their details (the order
	// its page opens in), and how many it has in all.
	FirstTags(ctx context.Context, repository string, limit int) (api.TagPage, error)
	// TagNames returns a repository's tag names without details, for a page the index
	// cannot order yet (FirstTags answers NOT_AVAILABLE).
	TagNames(ctx context.Context, repository string) (api.TagPage, error)
	// Manifest returns one manifest in depth; reference is a tag or a digest.
	Manifest(ctx context.Context, repository, reference string) (api.Manifest, error)
	// RepositoryStats returns a repository's pushes and pulls over rng and its last push
	// and pull (an error where Berth records no notifications).
	RepositoryStats(ctx context.Context, repository, rng string) (api.RepositoryStats, error)
	// Session says who the page is for, as GET /api/v1/session would.
	Session(ctx context.Context) api.Session
	// Jobs lists the jobs the visitor may see, as GET /api/v1/jobs would; Job returns one.
	Jobs(ctx context.Context, q api.JobQuery) (api.JobList, error)
	Job(ctx context.Context, id string) (api.Job, error)
}

// prerenderTimeout bounds the reads of one prerendered page: past it the page goes out
// without its data, and the browser fetches it.
const prerenderTimeout = 3 * time.Second

type prerender struct {
	ctx     context.Context
	src     Source
	missing *atomic.Bool // the page says that what its address names does not exist
}

// prerenders holds the source of every page being prerendered, by a random key. go-app's
// handler gives a component only the page URL of its request (never the request or its
// context), so the key travels in that URL's user info, which no browser request has.
var prerenders sync.Map

// Prerender attaches src, read within ctx (the request's, carrying its principal), to the
// page go-app renders for u: it returns the URL to hand go-app's handler instead, and done,
// to call once the page is written, which reports whether the page is a "not found" one (an
// unknown address, repository or tag). src nil: the page gets no data, but still says
// whether its address is unknown. The server calls it once per page request, never shares
// the page between requests, and strips user info from every other URL.
func Prerender(ctx context.Context, u *url.URL, src Source) (*url.URL, func() (missing bool)) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	key := base64.RawURLEncoding.EncodeToString(b[:])
	pr := prerender{ctx: ctx, src: src, missing: new(atomic.Bool)}
	prerenders.Store(key, pr)
	with := *u
	with.User = url.User(key)
	return &with, func() bool {
		prerenders.Delete(key)
		return pr.missing.Load()
	}
}

// prerendering returns the source of the page being prerendered and a context bounding its
// reads; ok is false in the browser and for a page rendered without data (the static
// export, the service worker's copy).
func prerendering(ctx app.Context) (src Source, c context.Context, cancel context.CancelFunc, ok bool) {
	pr, found := current(ctx)
	if !found || pr.src == nil || registryOf(ctx.Page().URL().Path) != "" { // other endpoints: the browser fetches
		return nil, nil, nil, false
	}
	c, cancel = context.WithTimeout(pr.ctx, prerenderTimeout)
	return pr.src, c, cancel, true
}

// current returns the prerendering of the page ctx renders, on the server only.
func current(ctx app.Context) (prerender, bool) {
	u := ctx.Page().URL()
	if !app.IsServer || u.User == nil {
		return prerender{}, false
	}
	v, found := prerenders.Load(u.User.Username())
	if !found {
		return prerender{}, false
	}
	return v.(prerender), true
}

// markMissing says that the page being prerendered shows a "not found": the server answers
// it with 404, so that links checkers, crawlers and scripts see what people read.
func markMissing(ctx app.Context) {
	if pr, ok := current(ctx); ok {
		pr.missing.Store(true)
	}
}

// SeedID is the id of the script element carrying a page's data (the server changes
// go-app's app.js by it, site.directWasm).
const SeedID = "berth-seed"

// seed is a page's data as the server read it, serialized into the prerendered page, so
// that the browser starts from it instead of fetching it again.
type seed struct {
	// Page is the path and query the page was rendered for.
	Page string `json:"page"`
	// Answers are the /api/v1 answers the page shows, by the path the browser would ask.
	Answers map[string]json.RawMessage `json:"answers"`
	// Session is who the page was rendered for, where the page depends on it. Apart from
	// the answers: those are kept for offline use, and the session never is.
	Session *api.Session `json:"session,omitempty"`
	// Prefetch lists the /api/v1 answers the app asks for as soon as it runs: the browser
	// asks for them when the page is parsed (web/early.js), while app.wasm still loads, and
	// the app takes the answers over (app/client's transport).
	Prefetch []prefetch `json:"prefetch,omitempty"`
}

// prefetch is an answer the page's app will ask for, with the Accept header it sends.
type prefetch struct {
	Path   string `json:"path"`
	Accept string `json:"accept"`
}

func newSeed(u *url.URL) *seed {
	return &seed{Page: pageKey(u), Answers: map[string]json.RawMessage{}}
}

// pageKey is what a seed and the address the browser shows are matched on.
func pageKey(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	return u.Path + "?" + u.RawQuery
}

// put records v as the answer to the /api/v1 path.
func (s *seed) put(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.Answers[path] = b
	return nil
}

// get decodes the answer to path into into, reporting whether there was one.
func (s *seed) get(path string, into any) bool {
	b, ok := s.Answers[path]
	return ok && json.Unmarshal(b, into) == nil
}

// script is the element carrying the seed: JSON in a non-executed script element.
// json.Marshal escapes <, > and & (as \u003c and so on), also inside the raw answers, so no
// value can close the element or open a comment in it; app.Raw writes it as it is, since
// the HTML escaping go-app gives text would not be undone inside a script element.
func (s *seed) script() app.UI {
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	return app.Raw(`<script type="application/json" id="` + SeedID + `">` + string(b) + `</script>`)
}

// seedOnce guards reading the page's seed: only the first page shown gets it.
var seedOnce sync.Once

// takeSeed returns the data the server put into the page if it was rendered for the
// address the browser shows, and keeps its answers for offline use as if they had been
// fetched. It answers once; later pages, and a page served without data (from the service
// worker's cache, or a static export), fetch.
func takeSeed() *seed {
	if app.IsServer {
		return nil
	}
	var s *seed
	seedOnce.Do(func() {
		el := app.Window().GetElementByID(SeedID)
		if !el.Truthy() {
			return
		}
		var v seed
		if json.Unmarshal([]byte(el.Get("textContent").String()), &v) != nil || v.Page != pageKey(app.Window().URL()) {
			return
		}
		c := apiClient()
		for path, body := range v.Answers {
			client.Keep(c, path, body)
		}
		s = &v
	})
	return s
}
