package catalog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// populated returns a registry store directory with repos × tags distinct images, kept in the
// temp dir between runs.
func populated(b *testing.B, name string, repos, tags int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("berth-bench-%s-%dx%d", name, repos, tags))
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		_ = os.RemoveAll(dir)
		start := time.Now()
		if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "bench", Repositories: repos, Tags: tags, Distinct: true}); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("populated %d×%d in %s", repos, tags, time.Since(start).Round(time.Millisecond))
	}
	return dir
}

func benchStore(b *testing.B) store.Store {
	b.Helper()
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "berth.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// BenchmarkIndexBuild measures how fast a sync builds the index from an empty store, in
// manifests (with their configs) per second, against the same sync without an index (catalog,
// tag lists and HEADs only). BERTH_BENCH_INDEX_REPOS and BERTH_BENCH_INDEX_TAGS set the size
// (default 1,000 × 10), then searches the built index: p50 and p99 of the store query and of
// the whole per-caller search (each hit's repository checked as the caller, warm).
func BenchmarkIndexBuild(b *testing.B) {
	repos, tags := envInt("BERTH_BENCH_INDEX_REPOS", 1000), envInt("BERTH_BENCH_INDEX_TAGS", 10)
	base := benchRegistry(b, populated(b, "index", repos, tags), 0)
	var plain, indexed time.Duration
	var built int
	var st store.Store
	var svc *catalog.Service
	for range b.N {
		client := registrytest.NewClient(b, registry.Options{URL: base, Concurrency: 32})
		bare, err := events.NewSyncer(events.SyncOptions{Registry: client, Store: benchStore(b)})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if res, err := bare.Sync(context.Background()); err != nil || res.Tags != repos*tags {
			b.Fatalf("plain sync: %+v, %v", res, err)
		}
		plain += time.Since(start)

		st = benchStore(b)
		svc = newCatalog(catalog.Options{Registry: client, Index: st, CatalogTTL: time.Hour, TagTTL: time.Hour})
		syncer, err := events.NewSyncer(events.SyncOptions{Registry: client, Store: st, Index: svc})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		res, err := syncer.Sync(context.Background())
		indexed += time.Since(start)
		if err != nil || res.Indexed < repos*tags {
			b.Fatalf("indexing sync: %+v, %v", res, err)
		}
		built += res.Indexed
	}
	b.ReportMetric(float64(built)/indexed.Seconds(), "manifests/s")
	b.ReportMetric(indexed.Seconds()/plain.Seconds(), "index_sync/plain_sync")

	// Search the index just built: names, digests, tags.
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	all, _, err := st.IndexRepositories(ctx, store.RepositoryQuery{Limit: 100})
	if err != nil || len(all) == 0 {
		b.Fatalf("index rows: %v", err)
	}
	rows, err := st.IndexTags(ctx, all[0].Name)
	if err != nil || len(rows) == 0 {
		b.Fatalf("index tags: %v", err)
	}
	queries := func(i int) string {
		switch i % 3 {
		case 0:
			n := fmt.Sprintf("r%06d", rng.IntN(repos))
			return n[:2+rng.IntN(6)]
		case 1:
			return rows[rng.IntN(len(rows))].Digest[:7+rng.IntN(20)]
		}
		return fmt.Sprintf("v0.%d", rng.IntN(10))
	}
	var storeLat, apiLat []time.Duration
	for i := range 300 {
		q := queries(i)
		start := time.Now()
		if _, err := st.Search(ctx, q, 200); err != nil {
			b.Fatal(err)
		}
		storeLat = append(storeLat, time.Since(start))
		if _, err := svc.Search(ctx, q, 50); err != nil { // warms the access checks
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := svc.Search(ctx, q, 50); err != nil {
			b.Fatal(err)
		}
		apiLat = append(apiLat, time.Since(start))
	}
	b.ReportMetric(pct(storeLat, 0.5), "store_search_p50_ms")
	b.ReportMetric(pct(storeLat, 0.99), "store_search_p99_ms")
	b.ReportMetric(pct(apiLat, 0.5), "search_p50_ms")
	b.ReportMetric(pct(apiLat, 0.99), "search_p99_ms")
	// Catalog pages from the index, by name and by size (an aggregate over every repository).
	for _, sort := range []string{"name", "-size"} {
		var lat []time.Duration
		for range 20 {
			start := time.Now()
			if _, err := svc.Repositories(ctx, catalog.RepositoryQuery{Sort: sort, Limit: 50}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.ReportMetric(pct(lat, 0.5), "catalog_sort="+sort+"_p50_ms")
	}
}

// BenchmarkRestartFromIndex1000 compares a repository of 1,000 tags answered with every
// detail by a catalog service over an empty index (cold: every manifest and config read from
// the registry) with a new service over the index that read filled (a restart): no manifest
// request at all.
func BenchmarkRestartFromIndex1000(b *testing.B) {
	const tags = 1000
	base := benchRegistry(b, populated(b, "restart", 1, tags), 0)
	const repo = "bench/r000000"
	var cold, restarted time.Duration
	for range b.N {
		st := benchStore(b)
		measure := func() time.Duration {
			svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(b, registry.Options{URL: base, Concurrency: 32}), Index: st})
			start := time.Now()
			page, err := svc.Tags(context.Background(), repo, catalog.TagQuery{All: true})
			d := time.Since(start)
			if err != nil || len(page.Tags) != tags || slices.ContainsFunc(page.Tags, func(t api.Tag) bool { return t.Size == 0 || t.Error != "" }) {
				b.Fatalf("page: %d tags, %v", len(page.Tags), err)
			}
			return d
		}
		cold += measure()
		restarted += measure()
	}
	n := float64(b.N)
	b.ReportMetric(cold.Seconds()*1000/n, "cold_ms")
	b.ReportMetric(restarted.Seconds()*1000/n, "restarted_ms")
	b.ReportMetric(cold.Seconds()/restarted.Seconds(), "restarted_x")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func pct(lat []time.Duration, p float64) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
}
