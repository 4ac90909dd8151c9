// Package site wires Berth's HTTP surface: the go-app UI, static assets, the /v2 proxy, the
// /api/v1 read API, CORS and health endpoints, in one handler.
package site

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/rs/cors"

	"github.com/berth-registry/berth/app/ui"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/proxy"
	"github.com/berth-registry/berth/server/reqlog"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/store"
)

// Options is what New needs beyond the configuration.
type Options struct {
	// Config is the parsed configuration.
	Config config.Config
	// Upstream is the registry base URL the proxy and API use (the embedded one's address
	// when Config.Registry is empty).
	Upstream string
	// Version is the build version, shown in the UI and used to bust caches.
	Version string
	// Webhook, if set, receives registry notifications at Config.EventsPath.
	Webhook http.Handler
	// Metrics, if set, is served at /metrics.
	Metrics http.Handler
	// Activity, if set, serves /api/v1/events and /api/v1/stats.
	Activity http.Handler
	// Record, if set, stores an audit event for every write a job makes (events.Webhook.Record).
	Record func(ctx context.Context, events []store.Event) error
	// Stop, when done, cancels running write jobs, so that shutting down ends their progress
	// streams instead of waiting for them (a cancelled job never leaves a partial tag).
	Stop context.Context
}

// New returns Berth's root handler.
func New(opts Options) (http.Handler, error) {
	cfg := opts.Config
	up, err := url.Parse(opts.Upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", opts.Upstream, err)
	}
	transport := proxy.NewTransport(cfg.UpstreamTimeout)
	px, err := proxy.New(proxy.Options{Upstream: up, Timeout: cfg.UpstreamTimeout, ReadOnly: cfg.ReadOnly, Transport: transport})
	if err != nil {
		return nil, err
	}
	auth, err := ServiceAuth(cfg)
	if err != nil {
		return nil, err
	}
	docs, shared, err := newCache(cfg)
	if err != nil {
		return nil, err
	}
	cat, err := catalog.New(catalog.Options{
		Registry:    opts.Upstream,
		Transport:   transport,
		Concurrency: cfg.Concurrency,
		PullHost:    pullHost(cfg, up),
		Auth:        auth,
		Cache:       docs,
	})
	if err != nil {
		return nil, err
	}
	// With a Redis, every replica sees every session; without, sessions live in this process.
	var sessionStore session.Store
	if shared != nil {
		sessionStore = shared
	}
	sessions := session.New(cfg.SessionTTL, cat.CheckCredentials, cat.Forget, sessionStore)
	files, err := newAssets(cfg.WebDir)
	if err != nil {
		return nil, err
	}
	c := CORS(cfg.CORSOrigins)
	ui.Routes()

	mux := http.NewServeMux()
	mux.Handle("/v2/", c.Handler(px))
	mux.Handle("/v2", c.Handler(px))
	mux.Handle("/api/v1/session", c.Handler(sessions.Handler()))
	mux.Handle("/api/v1/", c.Handler(sessions.Middleware(cat.Handler())))
	jobs := ops.NewManager(ops.Options{
		Registry:   ops.Registry{URL: opts.Upstream, Auth: auth, Transport: transport},
		Invalidate: cat.Invalidate,
		Record:     opts.Record,
		ReadOnly:   cfg.ReadOnly,
	})
	if opts.Stop != nil {
		go func() {
			<-opts.Stop.Done()
			jobs.Shutdown()
		}()
	}
	mux.Handle("/api/v1/jobs", c.Handler(sessions.Middleware(jobs.Handler())))
	mux.Handle("/api/v1/jobs/", c.Handler(sessions.Middleware(jobs.Handler())))
	if opts.Activity != nil {
		// Activity names repositories: only someone who may read the catalog sees it.
		activity := c.Handler(sessions.Middleware(requireCatalog(cat, opts.Activity)))
		mux.Handle("GET /api/v1/events", activity)
		mux.Handle("GET /api/v1/stats", activity)
		mux.Handle("GET /api/v1/stats/", activity)
	}
	if n, ok := opts.Webhook.(interface{ OnCommit(func([]store.Event)) }); ok {
		// A push or delete shows at once instead of after the tag TTL.
		n.OnCommit(func(evs []store.Event) {
			for _, e := range evs {
				if e.Action == "push" || e.Action == "delete" {
					cat.Invalidate(e.Repository, e.Tag)
				}
			}
		})
	}
	if opts.Webhook != nil {
		// No CORS: only the registry posts here, never a browser.
		mux.Handle("POST "+cfg.EventsPath, opts.Webhook)
	}
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, r, httperr.New(http.StatusNotFound, "NOT_FOUND", "no such API endpoint: "+r.URL.Path))
	}))
	// CORS too: a UI served from elsewhere (berth export) polls it to learn Berth is back.
	mux.Handle("GET /healthz", c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": opts.Version})
	})))
	mux.Handle("GET /readyz", readiness(up, transport, shared))
	mux.Handle("/web/", files)
	// The page and PWA settings live in ui.go, shared with the static export.
	mux.Handle("/", uiHandler(files, "", files.wasmSize(), files.version(opts.Version), map[string]string{
		ui.EnvVersion:  opts.Version,
		ui.EnvReadOnly: fmt.Sprint(cfg.ReadOnly),
	}))
	return reqlog.Middleware(mux), nil
}

// requireCatalog lets a request through only if its principal may read the catalog.
func requireCatalog(cat *catalog.Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := cat.Repositories(r.Context(), "", 0, 1); err != nil {
			httperr.Write(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServiceAuth returns Berth's own registry credentials, read from the password file once at
// start; nil when none are configured.
func ServiceAuth(cfg config.Config) (authn.Authenticator, error) {
	if cfg.RegistryUsername == "" {
		return nil, nil
	}
	b, err := os.ReadFile(cfg.RegistryPasswordFile)
	if err != nil {
		return nil, fmt.Errorf("--registry-password-file: %w", err)
	}
	password := strings.TrimRight(string(b), "\r\n")
	if password == "" {
		return nil, fmt.Errorf("--registry-password-file %s is empty", cfg.RegistryPasswordFile)
	}
	return authn.FromConfig(authn.AuthConfig{Username: cfg.RegistryUsername, Password: password}), nil
}

// newCache builds the manifest cache from --cache and --cache-size: an in-process LRU, with
// a Redis shared by all replicas behind it when --cache names one. The Redis is returned too
// (nil without one), for readiness; it stays open for the life of the process. It is not
// contacted here, so a Redis that is down at start means cache misses, not a failed start.
func newCache(cfg config.Config) (cache.Cache, *cache.Redis, error) {
	local := cache.NewLRU(cfg.CacheSize)
	if cfg.Cache == "" {
		return local, nil, nil
	}
	shared, err := cache.NewRedis(cfg.Cache)
	if err != nil {
		return nil, nil, fmt.Errorf("--cache: %w", err)
	}
	slog.Info("caching manifests in process and in redis", "redis", shared.Addr(), "cache_size", cfg.CacheSize)
	return cache.NewTiered(local, shared), shared, nil
}

func pullHost(cfg config.Config, up *url.URL) string {
	if cfg.PublicHost != "" {
		return cfg.PublicHost
	}
	return up.Host
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

// readiness reports whether the registry answers /v2/ at all; 401 counts as up, since it
// means the registry is there and wants credentials. With a shared Redis cache it also
// reports whether that answers, without making Berth unready: Berth works without the cache,
// and taking every replica out because the cache is down would be worse.
func readiness(up *url.URL, rt http.RoundTripper, shared *cache.Redis) http.Handler {
	client := &http.Client{Transport: rt, Timeout: 3 * time.Second}
	target := up.Scheme + "://" + up.Host + "/v2/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		resp, err := client.Do(req)
		if err != nil {
			httperr.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "registry unreachable", "registry": up.Host})
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			httperr.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": fmt.Sprintf("registry answered %d", resp.StatusCode), "registry": up.Host})
			return
		}
		body := map[string]string{"status": "ready", "registry": up.Host}
		if shared != nil {
			body["cache"] = "redis ok"
			if err := shared.Ping(ctx); err != nil {
				body["cache"] = "redis unreachable"
			}
		}
		httperr.WriteJSON(w, http.StatusOK, body)
	})
}
