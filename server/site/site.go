// Package site wires Berth's HTTP surface: the go-app UI, static assets, the /v2 proxy, the
// /api/v1 read API, CORS and health endpoints, in one handler.
package site

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"

	apiv1 "github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/ui"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/catalogs"
	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/reqlog"
	"github.com/berth-registry/berth/server/retention"
	"github.com/berth-registry/berth/server/scan"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/webhooks"
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
	// Catalogs, if set, serves the same reads for every registry endpoint (/api/v1/r/…) and
	// searches across them.
	Catalogs *catalogs.Set
	// Sessions signs users in and puts their principal into each request.
	Sessions *session.Manager
	// Jobs runs write operations.
	Jobs *ops.Manager
	// Activity, if set, serves /api/v1/events and /api/v1/stats.
	Activity *events.API
	// Charts, if set, serves chart pages' data, the classic chart repository (/charts) and
	// the ChartMuseum API (/api/charts).
	Charts *charts.Service
	// Scans, if set, serves Berth's own scan reports and the vulnerability database's state.
	Scans *scan.Service
	// Contents, if set, serves layer file indexes, diffs and supply-chain documents.
	Contents *contents.Service
	// Webhook, if set, receives registry notifications at Config.EventsPath.
	Webhook http.Handler
	// Metrics, if set, is served at /metrics.
	Metrics http.Handler
	// Redis, if set, is the shared cache, reported by /healthz/deps.
	Redis *cache.Redis
	// Store, if set, is the event store, reported by /healthz/deps.
	Store interface{ Ping(context.Context) error }
	// Authenticator checks every request's credentials once, at the edge (required when
	// Sessions is set): Berth's accounts with --access-control, else the registry's.
	Authenticator access.Authenticator
	// Started, if set, says whether this replica has started and is not shutting down
	// (/readyz); nil means it always is.
	Started func() bool
	// Registerer, if set, takes the dependency gauges served at /metrics.
	Registerer prometheus.Registerer
	// Access, if set, is access control (--access-control): the token service, the account
	// API and the sign-in flows. What anyone may do is the services' Authorizer's to say.
	Access *auth.Control
	// Replication, if set, serves registry endpoints and replication rules (administrators).
	Replication *replication.Service
	// Governance, if set, serves the namespace policies' API (immutable tags, quotas).
	Governance *governance.Service
	// Webhooks, if set (with Governance), serves the outbound webhooks' API.
	Webhooks *webhooks.Service
	// Retention, if set (with Governance), serves the scheduled retention policies' API.
	Retention *retention.Service
}

// New returns Berth's root handler: one route table for everything Berth serves.
func New(s Services) (*Root, error) {
	cfg := s.Config
	files, err := newAssets(cfg.WebDir)
	if err != nil {
		return nil, err
	}
	c := CORS(cfg.CORSOrigins)
	ui.Routes()

	trusted, err := access.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	mux := &table{ServeMux: http.NewServeMux()}
	mux.Handle("/v2/", c.Handler(s.Proxy))
	mux.Handle("/v2", c.Handler(s.Proxy))

	mountAPI(mux, s, c)
	mux.Handle("/api/", c.Handler(http.HandlerFunc(notFound)))
	// /auth/… is the token service's and the sign-in flows'; anything else there (all of it
	// without access control) is a JSON 404, never the UI page.
	mux.Handle("/auth/", c.Handler(http.HandlerFunc(notFound)))
	if s.Access != nil {
		tokens(mux, s.Access.Tokens, trusted)
		if s.Access.Setup != nil {
			mux.Handle("/setup", s.Access.Setup) // only while no administrator exists
		}
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
	mux.Handle("GET /readyz", readiness(s)) // health.go
	deps := newDeps(s)
	deps.register(s.Registerer)
	mux.Handle("GET /healthz/deps", c.Handler(deps))
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
		src = pageSource{cat: s.Catalog, activity: s.Activity, jobs: s.Jobs, session: func(ctx context.Context) apiv1.Session { return sessionOf(s, ctx) }}
	}
	mux.Handle("/", pages(app, src, identify(s)))
	h := reqlog.Middleware(newGuard(cfg).wrap(withClient(trusted, compress(mux.ServeMux)))) // compress.go
	return &Root{Handler: h, patterns: mux.patterns}, nil
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
			"Content-Range", "Range", "Docker-Content-Digest", "If-None-Match", "X-Request-Id", "Idempotency-Key",
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
