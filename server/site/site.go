// Package site wires Berth's HTTP surface: the go-app UI, static assets, the /v2 proxy, the
// /api/v1 read API, CORS and health endpoints, in one handler.
package site

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	apiv1 "github.com/berth-registry/berth/app/api"

	"github.com/rs/cors"

	"github.com/berth-registry/berth/app/ui"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/reqlog"
	"github.com/berth-registry/berth/server/session"
)

// Services is everything the site mounts. main builds each of them once from the
// configuration; site only routes to them.
type Services struct {
	// Config is the parsed configuration (CORS origins, events path, web directory, flags
	// the UI shows).
	Config config.Config
	// Version is the build version, shown in the UI and used to bust caches.
	Version string
	// Registry is the client of the registry Berth fronts (readiness).
	Registry *registry.Client
	// Proxy serves /v2.
	Proxy http.Handler
	// Catalog serves the read API.
	Catalog *catalog.Service
	// Sessions signs users in and puts their principal into each request.
	Sessions *session.Manager
	// Jobs runs write operations.
	Jobs *ops.Manager
	// Activity, if set, serves /api/v1/events and /api/v1/stats.
	Activity *events.API
	// Charts, if set, serves chart pages' data, the classic chart repository (/charts) and
	// the ChartMuseum API (/api/charts).
	Charts *charts.Service
	// Contents, if set, serves layer file indexes, diffs and supply-chain documents.
	Contents *contents.Service
	// Webhook, if set, receives registry notifications at Config.EventsPath.
	Webhook http.Handler
	// Metrics, if set, is served at /metrics.
	Metrics http.Handler
	// Redis, if set, is the shared cache, reported by /readyz.
	Redis *cache.Redis
	// Store, if set, is the event store, reported by /readyz.
	Store interface{ Ping(context.Context) error }
	// Access, if set, is access control (--access-control): the token service, the account
	// API, and the policy's hooks on sign-in, every principal, job start and the activity feed.
	Access *auth.Control
}

// New returns Berth's root handler: one route table for everything Berth serves.
func New(s Services) (http.Handler, error) {
	cfg := s.Config
	files, err := newAssets(cfg.WebDir)
	if err != nil {
		return nil, err
	}
	c := CORS(cfg.CORSOrigins)
	ui.Routes()

	mux := http.NewServeMux()
	mux.Handle("/v2/", c.Handler(s.Proxy))
	mux.Handle("/v2", c.Handler(s.Proxy))

	API(mux, s, c)
	mux.Handle("/api/", c.Handler(http.HandlerFunc(notFound)))
	// /auth/… is the token service's and the sign-in flows'; anything else there (all of it
	// without access control) is a JSON 404, never the UI page.
	mux.Handle("/auth/", c.Handler(http.HandlerFunc(notFound)))
	if s.Access != nil {
		s.Access.Register(mux) // /auth/token, /auth/certs.pem, /auth/jwks.json, /setup
	}
	if s.Webhook != nil {
		// No CORS: only the registry posts here, never a browser.
		mux.Handle("POST "+cfg.EventsPath, s.Webhook)
	}
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	// CORS too: a UI served from elsewhere (berth export) polls it to learn Berth is back.
	mux.Handle("GET /healthz", c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.Version})
	})))
	mux.Handle("GET /readyz", readiness(s))
	mux.Handle("/web/", files)
	// The page and PWA settings live in ui.go, shared with the static export.
	app := uiHandler(files, "", files.wasmSize(), files.version(s.Version), map[string]string{
		ui.EnvVersion:  s.Version,
		ui.EnvReadOnly: fmt.Sprint(cfg.ReadOnly),
	})
	// Pages come with their data, read as the requester (the catalog checks the access
	// policy, or the registry its own auth, as for the API).
	var src ui.Source
	if s.Catalog != nil && !cfg.ClientRendered {
		src = pageSource{cat: s.Catalog, session: func(ctx context.Context) apiv1.Session { return sessionOf(s, ctx) }}
	}
	mux.Handle("/", pages(app, src, principals(s)))
	return reqlog.Middleware(newGuard(cfg).wrap(mux)), nil
}

// API mounts the /api/v1 route table on mux — every endpoint of the API, in one place — for
// the services that are set; c applies CORS.
func API(mux *http.ServeMux, s Services, c *cors.Cors) {
	if c == nil {
		c = CORS(nil)
	}
	principal := principals(s)
	if s.Sessions != nil {
		signIn := http.Handler(http.HandlerFunc(s.Sessions.ServeSignIn))
		if s.Access != nil {
			signIn = auth.WithClientAddr(s.Access.ClientAddr, signIn)
		}
		mux.Handle("GET /api/v1/session", c.Handler(principal(whoami(s)))) // whoami.go
		mux.Handle("POST /api/v1/session", c.Handler(signIn))
		mux.Handle("DELETE /api/v1/session", c.Handler(http.HandlerFunc(s.Sessions.ServeSignOut)))
	}
	// api is what every other /api/v1 route goes through: CORS, then the caller's principal.
	api := func(h http.HandlerFunc) http.Handler { return c.Handler(principal(h)) }
	// read is api for reads answered from the registry: one deadline covers the whole call —
	// every registry request it makes, their retries and bodies — so a slow registry gives a
	// 504 in --upstream-timeout, not in several times that.
	read := func(h http.HandlerFunc) http.Handler { return api(deadline(s.Config.UpstreamTimeout, h)) }
	if s.Catalog != nil {
		mux.Handle("GET /api/v1/repositories", read(s.Catalog.ServeRepositories))
		mux.Handle("GET /api/v1/search", read(s.Catalog.ServeSearch))
		mux.Handle("GET /api/v1/repositories/{path...}", read(repositoryRoutes{
			"tags":      func(w http.ResponseWriter, r *http.Request, repo, _ string) { s.Catalog.ServeTags(w, r, repo) },
			"manifests": s.Catalog.ServeManifest,
			"usage":     func(w http.ResponseWriter, r *http.Request, repo, _ string) { s.Catalog.ServeUsage(w, r, repo) },
			"untagged":  func(w http.ResponseWriter, r *http.Request, repo, _ string) { s.Catalog.ServeUntagged(w, r, repo) },
		}.serve))
	}
	if s.Jobs != nil {
		start := http.Handler(http.HandlerFunc(s.Jobs.ServeStart))
		if s.Access != nil {
			start = s.Access.Accounts.GuardJobs(start) // push/delete rights by the policy
		}
		mux.Handle("POST /api/v1/jobs", c.Handler(principal(start)))
		upload := http.Handler(http.HandlerFunc(s.Jobs.ServeImport))
		if s.Access != nil {
			upload = s.Access.Accounts.GuardImports(upload) // push rights by the policy
		}
		mux.Handle("POST /api/v1/imports", c.Handler(principal(upload)))
		mux.Handle("GET /api/v1/jobs", api(s.Jobs.ServeList))
		mux.Handle("GET /api/v1/jobs/{id}", api(s.Jobs.ServeJob))
		mux.Handle("GET /api/v1/jobs/{id}/events", api(s.Jobs.ServeEvents))
		mux.Handle("DELETE /api/v1/jobs/{id}", api(s.Jobs.ServeCancel))
	}
	if s.Activity != nil && s.Catalog != nil {
		// Activity names repositories: only someone who may read the catalog sees it.
		activity := func(h http.HandlerFunc) http.Handler { return read(requireCatalog(s.Catalog, h)) }
		mux.Handle("GET /api/v1/events", activity(s.Activity.ServeEvents))
		mux.Handle("GET /api/v1/stats", activity(s.Activity.ServeStats))
		mux.Handle("GET /api/v1/stats/{repo...}", activity(s.Activity.ServeRepositoryStats))
	}
	if s.Charts != nil {
		// Chart pages' data, the classic chart repository helm reads, and the ChartMuseum API
		// helm cm-push writes to.
		chart := func(h http.HandlerFunc) http.Handler { return c.Handler(principal(readOnly(s.Config.ReadOnly, h))) }
		mux.Handle("GET /api/v1/charts/{path...}", chart(s.Charts.ServeChartAPI))
		mux.Handle("GET /charts/index.yaml", chart(s.Charts.ServeIndex))
		mux.Handle("GET /charts/{file}", chart(s.Charts.ServeArchive))
		mux.Handle("GET /api/charts", chart(s.Charts.ServeMuseumList))
		mux.Handle("GET /api/charts/{name}", chart(s.Charts.ServeMuseumChart))
		mux.Handle("GET /api/charts/{name}/{version}", chart(s.Charts.ServeMuseumVersion))
		mux.Handle("POST /api/charts", chart(s.Charts.ServeUpload))
		mux.Handle("DELETE /api/charts/{name}/{version}", chart(s.Charts.ServeDelete))
	}
	if s.Contents != nil {
		// Layer file indexes, the merged filesystem, files, build steps, supply chain:
		// /api/v1/contents/{repository}/-/{image|layers|tree|file|supply-chain|severities}/…
		mux.Handle("GET /api/v1/contents/{path...}", api(s.Contents.ServeContents))
		mux.Handle("GET /api/v1/diff", api(s.Contents.ServeDiff))
	}
	if s.Access != nil {
		s.Access.API.Register(mux, func(h http.Handler) http.Handler { return c.Handler(principal(h)) })
		if s.Sessions != nil {
			// /auth/oidc/login and /callback, and the static site's /auth/authorize,
			// /auth/oauth/token and /auth/oauth/revoke.
			s.Access.RegisterBrowser(mux, s.Sessions, principal, c.Handler)
		}
	}
	mux.Handle("/api/v1/", c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unrouted(mux, w, r)
	})))
}

// principals returns the middleware that puts the caller's principal into a request: the
// session's or Basic credentials, checked against the accounts on every request under
// access control.
func principals(s Services) func(http.Handler) http.Handler {
	switch {
	case s.Sessions == nil:
		return func(h http.Handler) http.Handler { return h }
	case s.Access != nil:
		return func(h http.Handler) http.Handler { return s.Sessions.Middleware(s.Access.Principals(h)) }
	}
	return s.Sessions.Middleware
}

// deadline bounds a request's context: past it, registry calls end with 504.
func deadline(d time.Duration, next http.HandlerFunc) http.HandlerFunc {
	if d <= 0 {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next(w, r.WithContext(ctx))
	}
}

// readOnly refuses every method but GET and HEAD when Berth runs with --read-only.
func readOnly(on bool, next http.Handler) http.Handler {
	if !on {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			httperr.Write(w, r, httperr.New(apiv1.CodeReadOnly, "Berth runs read-only (--read-only): write operations are disabled."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// unrouted answers an /api request no route took: 405 with Allow when the path exists for
// other methods, 404 otherwise — as JSON, never ServeMux's plain text.
func unrouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/api/v1/" && pattern != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		httperr.Write(w, r, httperr.New(apiv1.CodeMethodNotAllowed, r.Method+" is not allowed here; use "+strings.Join(allow, " or ")))
		return
	}
	notFound(w, r)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httperr.Write(w, r, httperr.New(apiv1.CodeNotFound, "No such API endpoint: "+r.Method+" "+r.URL.Path))
}

// repositoryRoutes serves /api/v1/repositories/{name}/{what}[/{ref}]. Repository names
// contain slashes, so ServeMux patterns cannot split the name from what follows it; this is
// the one matcher that does, used for every per-repository endpoint: it splits at the last
// "/{what}" (or "/{what}/{ref}" for manifests) that names a known endpoint. The name and
// reference are validated by the registry package before anything is sent.
type repositoryRoutes map[string]func(w http.ResponseWriter, r *http.Request, repository, ref string)

func (rr repositoryRoutes) serve(w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	if i := strings.LastIndex(path, "/manifests/"); i > 0 && rr["manifests"] != nil {
		if h := rr["manifests"]; !strings.Contains(path[i+len("/manifests/"):], "/") {
			h(w, r, path[:i], path[i+len("/manifests/"):])
			return
		}
	}
	if i := strings.LastIndex(path, "/"); i > 0 {
		if h := rr[path[i+1:]]; h != nil && path[i+1:] != "manifests" {
			h(w, r, path[:i], "")
			return
		}
	}
	notFound(w, r)
}

// requireCatalog lets a request through only if its principal may read the catalog.
func requireCatalog(cat *catalog.Service, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := cat.CanList(r.Context()); err != nil {
			httperr.Write(w, r, err)
			return
		}
		next(w, r)
	}
}

// CORS returns the CORS policy for /v2 and /api. Preflights are always answered here, never
// forwarded: registries with auth answer OPTIONS with 401, which browsers treat as a failure.
// Credentials (cookies, Authorization) are allowed only for explicitly listed origins; a "*"
// origin gets CORS without credentials. With no origins configured, only same-origin pages
// (the UI Berth serves itself) can call the API.
func CORS(origins []string) *cors.Cors {
	allowed := map[string]bool{}
	wildcard := false
	for _, o := range origins {
		if o == "*" {
			wildcard = true
		}
		allowed[o] = true
	}
	return cors.New(cors.Options{
		AllowOriginFunc: func(origin string) bool { return wildcard || allowed[origin] },
		AllowedMethods: []string{
			http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
			http.MethodPatch, http.MethodDelete,
		},
		AllowedHeaders: []string{
			"Authorization", "Accept", "Accept-Encoding", "Content-Type", "Content-Length",
			"Content-Range", "Range", "Docker-Content-Digest", "If-None-Match", "X-Request-Id",
		},
		ExposedHeaders: []string{
			"Docker-Content-Digest", "Link", "Content-Range", "Content-Length", "WWW-Authenticate",
			"Docker-Distribution-Api-Version", "Docker-Upload-Uuid", "Location", "Range", "ETag",
			"OCI-Filters-Applied", "X-Request-Id",
		},
		AllowCredentials:   !wildcard,
		MaxAge:             600,
		OptionsPassthrough: false,
	})
}

// readiness reports whether the registry answers /v2/ at all (401 counts as up: the registry
// is there and wants credentials) and the event store answers; either failing makes Berth
// unready. A shared Redis is reported without making Berth unready: Berth works without the
// cache, and taking every replica out because the cache is down would be worse.
func readiness(s Services) http.Handler {
	client := &http.Client{Transport: s.Registry.Transport(), Timeout: 3 * time.Second}
	target := s.Registry.Address().String() + "/v2/"
	host := s.Registry.Address().Host
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		body := map[string]string{"status": "ready", "registry": host}
		if s.Store != nil {
			body["store"] = "ok"
			if err := s.Store.Ping(ctx); err != nil {
				body["status"], body["store"] = "store unavailable", "unreachable"
				httperr.WriteJSON(w, http.StatusServiceUnavailable, body)
				return
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		resp, err := client.Do(req)
		if err != nil {
			body["status"] = "registry unreachable"
			httperr.WriteJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			body["status"] = fmt.Sprintf("registry answered %d", resp.StatusCode)
			httperr.WriteJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		if s.Redis != nil {
			body["cache"] = "redis ok"
			if err := s.Redis.Ping(ctx); err != nil {
				body["cache"] = "redis unreachable"
			}
		}
		httperr.WriteJSON(w, http.StatusOK, body)
	})
}
