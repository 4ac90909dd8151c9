package catalog_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store/storetest"
)

// walkGate fronts a registry: it holds the manifest HEADs of one repository until opened
// and records the order in which tag lists are asked for.
type walkGate struct {
	host   string
	held   atomic.Int64
	open   chan struct{}
	mu     sync.Mutex
	listed []string
}

func newWalkGate(t *testing.T, base, holdRepo string) *walkGate {
	t.Helper()
	u, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(u)
	g := &walkGate{open: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if repo, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/tags/list"); ok {
			g.mu.Lock()
			g.listed = append(g.listed, repo)
			g.mu.Unlock()
		}
		if r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/v2/"+holdRepo+"/manifests/") {
			g.held.Add(1)
			select {
			case <-g.open:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.host = strings.TrimPrefix(srv.URL, "http://")
	return g
}

// TestFirstWalkShowsProgress: while the first sync of a never-seen registry runs, its
// progress is in the store for every replica and in the berth_index_* gauges, catalog pages
// are labelled partial with it, and a repository a user opens is walked next; once done,
// nothing is partial and every count is complete. On distribution 2.8 and 3.
func TestFirstWalkShowsProgress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) registrytest.Registry
	}{
		{"distribution3", func(t *testing.T) registrytest.Registry { return registrytest.Distribution3(t) }},
		{"distribution2.8", func(t *testing.T) registrytest.Registry {
			return registrytest.Distribution28(t, registrytest.Config28{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := tc.start(t)
			if err := demo.Populate(reg.Root, demo.PopulateOptions{Prefix: "walk", Repositories: 6, Tags: 2, Distinct: true}); err != nil {
				t.Fatal(err)
			}
			gate := newWalkGate(t, reg.URL, "walk/r000000")
			st := openStore(t, storetest.SQLite(t))
			client := registrytest.NewClient(t, registry.Options{URL: "http://" + gate.host, Concurrency: 1})
			svc := newCatalog(catalog.Options{Registry: client, Index: st,
				Progress: func(ctx context.Context) (api.IndexProgress, error) { return events.ReadProgress(ctx, st) }})
			metrics := prometheus.NewRegistry()
			syncer, err := events.NewSyncer(events.SyncOptions{Registry: client, Store: st, Index: svc, Registerer: metrics})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := syncer.Sync(t.Context()); done <- err }()
			waitFor(t, time.Minute, "the walk to reach the held repository", func() bool { return gate.held.Load() > 0 })
			syncer.Prioritize("walk/r000004")

			p, err := events.ReadProgress(t.Context(), st)
			if err != nil || !p.Running || !p.First || p.Phase != "tags" || p.Repositories != 6 || p.RepositoriesDone != 0 {
				t.Fatalf("progress while walking = %+v, %v", p, err)
			}
			page, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Limit: 10})
			if err != nil || !page.Partial || page.Indexing == nil || page.Indexing.Repositories != 6 {
				t.Fatalf("catalog while walking = %+v (indexing %+v), %v", page, page.Indexing, err)
			}
			// Another replica, reading the registry past the gate (whose one connection the
			// held walk takes).
			other := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: reg.URL}), Index: st,
				Progress: func(ctx context.Context) (api.IndexProgress, error) { return events.ReadProgress(ctx, st) }})
			tags, err := other.TagNames(t.Context(), "walk/r000000")
			if err != nil || len(tags.Tags) != 2 || tags.Indexing == nil || !tags.Indexing.First {
				t.Fatalf("a repository's tags while walking = %+v (indexing %+v), %v", tags, tags.Indexing, err)
			}
			if got := gauge(t, metrics, "berth_index_running"); got != 1 {
				t.Errorf("berth_index_running = %v while walking", got)
			}

			close(gate.open)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			gate.mu.Lock()
			order := slices.Clone(gate.listed)
			gate.mu.Unlock()
			want := []string{"walk/r000000", "walk/r000004", "walk/r000001", "walk/r000002", "walk/r000003", "walk/r000005"}
			if !slices.Equal(order, want) {
				t.Errorf("tag lists asked in order %v, want the opened repository second: %v", order, want)
			}
			p, err = events.ReadProgress(t.Context(), st)
			if err != nil || p.Running || p.First || p.Finished.IsZero() || p.RepositoriesDone != 6 || p.Tags != 12 || p.TagsDone != 12 || p.Manifests != 12 {
				t.Fatalf("progress after the walk = %+v, %v", p, err)
			}
			if got := gauge(t, metrics, "berth_index_tags_done"); got != 12 {
				t.Errorf("berth_index_tags_done = %v, want 12", got)
			}
			// The catalog cache of the progress lasts half a second.
			waitFor(t, time.Minute, "a complete catalog page", func() bool {
				page, err = svc.Repositories(t.Context(), catalog.RepositoryQuery{Limit: 10})
				return err == nil && !page.Partial && page.Indexing == nil
			})
			waitFor(t, 5*time.Second, "a repository's tags without indexing", func() bool {
				tags, err := other.TagNames(t.Context(), "walk/r000000")
				return err == nil && tags.Indexing == nil
			})
			if page.Total != 6 || page.Repositories[4].Tags != 2 {
				t.Fatalf("catalog after the walk = %+v", page)
			}
		})
	}
}

// gauge reads a gauge's value from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
