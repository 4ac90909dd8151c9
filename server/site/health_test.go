package site_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestReadinessIsThisReplicas: /readyz follows whether the replica has started, never the
// registry: a dead registry leaves it ready (and /healthz up) and shows in /healthz/deps.
func TestReadinessIsThisReplicas(t *testing.T) {
	cfg := config.Default()
	cfg.WebDir = t.TempDir()
	var started bool
	srv := httptest.NewServer(newSite(t, cfg, "http://127.0.0.1:1", nil, func(s *site.Services) {
		s.Started = func() bool { return started }
	}))
	t.Cleanup(srv.Close)
	if resp := do(t, http.MethodGet, srv.URL+"/readyz", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz before the start: %d, want 503", resp.StatusCode)
	}
	started = true
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp := do(t, http.MethodGet, srv.URL+path, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the registry down: %d, want 200", path, resp.StatusCode)
		}
	}
	if d := dependencies(t, srv.URL); !d.Registry.Down() || d.Status != api.DependenciesDegraded || d.Registry.Since.IsZero() {
		t.Errorf("deps with the registry down: %+v", d)
	}
}

// TestDependenciesFollowTheStore stops the event store under a running Berth: /readyz and
// /healthz stay 200, /healthz/deps and the gauges in /metrics say the store is unavailable.
func TestDependenciesFollowTheStore(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			var dsn string
			var stop func()
			if kind == "sqlite" {
				dsn = filepath.Join(t.TempDir(), "berth.db")
			} else {
				pg := storetest.StartPostgres(t)
				dsn, stop = pg.NewDatabase(t), func() { pg.Stop(t) }
			}
			st, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			if stop == nil {
				stop = func() { _ = st.Close() }
			}
			cfg := config.Default()
			cfg.WebDir = t.TempDir()
			metrics := prometheus.NewRegistry()
			srv := httptest.NewServer(newSite(t, cfg, registrytest.Open(t), nil, func(s *site.Services) {
				s.Store, s.Registerer, s.Metrics = st, metrics, promhttp.HandlerFor(metrics, promhttp.HandlerOpts{})
			}))
			t.Cleanup(srv.Close)
			if d := dependencies(t, srv.URL); d.Status != api.DependencyOK || d.Store.Down() || d.Registry.Down() || d.Cache != nil {
				t.Fatalf("with the store up: %+v", d)
			}
			stop()
			waitUntil(t, "the store reported unavailable", func() bool { return dependencies(t, srv.URL).Store.Down() })
			if d := dependencies(t, srv.URL); d.Registry.Down() || d.Status != api.DependenciesDegraded {
				t.Errorf("with the store down: %+v", d)
			}
			for _, path := range []string{"/healthz", "/readyz"} {
				if resp := do(t, http.MethodGet, srv.URL+path, nil); resp.StatusCode != http.StatusOK {
					t.Errorf("%s with the store down: %d, want 200", path, resp.StatusCode)
				}
			}
			raw, _ := io.ReadAll(do(t, http.MethodGet, srv.URL+"/metrics", nil).Body)
			for _, want := range []string{`berth_dependency_up{dependency="store"} 0`, `berth_dependency_up{dependency="registry"} 1`, `berth_dependency_since_timestamp_seconds{dependency="store"}`} {
				if !strings.Contains(string(raw), want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

func dependencies(t *testing.T, base string) api.Dependencies {
	t.Helper()
	resp := do(t, http.MethodGet, base+"/healthz/deps", nil)
	var d api.Dependencies
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz/deps: %d %v", resp.StatusCode, err)
	}
	return d
}

// waitUntil polls cond for up to a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
