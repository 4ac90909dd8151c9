package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
)

// benchRegistry serves the distribution store in dir over loopback HTTP, answering each
// request after rtt, as a registry across a network would.
func benchRegistry(b testing.TB, dir string, rtt time.Duration) string {
	b.Helper()
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	var h http.Handler = reg.Handler()
	if rtt > 0 {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(rtt)
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	b.Cleanup(func() { srv.Close(); reg.Close() })
	return srv.URL
}

// naiveDetails is what browser-side registry UIs do: for each tag, one after another, fetch
// its manifest and then its config blob over /v2.
func naiveDetails(b *testing.B, base, repo string, tags []string) {
	for _, tag := range tags {
		req, _ := http.NewRequest(http.MethodGet, base+"/v2/"+repo+"/manifests/"+tag, nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var m struct {
			Config struct{ Digest string }
		}
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		resp, err = http.Get(base + "/v2/" + repo + "/blobs/" + m.Config.Digest)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// apiDetails reads every tag's details through Berth's /api/v1.
func apiDetails(b *testing.B, api string, repo string, want int) {
	resp, err := http.Get(api + "/api/v1/repositories/" + repo + "/tags?limit=1000")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Tags []struct {
			Size  int64
			Error string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Tags) != want {
		b.Fatalf("api: %d tags, %v", len(page.Tags), err)
	}
	for _, t := range page.Tags {
		if t.Size == 0 || t.Error != "" {
			b.Fatalf("a tag without details: %+v", t)
		}
	}
}

// BenchmarkTagDetails1000 compares the details of all 1,000 tags of a repository read the
// naive way (sequential manifest + config per tag) with /api/v1: cold (empty cache), warm
// (cached details, every tag revalidated with a HEAD) and hot (within the tag TTL). It runs
// against a registry on loopback and one 5 ms away, where fan-out matters most.
func BenchmarkTagDetails1000(b *testing.B) {
	const tags = 1000
	dir := b.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "bench", Repositories: 1, Tags: tags, Distinct: true}); err != nil {
		b.Fatal(err)
	}
	const repo = "bench/r000000"
	var names []string
	for t := range tags {
		names = append(names, fmt.Sprintf("v%d.%d.%d", t/10000, t/100%100, t%100))
	}
	for _, rtt := range []time.Duration{0, 5 * time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%s", rtt), func(b *testing.B) {
			base := benchRegistry(b, dir, rtt)
			var naive, cold, warm, hot time.Duration
			for range b.N {
				start := time.Now()
				naiveDetails(b, base, repo, names)
				naive += time.Since(start)

				measure := func(ttl time.Duration, warmups int) time.Duration {
					svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(b, registry.Options{URL: base, Concurrency: 32}), TagTTL: ttl})
					mux := http.NewServeMux()
					site.API(mux, site.Services{Catalog: svc}, nil)
					srv := httptest.NewServer(mux)
					defer srv.Close()
					for range warmups {
						apiDetails(b, srv.URL, repo, tags)
					}
					start := time.Now()
					apiDetails(b, srv.URL, repo, tags)
					return time.Since(start)
				}
				cold += measure(time.Nanosecond, 0)
				warm += measure(time.Nanosecond, 1)
				hot += measure(time.Hour, 1)
			}
			n := float64(b.N)
			b.ReportMetric(naive.Seconds()*1000/n, "naive_ms")
			b.ReportMetric(cold.Seconds()*1000/n, "cold_ms")
			b.ReportMetric(warm.Seconds()*1000/n, "warm_ms")
			b.ReportMetric(hot.Seconds()*1000/n, "hot_ms")
			b.ReportMetric(naive.Seconds()/cold.Seconds(), "cold_x")
			b.ReportMetric(naive.Seconds()/warm.Seconds(), "warm_x")
			b.ReportMetric(naive.Seconds()/hot.Seconds(), "hot_x")
		})
	}
}

// BenchmarkCatalog100k builds the repository index of a registry holding 100,000 repositories
// (BERTH_BENCH_REPOS overrides the count) and measures search latency and the process's
// resident memory. The populated store is kept in the temp dir between runs.
func BenchmarkCatalog100k(b *testing.B) {
	repos := 100_000
	if v, err := strconv.Atoi(os.Getenv("BERTH_BENCH_REPOS")); err == nil && v > 0 {
		repos = v
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("berth-bench-catalog-%d", repos))
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		_ = os.RemoveAll(dir)
		start := time.Now()
		if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "team", Repositories: repos, Tags: 1}); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("populated %d repositories in %s", repos, time.Since(start).Round(time.Millisecond))
	}
	base := benchRegistry(b, dir, 0)

	var build time.Duration
	var latencies []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	for range b.N {
		svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(b, registry.Options{URL: base}), CatalogTTL: time.Hour})
		ctx := context.Background()
		start := time.Now()
		page, err := svc.Repositories(ctx, catalog.RepositoryQuery{Query: "", Offset: 0, Limit: 50})
		build += time.Since(start)
		if err != nil || page.Total != repos {
			b.Fatalf("index holds %d of %d repositories: %v", page.Total, repos, err)
		}
		for range 500 {
			// A prefix of an existing name, 2 to 7 characters long: from thousands of matches
			// down to one.
			name := fmt.Sprintf("r%06d", rng.IntN(repos))
			q := name[:2+rng.IntN(6)]
			start := time.Now()
			res, err := svc.Repositories(ctx, catalog.RepositoryQuery{Query: q, Offset: 0, Limit: 50})
			latencies = append(latencies, time.Since(start))
			if err != nil || res.Total == 0 {
				b.Fatalf("search %q: %d, %v", q, res.Total, err)
			}
		}
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	runtime.GC()
	b.ReportMetric(build.Seconds()/float64(b.N), "index_build_s")
	b.ReportMetric(pct(0.5), "search_p50_ms")
	b.ReportMetric(pct(0.99), "search_p99_ms")
	b.ReportMetric(rssMB(), "rss_MB")
}

// rssMB reads the resident set size of this whole process (registry included) from /proc.
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}
