package catalog_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store/storetest"
)

// clock is a settable clock: real time plus an offset the test moves.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *clock) options() catalog.Revalidation {
	return catalog.Revalidation{Now: c.now, Rate: 5000, Workers: 4}
}

// gatedRegistry serves a registry's storage with its manifest HEADs held at a gate until the
// test opens it (once it holds them), counting them as they arrive, as they are answered and at most at once.
type gatedRegistry struct {
	host                  string
	open                  chan struct{}
	hold                  atomic.Bool // gate and count HEADs from now on
	arrived, answered     atomic.Int64
	inFlight, maxInFlight atomic.Int64
}

func newGatedRegistry(t *testing.T, dir string) *gatedRegistry {
	t.Helper()
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedRegistry{open: make(chan struct{})}
	inner := reg.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.hold.Load() && r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") {
			g.arrived.Add(1)
			n := g.inFlight.Add(1)
			for m := g.maxInFlight.Load(); n > m && !g.maxInFlight.CompareAndSwap(m, n); m = g.maxInFlight.Load() {
			}
			defer g.inFlight.Add(-1)
			select {
			case <-g.open:
			case <-r.Context().Done():
				return
			}
			defer g.answered.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	g.host = strings.TrimPrefix(srv.URL, "http://")
	return g
}

// TestStaleTagsAnswerAtOnce: past the tag TTL, a 400-tag repository is answered from the
// index while every revalidating HEAD is still held at the registry, and so is its storage
// usage (BenchmarkStaleTags in
// make bench times 2,000); the HEADs then run in
// the background, bounded, once for concurrent reads and a second replica, and a tag moved
// behind Berth's back shows up.
func TestStaleTagsAnswerAtOnce(t *testing.T) {
	backends(t, func(t *testing.T, newDSN func(t *testing.T) string) {
		const n = 400
		dir := t.TempDir()
		if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "swr", Repositories: 1, Tags: n, Distinct: true}); err != nil {
			t.Fatal(err)
		}
		const repo = "swr/r000000"
		reg := newGatedRegistry(t, dir)
		dsn := newDSN(t)
		var clk clock
		replica := func() *catalog.Service {
			return newCatalog(catalog.Options{
				Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host, Concurrency: 16}),
				Index:    openStore(t, dsn), TagTTL: time.Minute, Revalidation: clk.options(),
			})
		}
		first, second := replica(), replica()
		cold, err := first.Tags(t.Context(), repo, catalog.TagQuery{All: true})
		if err != nil || len(cold.Tags) != n {
			t.Fatalf("cold page: %d tags, %v", len(cold.Tags), err)
		}
		coldUsage, err := first.Usage(t.Context(), repo, "")
		if err != nil || coldUsage.Tags != n || coldUsage.Stored == 0 {
			t.Fatalf("cold usage: %+v, %v", coldUsage, err)
		}
		moved := cold.Tags[5]
		newDigest := push(t, reg.host, repo+":"+moved.Name, must(random.Image(256, 1))).String()

		clk.advance(2 * time.Minute)
		// What deleting a manifest frees rests on where the tags point now: the moved tag's
		// stale row is asked of the registry, so its new image counts as stored and kept.
		freed, err := second.Usage(t.Context(), repo, moved.Digest)
		if err != nil || freed.Stored == coldUsage.Stored || freed.Frees == 0 {
			t.Fatalf("usage of deleting the moved tag's old manifest: %+v, %v (cold: %+v)", freed, err, coldUsage)
		}
		reg.hold.Store(true)
		for _, svc := range []*catalog.Service{first, first, second} {
			page, err := svc.Tags(t.Context(), repo, catalog.TagQuery{All: true})
			if err != nil || len(page.Tags) != n {
				t.Fatalf("stale page: %d tags, %v", len(page.Tags), err)
			}
			if got := reg.answered.Load(); got != 0 {
				t.Fatalf("the page waited for %d revalidating HEADs", got)
			}
			if page.Tags[5].Digest != moved.Digest || page.Tags[5].Size == 0 {
				t.Fatalf("stale row shown as %+v, want the indexed %+v", page.Tags[5], moved)
			}
		}
		// The storage usage (asked for by the same page) resolves its tags from the index too.
		usage, err := second.Usage(t.Context(), repo, "")
		if err != nil || usage != coldUsage {
			t.Fatalf("stale usage: %+v, %v; want the indexed %+v", usage, err, coldUsage)
		}
		if got := reg.answered.Load(); got != 0 {
			t.Fatalf("the usage waited for %d revalidating HEADs", got)
		}
		waitFor(t, time.Minute, "revalidating HEADs to reach the registry", func() bool { return reg.arrived.Load() > 0 })
		close(reg.open)

		waitFor(t, time.Minute, "the moved tag to show", func() bool {
			page, err := second.Tags(t.Context(), repo, catalog.TagQuery{Offset: 5, Limit: 1})
			return err == nil && len(page.Tags) == 1 && page.Tags[0].Digest == newDigest
		})
		probe := openStore(t, dsn)
		waitFor(t, time.Minute, "every row to be confirmed", func() bool {
			rows, err := probe.IndexTags(t.Context(), repo)
			if err != nil || len(rows) != n {
				return false
			}
			for _, r := range rows {
				if clk.now().Sub(r.Checked) >= time.Minute {
					return false
				}
			}
			return true
		})
		waitFor(t, time.Minute, "the revalidation lease to be released", func() bool {
			ok, err := probe.TakeLease(t.Context(), "revalidate/"+repo, "probe", clk.now(), clk.now().Add(time.Millisecond))
			return err == nil && ok
		})
		if got := reg.arrived.Load(); got != n {
			t.Errorf("%d HEADs for %d stale rows over three reads on two replicas, want one each", got, n)
		}
		if got := reg.maxInFlight.Load(); got > 4 {
			t.Errorf("%d HEADs in flight at once, want at most the 4 workers", got)
		}
		page, err := first.Tags(t.Context(), repo, catalog.TagQuery{All: true})
		if err != nil || page.Tags[5].Digest != newDigest {
			t.Fatalf("the replica that revalidated shows %+v, %v; want digest %s", page.Tags[5], err, newDigest)
		}
		if got := reg.arrived.Load(); got != n {
			t.Errorf("a read of fresh rows sent %d more HEADs", got-n)
		}
		// The replica that answered the cold usage keeps it while the tags stay put; the
		// moved tag makes it count again.
		if u, err := first.Usage(t.Context(), repo, ""); err != nil || u.Stored == coldUsage.Stored {
			t.Errorf("usage after the move: %+v, %v; the cold answer was %+v", u, err, coldUsage)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRevalidationYieldsToPages: while a tag answer is being built, and for a second after
// one about the repository, the background revalidation sends no HEAD for up to maxYield
// (100 ms) each; with the server quiet it resumes, and under steady answers it still goes on.
func TestRevalidationYieldsToPages(t *testing.T) {
	const n = 50
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "yield", Repositories: 1, Tags: n}); err != nil {
		t.Fatal(err)
	}
	const repo = "yield/r000000"
	reg := newGatedRegistry(t, dir)
	close(reg.open) // HEADs are counted, not held
	var clk clock
	svc := newCatalog(catalog.Options{
		Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host}),
		Index:    openStore(t, storetest.SQLite(t)), TagTTL: time.Minute, Revalidation: clk.options(),
	})
	if _, err := svc.Tags(t.Context(), repo, catalog.TagQuery{All: true}); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	reg.hold.Store(true)
	page := catalog.Answering(svc, repo) // an answer being built meanwhile
	if _, err := svc.Tags(t.Context(), repo, catalog.TagQuery{All: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if got := reg.arrived.Load(); got != 0 {
		t.Fatalf("%d revalidating HEADs while an answer was built", got)
	}
	waitFor(t, 10*time.Second, "the revalidation to go on under a steady answer", func() bool { return reg.arrived.Load() > 0 })
	page()
	// For a second after an answer about the repository its HEADs still yield (the page that
	// asked is starting its app and about to ask again): one every 100 ms at most.
	time.Sleep(300 * time.Millisecond)
	if got := reg.arrived.Load(); got >= n {
		t.Fatalf("all %d revalidating HEADs went within 300 ms of an answer", got)
	}
	waitFor(t, 10*time.Second, "the revalidation to finish once the server is quiet", func() bool { return reg.arrived.Load() == n })
}
