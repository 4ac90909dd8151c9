package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
)

// startLargeBerth runs Berth on a registry holding repos repositories with one tag each under
// "team/", plus one repository "big/r000000" with tags tags. With keep, the store is written
// once under the system temp dir and reused by later runs (benchmarks at 100,000 repositories).
func startLargeBerth(t testing.TB, repos, tags int, keep bool, opts ...func(*config.Config)) string {
	t.Helper()
	dir := t.TempDir()
	if keep {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("berth-bench-ui-%d-%d", repos, tags))
	}
	populateLarge(t, dir, repos, tags)
	return startLargeIn(t, dir, opts...)
}

// populateLarge fills dir's registry with repos one-tag repositories under team/ and one
// repository big/r000000 of tags distinct tags, unless it was filled before.
func populateLarge(t testing.TB, dir string, repos, tags int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "populated")); err != nil {
		_ = os.RemoveAll(dir)
		store := filepath.Join(dir, "registry")
		if err := demo.Populate(store, demo.PopulateOptions{Prefix: "team", Repositories: repos, Tags: 1}); err != nil {
			t.Fatal(err)
		}
		if err := demo.Populate(store, demo.PopulateOptions{Prefix: "big", Repositories: 1, Tags: tags, Distinct: true}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "populated"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startLargeIn starts Berth on a registry populateLarge filled.
func startLargeIn(t testing.TB, dir string, opts ...func(*config.Config)) string {
	t.Helper()
	return startBerth(t, func(c *config.Config) {
		c.NoDemo = true
		c.DataDir = dir
		c.SyncInterval = 0 // a sync would walk every repository while we measure
		for _, o := range opts {
			o(c)
		}
	})
}

// domRows counts the rows the browser holds for a list.
func domRows(t *testing.T, ctx context.Context, selector string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, selector)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestE2ELargeListsAreVirtual(t *testing.T) {
	dir := t.TempDir()
	populateLarge(t, dir, 2500, 1000)
	breakTag(t, dir, "big/r000000", "v0.5.55")
	base := startLargeIn(t, dir)
	ctx := browser(t)

	// 2,500 repositories: only a screenful is in the DOM, and scrolling fetches further pages.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#repositories a[href="/repositories/team/r000000"]`),
		appRunning(),
	); err != nil {
		t.Fatalf("catalog: %v", err)
	}
	if n := domRows(t, ctx, "#repositories .repo"); n == 0 || n > 120 {
		t.Fatalf("%d repository rows in the DOM for 2500 repositories, want a window of at most 120", n)
	}
	if err := chromedp.Do(ctx,
		// Scrolled again on every try: a render before the list knows its length can leave
		// it shorter than the scroll, which the browser then cuts short.
		waitJS(`(() => { const l = document.querySelector("#repositories"); l.scrollTop = 42*2100;
			return !!document.querySelector('#repositories a[href="/repositories/team/r002110"]'); })()`),
		waitShown(`#repositories a[href="/repositories/team/r002110"]`),
	); err != nil {
		t.Fatalf("scrolling the catalog to row 2100: %v", err)
	}
	if n := domRows(t, ctx, "#repositories .repo"); n > 120 {
		t.Errorf("%d rows in the DOM after scrolling", n)
	}
	// Search narrows on the server.
	if err := chromedp.Do(ctx,
		typeInto(`#repo-filter`, "r00211"),
		waitJS(`document.querySelectorAll("#repositories .repo").length === 10`),
	); err != nil {
		t.Fatalf("search: %v", err)
	}
	screenshot(t, ctx, "catalog-2500-search")

	// 1,000 tags: every name at once, details filled in, a window of rows in the DOM.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/big/r000000"),
		waitShown(`#tags tr.tag`),
		waitJS(`document.querySelectorAll("#tags tr.tag.pending").length === 0 && !document.querySelector(".count").innerText.includes("loading")`),
	); err != nil {
		t.Fatalf("1000-tag repository: %v", err)
	}
	count, _ := chromedp.Run(ctx, textOf(`.count`))
	if !strings.Contains(count, "1000 tags") {
		t.Errorf("count %q, want 1000 tags", count)
	}
	if n := domRows(t, ctx, "#tags tr.tag"); n == 0 || n > 120 {
		t.Fatalf("%d tag rows in the DOM for 1000 tags, want a window of at most 120", n)
	}
	// A registry read that failed under load shows on its row with a retry button, which a
	// person would press: so does the test, then the row must show its details.
	for try := 0; ; try++ {
		row, _ := chromedp.Run(ctx, textOf(`#tags tr.tag`))
		if strings.Contains(row, "linux/amd64") && strings.Contains(row, "B") {
			break
		}
		if !strings.Contains(row, "details unavailable") || try == 5 {
			t.Errorf("first row lacks details: %q", row)
			break
		}
		t.Logf("first row: %q; retrying", row)
		if err := within(ctx, clickOn(`#tags tr.tag [data-focus="retry"]`), waitJS(`!document.querySelector("#tags tr.tag.pending")`)); err != nil {
			t.Errorf("retrying the first row: %v", err)
			break
		}
	}
	screenshot(t, ctx, "repository-1000-tags")

	// A tag whose manifest the registry has lost says so on its row, and its retry button is in
	// view, takes the click and asks the registry again.
	api := watchAPI(t, ctx)
	if err := chromedp.Do(ctx, appRunning(), typeInto(`#tag-filter`, "v0.5.55"),
		waitJS(`document.querySelectorAll("#tags tr.tag").length === 1 && document.querySelector("#tags tr.tag").innerText.includes("details unavailable")`),
	); err != nil {
		t.Fatalf("the broken tag's row: %v", err)
	}
	before := api.count()
	if err := within(ctx, clickOn(`#tags tr[data-tag="v0.5.55"] [data-focus="retry"]`),
		waitJS(`!document.querySelector("#tags tr.tag.pending") && document.querySelector("#tags tr.tag").innerText.includes("details unavailable")`)); err != nil {
		t.Fatalf("retrying the broken tag: %v", err)
	}
	if asked := api.since(before); !slices.ContainsFunc(asked, func(r string) bool { return strings.Contains(r, "/repositories/big/r000000/tags?") }) {
		t.Errorf("retry asked nothing of the server: %q", asked)
	}
}

// breakTag removes the manifest a tag points to from the registry's storage under dir, as a
// registry that lost a blob would have it.
func breakTag(t testing.TB, dir, repository, tag string) {
	t.Helper()
	v2 := filepath.Join(dir, "registry", "docker", "registry", "v2")
	link, err := os.ReadFile(filepath.Join(v2, "repositories", repository, "_manifests", "tags", tag, "current", "link"))
	if err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(strings.TrimSpace(string(link)), "sha256:")
	if err := os.Remove(filepath.Join(v2, "blobs", "sha256", hex[:2], hex, "data")); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkUIScale times what a user waits for in headless Chromium: the first screen of a
// catalog of 100,000 repositories (BERTH_BENCH_REPOS overrides), a search result in it, and a
// 1,000-tag repository until every row shows its size, then the 10,000-tag repository
// (benchHugeRepository). A never-seen registry has its own (BenchmarkNeverSeenRegistry). Each figure is from navigation or
// keystroke until the rows are on screen, and includes loading the wasm UI for the first.
func BenchmarkUIScale(b *testing.B) {
	repos := 100_000
	if v, err := strconv.Atoi(os.Getenv("BERTH_BENCH_REPOS")); err == nil && v > 0 {
		repos = v
	}
	base := startLargeBerth(b, repos, 1000, true)
	ctx := userBrowser(b) // after populating: the browser's deadline covers only the measuring
	var cold, first, search, tags time.Duration
	for i := range b.N {
		start := time.Now()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/"),
			waitShown(`#repositories a.repo`),
			appRunning(), // the search below types into the filter
		); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			// The first visit waits for Berth's first read of the whole catalog.
			cold = time.Since(start)
			start = time.Now()
			if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), waitShown(`#repositories a.repo`), appRunning()); err != nil {
				b.Fatal(err)
			}
		}
		first += time.Since(start)

		q := fmt.Sprintf("r%06d", 1000+i)
		start = time.Now()
		if err := chromedp.Do(ctx,
			typeInto(`#repo-filter`, q),
			waitShown(fmt.Sprintf(`#repositories a[href="/repositories/team/%s"]`, q)),
			waitJS(`document.querySelectorAll("#repositories .repo").length === 1`),
		); err != nil {
			b.Fatal(err)
		}
		search += time.Since(start)

		start = time.Now()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/repositories/big/r000000"),
			waitShown(`#tags tr.tag`),
			waitJS(`document.querySelectorAll("#tags tr.tag.pending").length === 0 && !document.querySelector(".count").innerText.includes("loading")`),
		); err != nil {
			b.Fatal(err)
		}
		tags += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(cold.Seconds()*1000, "catalog_first_visit_ms")
	b.ReportMetric(first.Seconds()*1000/n, "catalog_first_screen_ms")
	b.ReportMetric(search.Seconds()*1000/n, "catalog_search_ms")
	b.ReportMetric(tags.Seconds()*1000/n, "1000_tags_with_sizes_ms")
	benchHugeRepository(b, tags/time.Duration(b.N)) // scale_bench_test.go
}

// TestE2EFlakyTagRecovers serves a registry that fails one tag's manifest several times in a
// row once the page is opened (as a registry under load answers 503): the page shows every
// other tag at once, and the flaky row fills in by itself after retries with backoff, without
// a reload.
func TestE2EFlakyTagRecovers(t *testing.T) {
	reg, err := embedded.New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The tag fails more times than one server-side read tries (server/registry retries once
	// after 250 ms), so only the page's own retries (after 1, 2 and 4 s) can bring it back.
	// Counted, not timed: a slow start of the browser must not let the failures pass unseen.
	var failures, failed atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/flaky/app/manifests/v2") && failures.Add(-1) >= 0 {
			failed.Add(1)
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"overloaded"}]}`, http.StatusServiceUnavailable)
			return
		}
		reg.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(func() { up.Close(); reg.Close() })
	for _, tag := range []string{"v1", "v2", "v3"} {
		img, _ := random.Image(1024, 1)
		ref, _ := name.ParseReference(strings.TrimPrefix(up.URL, "http://")+"/flaky/app:"+tag, name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	base := startBerth(t, func(c *config.Config) { c.Registry = up.URL })
	ctx := browser(t)
	failures.Store(4)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/flaky/app"),
		waitJS(`(() => { const r = document.querySelector('#tags tr[data-tag="v1"] .digest'); return r && r.innerText.trim() !== "" })()`),
		waitJS(`(() => { const r = document.querySelector('#tags tr[data-tag="v2"]'); return r && !r.classList.contains("pending") && !r.innerText.includes("unavailable") && r.querySelector(".digest").innerText.trim() !== "" })()`),
	); err != nil {
		screenshot(t, ctx, "flaky-failed")
		t.Fatalf("the flaky tag did not recover by itself: %v", err)
	}
	if failed.Load() == 0 {
		t.Fatal("the registry never failed; the test proves nothing")
	}
}
