package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// BenchmarkIndexMillionTags measures the metadata index's reads at the scale of a large
// registry, on SQLite and on PostgreSQL: BERTH_BENCH_MILLION_REPOS repositories (default
// 20,000; 100,000 for the million) × 10 tags, with manifest summaries (images, multi-platform
// indexes, Helm charts, other artifacts), config labels and realistic names. Each query type
// runs many random queries; it reports p50 and p99 (ms, the store call alone) and the ratio
// of p99 against the same queries on a 1,000 × 10 store filled the same way in the same run,
// then (SQLite) the process RSS. Filled SQLite stores are kept under os.TempDir() keyed by
// size, so repeated runs do not fill again; PostgreSQL (a throwaway server) fills each run.
func BenchmarkIndexMillionTags(b *testing.B) {
	// 100,000 repositories take ≈10 minutes to fill on a 2-core machine through the store's
	// APIs, as a sync would, so a plain run uses 20,000 (200,000 tags).
	repos := 20_000
	if v, err := strconv.Atoi(os.Getenv("BERTH_BENCH_MILLION_REPOS")); err == nil && v > 0 {
		repos = v
	}
	b.Run("sqlite", func(b *testing.B) {
		benchIndex(b, openFilled(b, 1000), openFilled(b, repos), repos)
		runtime.GC()
		b.ReportMetric(vmRSSMB(), "rss_MB")
	})
	b.Run("postgres", func(b *testing.B) {
		pg := storetest.StartPostgres(b)
		benchIndex(b, fillPostgres(b, pg, 1000), fillPostgres(b, pg, repos), repos)
	})
}

// benchIndex measures small (1,000 × 10) and big (repos × 10) and reports the figures.
func benchIndex(b *testing.B, small, big store.Store, repos int) {
	// A server answers from a warm process: one round of other queries first, untimed (a
	// fresh SQLite connection pays for growing its page cache on its first few hundred
	// pages, 20–30 ms for a query that takes 2–4 ms once the cache recycles pages).
	measureIndex(b, small, 1000, 1)
	measureIndex(b, big, repos, 1)
	b.ResetTimer()
	var base, large map[string][]time.Duration
	for range b.N {
		base = measureIndex(b, small, 1000, 0)
		large = measureIndex(b, big, repos, 0)
	}
	b.StopTimer()
	for _, name := range slices.Sorted(maps.Keys(large)) {
		p99 := pctMS(large[name], 0.99)
		b.ReportMetric(pctMS(large[name], 0.5), name+"_p50_ms")
		b.ReportMetric(p99, name+"_p99_ms")
		if bp := pctMS(base[name], 0.99); bp > 0 {
			b.ReportMetric(p99/bp, name+"_p99_x")
		}
	}
}

// fillPostgres fills a new database on pg with repos × 10 tags and analyzes it, as
// autovacuum would soon after a fill.
func fillPostgres(b *testing.B, pg *storetest.Postgres, repos int) store.Store {
	b.Helper()
	dsn := pg.NewDatabase(b)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	start := time.Now()
	fillIndex(b, st, repos)
	pg.Exec(b, dsn, "ANALYZE")
	b.Logf("filled %d repositories × 10 tags on PostgreSQL in %s", repos, time.Since(start).Round(time.Millisecond))
	return st
}

// Name parts: namespaces (a few large ones), teams and app words.
var (
	benchNamespaces = []string{"platform", "payments", "data", "ml", "web", "infra", "mobile", "search", "security", "growth",
		"ads", "identity", "media", "logistics", "support", "finance", "analytics", "edge", "devtools", "labs"}
	benchTeams = []string{"core", "api", "frontend", "backend", "batch", "streaming", "storage", "network", "observability", "release",
		"checkout", "billing", "ledger", "fraud", "ranking", "indexing", "crawler", "feeds", "notifications", "auth",
		"sso", "catalog", "pricing", "inventory", "shipping", "routing", "maps", "video", "images", "audio",
		"recommendations", "experiments", "warehouse", "etl", "reporting", "dashboards", "alerts", "ci", "sandbox", "tools"}
	benchApps = []string{"gateway", "worker", "scheduler", "proxy", "service", "server", "agent", "controller", "operator", "exporter",
		"collector", "indexer", "cache", "broker", "relay", "router", "builder", "runner", "loader", "syncer",
		"migrator", "watcher", "notifier", "renderer", "resolver", "validator", "signer", "uploader", "downloader", "crawler"}
	benchSuffixes  = []string{"", "-api", "-v2", "-internal", "-public", "-cron", "-ui", "-db", "-jobs", "-edge", "-lite", "-grpc"}
	benchPlatforms = []store.IndexPlatform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "windows", Architecture: "amd64"}}
)

// benchDigest is a stable sha256 digest for a seed.
func benchDigest(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "sha256:" + hex.EncodeToString(h[:])
}

// benchRepo is one generated repository: its name, kind and team.
type benchRepo struct {
	name, team string
	kind       string // image, chart or artifact
}

// benchRepos generates n distinct repository names, deterministic for n: a skewed spread
// over namespaces (the first ones hold most), then team and app.
func benchRepos(n int) []benchRepo {
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	seen := map[string]bool{}
	out := make([]benchRepo, 0, n)
	for len(out) < n {
		u := rng.Float64()
		ns := benchNamespaces[int(u*u*float64(len(benchNamespaces)))]
		team := benchTeams[rng.IntN(len(benchTeams))]
		app := benchApps[rng.IntN(len(benchApps))] + benchSuffixes[rng.IntN(len(benchSuffixes))]
		r := benchRepo{team: team, kind: "image"}
		switch k := rng.IntN(100); {
		case k < 4:
			r.kind, ns = "chart", "charts/"+ns
		case k < 7:
			r.kind = "artifact"
		}
		r.name = ns + "/" + team + "/" + app
		if seen[r.name] {
			// Large fills run out of plain names: number them as teams do (app-2, app-3…).
			r.name += "-" + strconv.Itoa(2+rng.IntN(n))
			if seen[r.name] {
				continue
			}
		}
		seen[r.name] = true
		out = append(out, r)
	}
	return out
}

// benchContent is what one repository holds: 10 tags (8 versions, latest = the newest
// version, main = its own build) over 9 manifests.
func benchContent(rng *rand.Rand, r benchRepo, now time.Time) ([]store.IndexTag, []store.IndexManifest) {
	var tags []store.IndexTag
	var ms []store.IndexManifest
	// Pushed over the last three years; versions a week or so apart.
	start := now.Add(-time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour))))
	major := rng.IntN(4)
	multi := rng.IntN(5) == 0 // a fifth of image repositories push multi-platform indexes
	base := int64(5<<20) << rng.IntN(8)
	for i := range 9 {
		tag := fmt.Sprintf("%d.%d.%d", major, i/3, i%3)
		if i == 8 {
			tag = "main"
		}
		created := start.Add(time.Duration(i) * time.Duration(2+rng.IntN(12)) * 24 * time.Hour)
		if created.After(now) {
			created = now.Add(-time.Duration(9-i) * time.Hour)
		}
		m := store.IndexManifest{Digest: benchDigest(r.name, tag), Size: 400 + rng.Int64N(3000), Created: created}
		labels := map[string]string{
			"org.opencontainers.image.source":  "https://git.example.com/" + r.name,
			"org.opencontainers.image.version": tag,
			"com.example.team":                 r.team,
		}
		switch {
		case r.kind == "chart":
			m.Kind, m.MediaType, m.ArtifactType = "artifact", "application/vnd.oci.image.manifest.v1+json", "application/vnd.cncf.helm.config.v1+json"
			m.Size = 2000 + rng.Int64N(40000)
			labels = nil
		case r.kind == "artifact":
			m.Kind, m.MediaType, m.ArtifactType = "artifact", "application/vnd.oci.image.manifest.v1+json", "application/vnd.example.model.v1+json"
			m.Size = base * int64(1+rng.IntN(4))
			labels = nil
		case multi:
			m.Kind, m.MediaType = "index", "application/vnd.oci.image.index.v1+json"
			for _, p := range benchPlatforms[:2+rng.IntN(3)] {
				p.Digest = benchDigest(r.name, tag, p.OS, p.Architecture, p.Variant)
				p.Size = base + rng.Int64N(base)
				p.Created = created
				p.Labels = labels
				m.Platforms = append(m.Platforms, p)
			}
			m.Attestations = len(m.Platforms)
			labels = nil
		default:
			m.Kind, m.MediaType = "image", "application/vnd.oci.image.manifest.v1+json"
			m.Size = base + rng.Int64N(base)
			m.Platforms = []store.IndexPlatform{{OS: "linux", Architecture: "amd64", Digest: m.Digest, Size: m.Size, Created: created}}
		}
		m.Labels = labels
		ms = append(ms, m)
		tags = append(tags, store.IndexTag{Repository: r.name, Tag: tag, Digest: m.Digest, Checked: now, Pushed: created})
	}
	// latest points at the newest version.
	tags = append(tags, store.IndexTag{Repository: r.name, Tag: "latest", Digest: ms[7].Digest, Checked: now, Pushed: ms[7].Created})
	return tags, ms
}

// benchStoreNow is the fill's "now", fixed so a kept store and a fresh one agree.
var benchStoreNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// openFilled opens a store of repos × 10 tags kept under os.TempDir(), filling it first
// when it is not complete.
func openFilled(b *testing.B, repos int) store.Store {
	b.Helper()
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("berth-bench-index-v1-%dx10", repos))
	path := filepath.Join(dir, "berth.db")
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		_ = os.RemoveAll(dir)
		start := time.Now()
		st, err := store.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		if err := store.ForBulkFill(st); err != nil {
			b.Fatal(err)
		}
		fillIndex(b, st, repos)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("filled %d repositories × 10 tags in %s", repos, time.Since(start).Round(time.Millisecond))
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// fillIndex writes the generated content through the store's batch APIs, as a sync would:
// repositories and tags in transactions of thousands of rows, manifests one transaction per
// repository (PutManifests records which repository a manifest was seen in).
func fillIndex(b *testing.B, st store.Store, repos int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, uint64(repos)))
	all := benchRepos(repos)
	const batch = 5000
	for chunk := range slices.Chunk(all, batch) {
		names := make([]string, len(chunk))
		var tags []store.IndexTag
		manifests := make([][]store.IndexManifest, len(chunk))
		for i, r := range chunk {
			names[i] = r.name
			t, ms := benchContent(rng, r, benchStoreNow)
			tags = append(tags, t...)
			manifests[i] = ms
		}
		if err := st.PutRepositories(ctx, names, benchStoreNow); err != nil {
			b.Fatal(err)
		}
		if err := st.PutTags(ctx, tags); err != nil {
			b.Fatal(err)
		}
		for i, ms := range manifests {
			if err := st.PutManifests(ctx, chunk[i].name, ms); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// measureIndex runs each query type on st (filled with repos × 10) many times with random
// arguments (picked from seed) and returns the latencies by query type. Slow types stop after 10 s (at least 5
// queries), so an unindexed query cannot hold the run for minutes.
func measureIndex(b *testing.B, st store.Store, repos int, seed uint64) map[string][]time.Duration {
	ctx := context.Background()
	all := benchRepos(repos)
	rng := rand.New(rand.NewPCG(3, 5+seed))
	pick := func() benchRepo { return all[rng.IntN(len(all))] }
	out := map[string][]time.Duration{}
	// run times n queries; prep picks a query's arguments (untimed) and returns the query.
	run := func(name string, n int, prep func() func() int) {
		start := time.Now()
		for i := range n {
			if i >= 5 && time.Since(start) > 10*time.Second {
				break
			}
			q := prep()
			t := time.Now()
			q()
			out[name] = append(out[name], time.Since(t))
		}
	}
	must := func(n int, err error) int {
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	search := func(q string) int {
		hits, err := st.Search(ctx, q, 200)
		if err == nil && len(hits) == 0 {
			b.Fatalf("search %q: no hits", q)
		}
		return must(len(hits), err)
	}
	// Name substrings: an app word with suffix, a team/app fragment, a whole name.
	run("search_name", 300, func() func() int {
		r := pick()
		parts := strings.Split(r.name, "/")
		q := r.name
		switch rng.IntN(3) {
		case 0:
			q = parts[len(parts)-1]
		case 1:
			q = r.team + "/" + parts[len(parts)-1][:3]
		}
		return func() int { return search(q) }
	})
	// A digest prefix as copied from a page: a tag's digest or one of an index's images.
	run("search_digest", 300, func() func() int {
		r := pick()
		list, err := st.IndexTags(ctx, r.name)
		if err != nil || len(list) == 0 {
			b.Fatalf("tags of %s: %d, %v", r.name, len(list), err)
		}
		m := list[rng.IntN(len(list))].Manifest
		d := m.Digest
		if len(m.Platforms) > 1 {
			d = m.Platforms[rng.IntN(len(m.Platforms))].Digest
		}
		return func() int { return search(d[:len("sha256:")+12]) }
	})
	run("search_label", 300, func() func() int {
		r := pick()
		for r.kind != "image" {
			r = pick()
		}
		q := "label:org.opencontainers.image.version"
		switch rng.IntN(3) {
		case 0:
			q = "com.example.team=" + r.team
		case 1:
			q = "org.opencontainers.image.source=" + r.name
		}
		return func() int { return search(q) }
	})
	page := func(q store.RepositoryQuery) int {
		rows, total, err := st.IndexRepositories(ctx, q)
		if err == nil && (total == 0 || len(rows) == 0) {
			b.Fatalf("catalog %+v: empty", q)
		}
		return must(len(rows), err)
	}
	query := func(q func() store.RepositoryQuery) func() func() int {
		return func() func() int {
			rq := q()
			return func() int { return page(rq) }
		}
	}
	// Pages at random offsets by name; first pages of the aggregate orders and the kind filter.
	run("catalog_name", 300, query(func() store.RepositoryQuery {
		return store.RepositoryQuery{Sort: store.SortName, Offset: rng.IntN(max(1, repos-50)), Limit: 50}
	}))
	run("catalog_pushed", 300, query(func() store.RepositoryQuery { return store.RepositoryQuery{Sort: "-" + store.SortPushed, Limit: 50} }))
	run("catalog_size", 300, query(func() store.RepositoryQuery { return store.RepositoryQuery{Sort: "-" + store.SortSize, Limit: 50} }))
	run("catalog_kind", 300, query(func() store.RepositoryQuery { return store.RepositoryQuery{Kind: "chart", Limit: 50} }))
	run("catalog_filter", 300, query(func() store.RepositoryQuery {
		return store.RepositoryQuery{Query: pick().team + "/", Sort: store.SortName, Limit: 50}
	}))
	run("index_tags", 300, func() func() int {
		r := pick()
		return func() int {
			list, err := st.IndexTags(ctx, r.name)
			if err == nil && (len(list) != 10 || list[0].Manifest == nil) {
				b.Fatalf("tags of %s: %d", r.name, len(list))
			}
			return must(len(list), err)
		}
	})
	run("labeled_tags", 300, func() func() int {
		r := pick()
		for r.kind != "image" {
			r = pick()
		}
		return func() int {
			// Every version tag (and latest) has a "." in its version label; main has not.
			tags, err := st.LabeledTags(ctx, r.name, "org.opencontainers.image.version", ".")
			if err == nil && len(tags) != 9 {
				b.Fatalf("labeled tags of %s: %v", r.name, tags)
			}
			return must(len(tags), err)
		}
	})
	return out
}

func pctMS(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
}

// vmRSSMB reads this process's resident set size from /proc (Linux), -1 elsewhere.
func vmRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}
