package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/proxy"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// serve runs Berth until ctx is done, then shuts down gracefully. ready, if set, is called
// with the UI's URL once Berth accepts requests. Every service is built here, once, from the
// configuration, and handed to site, which only routes.
func serve(ctx context.Context, cfg config.Config, ready func(url string, root *site.Root)) (err error) {
	st, err := store.Open(ctx, cfg.DatabaseDSN())
	if err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	// Deferred first, so it runs last: after the servers drained and the writer stopped.
	defer func() { err = errors.Join(err, st.Close()) }()
	secret, err := eventsSecret(cfg)
	if err != nil {
		return err
	}
	docs, shared, err := newCache(cfg)
	if err != nil {
		return err
	}
	// One throttle for every credential check, counted with the other replicas in a Redis.
	var counter session.Counter
	if shared != nil {
		counter = shared
	}
	limiter := session.NewCredentialLimiter(counter)
	var control *auth.Control // nil: the registry decides who may do what, as without Berth
	if cfg.AccessControl {
		if control, err = newAccessControl(ctx, cfg, st, limiter); err != nil {
			return err
		}
	}
	gov, err := newGovernance(cfg, st, control) // nil without access control
	if err != nil {
		return err
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hook, err := events.NewWebhook(events.Options{Store: st, Secret: secret, Registerer: metrics})
	if err != nil {
		return err
	}
	defer hook.Close()

	// Listen before starting the embedded registry: it needs the webhook's address.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	upstream := cfg.Registry
	var servers []*http.Server
	var registryHost string
	var manifests catalog.ManifestLister // nil unless the registry's storage is at hand
	if cfg.Embedded() {
		notify := embedded.WithNotifications("berth", "http://"+loopbackAddr(ln.Addr())+cfg.EventsPath,
			http.Header{"Authorization": {"Bearer " + secret}}, 5*time.Second, time.Second)
		regSrv, embeddedReg, addr, err := startEmbedded(ctx, cfg, control, gov, notify)
		if err != nil {
			return err
		}
		servers = append(servers, regSrv)
		upstream = "http://" + addr
		registryHost = addr
		manifests = embeddedReg
	}

	svc, err := newServices(ctx, parts{cfg: cfg, upstream: upstream, manifests: manifests, st: st, hook: hook,
		metrics: metrics, control: control, docs: docs, shared: shared, limiter: limiter, gov: gov})
	if err != nil {
		return err
	}
	// Ready once jobs run (every table migrated), unready again from the shutdown on.
	var started atomic.Bool
	svc.Started = started.Load
	handler, err := site.New(svc)
	if err != nil {
		return err
	}
	srv := newHTTPServer(handler)
	servers = append([]*http.Server{srv}, servers...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if registryHost != "" && !cfg.NoDemo {
		// Seeding first means the first page a new user opens already shows the demo; the
		// UI server runs already, so the pushes' notifications are stored as they happen.
		svc.Catalog.SetSeeding(true)
		seedDemo(ctx, registryHost, control, func() {
			if cfg.VulnDBURL == "" {
				seedDemoAdvisories(ctx, st) // scan.go
			}
		})
		svc.Catalog.SetSeeding(false)
	}
	if svc.Catalogs != nil {
		defer svc.Catalogs.Close() // the endpoints' index syncs, before the store closes
	}
	// The indexer reads pushed manifests into the metadata index as their notifications come.
	ictx, stopIndexer := context.WithCancel(ctx)
	var indexer sync.WaitGroup
	indexer.Go(func() { svc.Catalog.RunIndexer(ictx) })
	defer func() {
		stopIndexer()
		indexer.Wait()
	}()
	// Jobs — and the periodic sync and pruning, which run as jobs on one replica at a time —
	// start once the registry is up.
	if err := svc.Jobs.Start(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("jobs: %w", err)
	}
	started.Store(true)
	uiURL := "http://" + browserAddr(ln.Addr())
	slog.Info("Berth is running: open it in your browser", "url", uiURL, "registry", upstream, "version", version,
		"read_only", cfg.ReadOnly, "anonymous_writes", cfg.AnonymousWrites)
	announceSetup(control, uiURL)
	if ready != nil {
		ready(uiURL, handler)
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down")
	started.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	// Running jobs are interrupted (never leaving a partial tag) and start over on another
	// replica, or here after a restart.
	if err := svc.Jobs.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("jobs: %w", err))
	}
	// Open pages' waits for changes end now, not after their 25 s.
	svc.Catalog.StopWaits()
	if svc.Catalogs != nil {
		svc.Catalogs.StopWaits()
	}
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newHTTPServer returns the server for Berth's listener. Headers must arrive within 10 s and
// a request body may not stall for more than a minute between reads; there is no overall
// read or write timeout, since blob uploads and downloads stream for as long as they need.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
}

// newServices builds every service Berth runs from the configuration, once.
// parts are what newServices builds the services from: made by serve, in order.
type parts struct {
	cfg       config.Config
	upstream  string
	manifests catalog.ManifestLister // nil unless the registry's storage is at hand
	st        store.Store
	hook      *events.Webhook
	metrics   *prometheus.Registry
	control   *auth.Control // nil: the registry decides
	docs      cache.Cache
	shared    *cache.Redis // nil without --cache
	limiter   *session.Limiter
	gov       *governance.Service // nil without access control
}

func newServices(ctx context.Context, p parts) (site.Services, error) {
	cfg, upstream, manifests, st, hook, metrics, control, docs, shared := p.cfg, p.upstream, p.manifests, p.st, p.hook, p.metrics, p.control, p.docs, p.shared
	svcAuth, err := serviceAuth(cfg)
	if err != nil {
		return site.Services{}, err
	}
	if control != nil {
		// With access control, nobody reads with Berth's rights by default: anonymous
		// requests get anonymous tokens, users their own (the registry decides). Berth's
		// own reads go through ownReg below.
		svcAuth = nil
	}
	marks := internalMarks(cfg, p.gov) // Berth's reads pass the embedded registry's pull policies
	reg, err := registry.New(registry.Options{
		URL: upstream, Auth: svcAuth, PerUser: true, ServiceWrites: cfg.AnonymousWrites,
		Timeout: cfg.UpstreamTimeout, Concurrency: cfg.Concurrency, Guard: writeGuard(p.gov), Transport: marks.transport(),
	})
	if err != nil {
		return site.Services{}, err
	}
	// ownReg is Berth's own access to the registry (sync, catalog walks, the index): reg
	// itself, or, with access control, a client presenting tokens Berth mints for itself.
	// authz is the one authorizer every service is given: the registry decides, or the
	// policy does.
	ownReg := reg
	var authz access.Authorizer = registry.NewAuthorizer(reg, 0)
	if control != nil {
		if ownReg, err = control.Connect(registry.Options{URL: upstream, Timeout: cfg.UpstreamTimeout, Concurrency: cfg.Concurrency, Transport: marks.transport()}); err != nil {
			return site.Services{}, err
		}
		authz = control.Authorizer(ownReg.Catalog)
	}
	if p.gov != nil {
		p.gov.Connect(ownReg, authz)
	}
	up, _ := url.Parse(upstream)
	relay := &hookRelay{}                                      // governance_events.go: webhooks, once built
	scans, err := newScans(cfg, reg, ownReg, authz, st, relay) // scan.go
	if err != nil {
		return site.Services{}, err
	}
	if err := attachScans(cfg, upstream, svcAuth, control, p.gov, scans); err != nil { // scan.go
		return site.Services{}, err
	}
	admit, err := pullPolicies(cfg, scans, p.gov) // pullpolicy.go
	if err != nil {
		return site.Services{}, err
	}
	px, err := proxy.New(proxy.Options{Upstream: up, Timeout: cfg.UpstreamTimeout, ReadOnly: cfg.ReadOnly, Transport: reg.Transport(), Admit: admit})
	if err != nil {
		return site.Services{}, err
	}
	var v2 http.Handler = px
	if !cfg.Embedded() { // the embedded registry is guarded where it listens
		v2 = guardV2(p.gov, px)
	}
	pullHost := cfg.PublicHost
	if pullHost == "" {
		pullHost = up.Host
	}
	// The metadata index is filled by Berth's own reads (ownReg: the push indexer, the sync)
	// and shared by everyone; every read of it asks authz first.
	known, err := knownRepositories(cfg)
	if err != nil {
		return site.Services{}, err
	}
	catOpts := catalog.Options{Registry: reg, Own: ownReg, PullHost: pullHost, Cache: docs, Manifests: manifests, Index: st, Authorizer: authz, Known: known,
		Worst: st.WorstSeverities, Reports: st.ScanReports}
	// Notifications are trusted to move indexed tags while the webhook is wired up and the
	// last sync found nothing they had missed; otherwise tags are revalidated after the TTL.
	var syncer *events.Syncer
	wired := cfg.Embedded() || cfg.EventsSecretFile != "" || cfg.EventsInsecure
	catOpts.Trusted = func() bool { return wired && (syncer == nil || !syncer.Missed()) }
	// The walk filling the index shows its progress on every replica (through the store)
	// and takes first the repositories callers open on this one.
	catOpts.Progress = func(ctx context.Context) (api.IndexProgress, error) { return events.ReadProgress(ctx, st) }
	catOpts.Opened = func(repository string) {
		if syncer != nil {
			syncer.Prioritize(repository)
		}
	}
	cat := catalog.New(catOpts)
	if cfg.SyncInterval > 0 {
		syncer, err = events.NewSyncer(events.SyncOptions{
			Index:    cat,
			Registry: ownReg, Store: st, Record: hook.Record, Registerer: metrics,
		})
		if err != nil {
			return site.Services{}, err
		}
	}
	// A push or delete shows at once instead of after the tag TTL.
	hook.OnCommit(func(evs []store.Event) {
		for _, e := range evs {
			if e.Action == store.ActionPush || e.Action == store.ActionDelete {
				cat.Invalidate(e.Repository, e.Tag)
			}
		}
		cat.IndexEvents(evs)
	})
	// With a Redis, every replica sees every session; sessions are checked by the one
	// authenticator (authn), whose throttle (limiter) counts with the other replicas.
	var sessionStore session.Store
	var sessionOpts []session.Option
	if shared != nil {
		sessionStore = shared
	}
	check := session.Throttled(p.limiter, reg.CheckCredentials)
	var authenticator access.Authenticator = registry.NewAuthenticator(check)
	if control != nil {
		check = control.Accounts.CheckSignIn // local accounts, throttled by them
		authenticator = control.Accounts
		// Static sites' access tokens are credentials; sign-out revokes an OpenID Connect
		// session's token.
		sessionOpts = append(sessionOpts, session.WithBearer(control.Accounts.BearerUser), session.WithSignOut(control.Accounts.EndSession))
	}
	sessions := session.New(cfg.SessionTTL, check, cat.Forget, sessionStore, sessionOpts...)
	secret, err := clusterSecret(cfg)
	if err != nil {
		return site.Services{}, err
	}
	hooks, err := newWebhooks(cfg, st, control, p.gov, secret) // nil without access control
	if err != nil {
		return site.Services{}, err
	}
	relay.hooks = hooks
	periodic, err := periodicTasks(cfg, st, syncer)
	if err != nil {
		return site.Services{}, err
	}
	periodic = append(periodic, ldapCheck(cfg, control)...)
	repl, err := newReplication(cfg, upstream, st, svcAuth, control, p.gov, secret, metrics, relay) // replication_wire.go
	if err != nil {
		return site.Services{}, err
	}
	periodic = append(periodic, replicationSchedule(repl))
	ret, err := newRetention(cfg, upstream, st, control, p.gov, &periodic) // nil without access control
	if err != nil {
		return site.Services{}, err
	}
	periodic = append(periodic, scans.Periodic(cfg.VulnDBInterval, cfg.ScanSweepInterval)...)
	hook.OnCommit(scans.Pushed)
	jobs, err := ops.NewManager(ctx, ops.Options{
		Registry:   reg,
		Authorizer: authz,
		Remote:     remoteRegistries(cfg, allowEndpoint(repl)),
		Invalidate: cat.Invalidate,
		Record:     hook.Record,
		Store:      st,
		Secret:     secret,
		Retention:  cfg.JobsRetention,
		JobTimeout: cfg.JobTimeout,
		ReadOnly:   cfg.ReadOnly,
		MaxRunning: cfg.MaxJobs, MaxPerUser: cfg.MaxJobsPerUser,
		Periodic: periodic,
		Workers:  otherWorkers(repl, hooks), Kinds: otherKinds, // governance.go
		// Uploaded archives wait here for their import job, on whichever replica runs it:
		// replicas need the data dir's imports/ on a volume they share.
		ImportDir: filepath.Join(cfg.DataDir, "imports"), MaxImportSize: cfg.MaxImportSize,
		Queues:   []ops.Kind{scans.Kind()},
		OnFailed: relay.jobFailed, // webhooks' job.failed
	})
	if err != nil {
		return site.Services{}, err
	}
	repl.SetQueue(jobs)
	hook.OnCommit(repl.OnEvents)
	go repl.Listen(ctx)
	if hooks != nil {
		hooks.Connect(insertInto(jobs))
		hook.OnCommit(publishRegistryEvents(hooks))
	}
	scans.Attach(jobs)
	chartRepo, err := charts.New(charts.Options{
		Registry: reg, Prefix: cfg.ChartsPrefix, AllowOverwrite: cfg.ChartsAllowOverwrite,
		MaxChartSize: cfg.ChartsMaxSize, PullHost: pullHost, Concurrency: cfg.Concurrency,
		Authorizer: authz,
	})
	if err != nil {
		return site.Services{}, err
	}
	hook.OnCommit(func(evs []store.Event) {
		for _, e := range evs {
			if e.Action == store.ActionPush || e.Action == store.ActionDelete {
				chartRepo.Invalidate(e.Repository)
			}
		}
	})
	s := site.Services{
		Config: cfg, Version: version, Registry: reg, Proxy: v2, Catalog: cat, Sessions: sessions,
		Jobs: jobs, Activity: events.NewAPI(st, authz), Webhook: hook, Store: st, Charts: chartRepo,
		Contents: contents.New(contents.Options{Registry: reg, Store: st, Authorizer: authz, Scans: scans,
			TagNames: cat.KeptTagNames, AuthorizeList: cat.CanReadList, HoldBack: cat.BehindAnswers}),
		Metrics:    promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}),
		Registerer: metrics,
		Access:     control, Authenticator: authenticator, Governance: p.gov, Webhooks: hooks, Retention: ret,
		Replication: repl, Catalogs: endpointCatalogs(cfg, cat, repl),
		Scans: scans,
	}
	if shared != nil {
		s.Redis = shared
	}
	if !cfg.Embedded() && cfg.EventsSecretFile == "" && !cfg.EventsInsecure {
		// Forged events would fill the activity log and move the catalog: without a shared
		// secret the webhook takes nothing, unless the operator says otherwise.
		slog.Warn("registry notifications are refused: set --events-secret-file (or --events-insecure)", "path", cfg.EventsPath)
		s.Webhook = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httperr.Write(w, r, httperr.New(api.CodeUnauthorized, "This Berth takes registry notifications only with a shared secret (--events-secret-file); none is configured."))
		})
	}
	return s, nil
}

// remoteRegistries returns how copies reach the registries the operator allowed, or nil when
// none is: each gets its own client whose every dial — redirects and token realms included —
// goes through a guard that refuses internal addresses for any host but the allowed one.
func remoteRegistries(cfg config.Config, endpoint func(addr string) bool) func(url, username, password string) (*registry.Client, error) {
	allowed := map[string]bool{}
	for _, r := range cfg.RemoteRegistries {
		allowed[r] = true
	}
	return func(raw, username, password string) (*registry.Client, error) {
		addr, err := registry.ParseAddress(raw)
		if err != nil || (!allowed[addr.String()] && !endpoint(addr.String())) {
			if len(allowed) == 0 {
				return nil, httperr.New(api.CodeDenied, "Copies to or from other registries are not enabled (--remote-registries, --extra-registry or berth registry add).")
			}
			return nil, ops.ErrRemoteNotAllowed(raw, cfg.RemoteRegistries)
		}
		var auth authn.Authenticator
		if username != "" {
			auth = &authn.Basic{Username: username, Password: password}
		}
		guard := registry.NewDialGuard([]string{addr.Host}, nil)
		return registry.New(registry.Options{
			URL: addr.String(), Auth: auth, ServiceWrites: true,
			Transport: registry.NewTransport(cfg.UpstreamTimeout, guard),
			Timeout:   cfg.UpstreamTimeout, Concurrency: cfg.Concurrency,
		})
	}
}

// serviceAuth returns Berth's own registry credentials, read from the password file once at
// start; nil when none are configured.
func serviceAuth(cfg config.Config) (authn.Authenticator, error) {
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
// (nil without one), for readiness and sessions. It is not contacted here, so a Redis that is
// down at start means cache misses, not a failed start.
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

// periodicTasks are the registry sync and the event retention, each run by one replica of
// the cluster per period (unique periodic jobs on River).
func periodicTasks(cfg config.Config, st store.Store, syncer *events.Syncer) ([]ops.Periodic, error) {
	var tasks []ops.Periodic
	if syncer != nil {
		tasks = append(tasks, ops.Periodic{
			Name: "sync", Interval: cfg.SyncInterval,
			// The embedded registry's demo notifications are still being delivered at start;
			// its webhook is wired up, so the first sync can wait a period.
			RunOnStart: !cfg.Embedded(),
			Run: func(ctx context.Context) error {
				_, err := syncer.Sync(ctx)
				return err
			},
		})
	}
	if cfg.EventsRetention > 0 {
		tasks = append(tasks, ops.Periodic{
			Name: "prune-events", Interval: min(time.Hour, cfg.EventsRetention), RunOnStart: true,
			Run: func(ctx context.Context) error {
				n, err := st.Prune(ctx, time.Now().Add(-cfg.EventsRetention))
				if n > 0 {
					slog.InfoContext(ctx, "pruned old events", "events", n, "retention", cfg.EventsRetention)
				}
				return err
			},
		})
	}
	return tasks, nil
}

// clusterSecret reads the secret every replica shares from --secret-file, or from
// <data-dir>/secret, which the first start writes (exclusively: replicas starting at once on
// one data dir agree on one secret).
func clusterSecret(cfg config.Config) ([]byte, error) {
	path := cfg.SecretFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "secret")
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("cluster secret: %w", err)
		}
		var b [32]byte
		_, _ = rand.Read(b[:])
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, werr := f.WriteString(hex.EncodeToString(b[:]) + "\n")
			if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
				return nil, fmt.Errorf("cluster secret: %w", err)
			}
			slog.Info("generated the cluster secret; give every replica the same one (--secret-file)", "path", path)
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("cluster secret: %w", err)
		}
	}
	for range 50 {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--secret-file: %w", err)
		}
		if secret := strings.TrimSpace(string(b)); len(secret) >= 16 {
			return []byte(secret), nil
		}
		if cfg.SecretFile != "" {
			return nil, fmt.Errorf("--secret-file %s: the secret must be at least 16 characters", path)
		}
		time.Sleep(20 * time.Millisecond) // another replica is writing it
	}
	return nil, fmt.Errorf("cluster secret %s is empty", path)
}

// eventsSecret reads the webhook's bearer token. The embedded registry gets a random one when
// none is configured, so nothing else can post events into Berth; an external registry
// without one is accepted only with --events-insecure (config checks that).
func eventsSecret(cfg config.Config) (string, error) {
	if cfg.EventsSecretFile != "" {
		b, err := os.ReadFile(cfg.EventsSecretFile)
		if err != nil {
			return "", fmt.Errorf("--events-secret-file: %w", err)
		}
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return "", fmt.Errorf("--events-secret-file %s is empty", cfg.EventsSecretFile)
		}
		return secret, nil
	}
	if cfg.Embedded() {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("events secret: %w", err)
		}
		return hex.EncodeToString(b[:]), nil
	}
	if cfg.EventsInsecure {
		slog.Warn("the notification webhook accepts events from anyone (--events-insecure)", "path", cfg.EventsPath)
	}
	return "", nil
}
