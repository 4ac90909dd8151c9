package site

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// readiness says whether this replica can serve: started (store and job tables migrated, jobs
// running) and not shutting down. A dependency that is down does not count: it is down for
// every replica alike, and taking them all out of the balancer would only turn clear 503s
// and banners into a gateway's error page. /healthz/deps reports dependencies.
func readiness(s Services) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Started != nil && !s.Started() {
			httperr.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
			return
		}
		httperr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// depsMaxAge is how long one round of dependency checks answers /healthz/deps and /metrics:
// every open UI polls, and the checks must not load the registry or the database.
const depsMaxAge = 2 * time.Second

// depsTimeout bounds one dependency check.
const depsTimeout = 2 * time.Second

// deps checks the registry, the store and the shared cache, remembering since when each is in
// its state. It serves /healthz/deps and is a Prometheus collector.
type deps struct {
	checks map[string]func(context.Context) error

	mu    sync.Mutex
	at    time.Time // of the last round of checks
	state map[string]api.Dependency

	up, since *prometheus.Desc
}

func newDeps(s Services) *deps {
	d := &deps{checks: map[string]func(context.Context) error{}, state: map[string]api.Dependency{},
		up: prometheus.NewDesc("berth_dependency_up", "Whether a dependency (registry, store, cache) answers: 1 or 0.", []string{"dependency"}, nil),
		since: prometheus.NewDesc("berth_dependency_since_timestamp_seconds", "Since when a dependency has been in its current state, as this replica saw it.",
			[]string{"dependency"}, nil)}
	if s.Registry != nil {
		d.checks["registry"] = s.Registry.Ping
	}
	if s.Store != nil {
		d.checks["store"] = s.Store.Ping
	}
	if s.Redis != nil {
		d.checks["cache"] = s.Redis.Ping
	}
	return d
}

// current returns every dependency's state, checking again when the last round is older than
// depsMaxAge; concurrent callers wait for the one round in flight.
func (d *deps) current(ctx context.Context) map[string]api.Dependency {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.at) < depsMaxAge {
		return d.state
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), depsTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := make(map[string]api.Dependency, len(d.checks))
	for name, check := range d.checks {
		wg.Go(func() {
			status := api.DependencyOK
			if err := check(ctx); err != nil {
				status = api.DependencyUnavailable
				slog.Debug("dependency check failed", "dependency", name, "err", err)
			}
			mu.Lock()
			defer mu.Unlock()
			next[name] = api.Dependency{Status: status, Since: time.Now().UTC()}
			if old, ok := d.state[name]; ok && old.Status == status {
				next[name] = old
			} else if ok {
				slog.Warn("dependency changed state", "dependency", name, "status", status)
			}
		})
	}
	wg.Wait()
	d.state, d.at = next, time.Now()
	return next
}

// ServeHTTP answers GET /healthz/deps, always 200: the body says what is down.
func (d *deps) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := d.current(r.Context())
	out := api.Dependencies{Status: api.DependencyOK, Registry: st["registry"], Store: st["store"]}
	if c, ok := st["cache"]; ok {
		out.Cache = &c
	}
	for _, dep := range st {
		if dep.Down() {
			out.Status = api.DependenciesDegraded
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, out)
}

// Describe implements prometheus.Collector.
func (d *deps) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.up
	ch <- d.since
}

// Collect implements prometheus.Collector: a scrape sees the states as /healthz/deps does.
func (d *deps) Collect(ch chan<- prometheus.Metric) {
	for name, dep := range d.current(context.Background()) {
		up := 0.0
		if !dep.Down() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, up, name)
		ch <- prometheus.MustNewConstMetric(d.since, prometheus.GaugeValue, float64(dep.Since.UnixNano())/1e9, name)
	}
}

// register adds the dependency gauges to the metrics, once per registerer.
func (d *deps) register(r prometheus.Registerer) {
	if r == nil {
		return
	}
	if err := r.Register(d); err != nil {
		slog.Warn("dependency metrics not registered", "err", err)
	}
}
