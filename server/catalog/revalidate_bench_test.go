package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// BenchmarkStaleTags times limit=all on a repository (BERTH_BENCH_STALE_TAGS tags, default
// 2,000) whose rows are all past the tag TTL: answered from the index with the HEADs left to
// the background (stale_ms), against the same read within the TTL (fresh_ms) and against
// revalidating every tag before answering (storm_ms: the service without an index, as every
// read past the TTL was before), on a registry 1 ms away (rtt=1ms) and on loopback.
func BenchmarkStaleTags(b *testing.B) {
	n := envInt("BERTH_BENCH_STALE_TAGS", 2000)
	dir := b.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "stale", Repositories: 1, Tags: n}); err != nil {
		b.Fatal(err)
	}
	const repo = "stale/r000000"
	for _, rtt := range []time.Duration{0, time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%s", rtt), func(b *testing.B) {
			base := benchRegistry(b, dir, rtt)
			st, err := store.Open(b.Context(), b.TempDir()+"/berth.db")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			var clk clock
			read := func(svc *catalog.Service) time.Duration {
				start := time.Now()
				page, err := svc.Tags(b.Context(), repo, catalog.TagQuery{All: true})
				if err != nil || len(page.Tags) != n {
					b.Fatalf("%d tags, %v", len(page.Tags), err)
				}
				return time.Since(start)
			}
			client := func() *registry.Client {
				return registrytest.NewClient(b, registry.Options{URL: base, Concurrency: 16})
			}
			indexed := newCatalog(catalog.Options{Registry: client(), Index: st, TagTTL: time.Minute,
				Revalidation: catalog.Revalidation{Now: clk.now, Rate: 1e6}})
			storm := newCatalog(catalog.Options{Registry: client(), TagTTL: time.Nanosecond})
			read(indexed) // cold: fills the index
			read(storm)   // cold: fills its cache, so the next reads only HEAD
			var stale, fresh, stormed time.Duration
			for range b.N {
				clk.advance(2 * time.Minute)
				stale += read(indexed)
				waitFor(b, time.Minute, "the background revalidation", func() bool {
					rows, err := st.IndexTags(b.Context(), repo)
					for _, r := range rows {
						if clk.now().Sub(r.Checked) >= time.Minute {
							return false
						}
					}
					return err == nil
				})
				fresh += read(indexed)
				stormed += read(storm)
			}
			k := float64(b.N)
			b.ReportMetric(stale.Seconds()*1000/k, "stale_ms")
			b.ReportMetric(fresh.Seconds()*1000/k, "fresh_ms")
			b.ReportMetric(stormed.Seconds()*1000/k, "storm_ms")
			b.ReportMetric(stormed.Seconds()/stale.Seconds(), "storm_x")
		})
	}
}
