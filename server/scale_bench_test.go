package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
)

// benchHugeRepository is BenchmarkUIScale's 10,000-tag repository (BERTH_BENCH_HUGE_TAGS
// overrides), written with demo.Populate (kept under the temp dir for later runs) and served
// by a registry that counts the requests reaching it, its index primed with one limit=all
// read. Three visits in headless Chromium, each timed from the navigation's start to the
// first row's paint (Element Timing), to the first moment the page answers a script with a
// row shown (app.wasm's start holds the page's thread until then), and to every row in view
// with its details: new_browser (a fresh profile: app.wasm downloaded and compiled), fresh
// (again at once) and stale (after the tag TTL lapsed), each with the registry requests it
// caused. Pages are prerendered with their data, as a deployed Berth
// serves them; each visit also reports the navigation answer's time and size, and every time
// its ratio to base, the 1,000-tag repository's time in the same run.
func benchHugeRepository(b *testing.B, base1000 time.Duration) {
	tags := 10_000
	if v, err := strconv.Atoi(os.Getenv("BERTH_BENCH_HUGE_TAGS")); err == nil && v > 0 {
		tags = v
	}
	base, requests := benchRegistryBerth(b, "huge", tags, func(c *config.Config) { c.UpstreamTimeout = 10 * time.Minute })
	start := time.Now()
	resp, err := http.Get(base + "/api/v1/repositories/huge/r000000/tags?limit=all")
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("priming the index: status %d", resp.StatusCode)
	}
	b.ReportMetric(time.Since(start).Seconds()*1000, "huge_prime_ms")
	b.ReportMetric(float64(requests.Load()), "huge_prime_registry_requests")
	ctx := userBrowser(b)
	report := func(d time.Duration, metric string) {
		b.ReportMetric(d.Seconds()*1000, metric+"_ms")
		if base1000 > 0 {
			b.ReportMetric(d.Seconds()/base1000.Seconds(), metric+"/1000_tags")
		}
	}
	visit := func(name string) {
		requests.Store(0)
		answer, size, data := navigationAnswer(b, base+"/repositories/huge/r000000")
		report(answer, "huge_"+name+"_page")
		b.ReportMetric(float64(size)/1000, "huge_"+name+"_page_kB")
		b.ReportMetric(map[bool]float64{true: 1}[data], "huge_"+name+"_page_has_data")
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/huge/r000000"), waitShown(`#tags tr.tag`)); err != nil {
			b.Fatal(err)
		}
		scriptable := time.Since(start)
		// From the navigation's start, in the page's own clock: until every row in view has
		// its details, and when the first row was painted (Element Timing on the rows' names).
		all, err := chromedp.Run(ctx, chromedp.Poll[float64](
			`document.querySelectorAll("#tags tr.tag.pending").length === 0 && !document.querySelector(".count").innerText.includes("loading") && performance.now()`,
			chromedp.WithPollingTimeout(waitBudget)))
		if err != nil {
			b.Fatal(err)
		}
		first, err := chromedp.Run(ctx, chromedp.Evaluate[float64](firstRowPaint, chromedp.EvalAwaitPromise))
		if err != nil || first >= 1e9 {
			b.Fatalf("no paint of a tag row was reported (%v)", err)
		}
		ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
		report(ms(first), "huge_"+name+"_first_row")
		report(scriptable, "huge_"+name+"_first_row_scriptable")
		report(ms(all), "huge_"+name+"_details")
		b.ReportMetric(float64(requests.Load()), "huge_"+name+"_registry_requests")
	}
	// A new browser profile first (Chromium's own start is not counted: times run from the
	// navigation's start): app.wasm is downloaded and compiled. Then the visits of a browser
	// that has been to Berth before, at once and after the tag TTL lapsed.
	visit("new_browser")
	visit("fresh")
	time.Sleep(11 * time.Second) // the tag TTL (10 s) lapses
	visit("stale")
}

// BenchmarkNeverSeenRegistry opens a 1,000-tag repository (distinct images, written with
// demo.Populate) on a Berth that has never read its registry: an empty index, the browser's
// first visit. It reports when the first row was painted, when the rows in view had their
// details, and when every tag had them (goal ≤ 5 s), each from the navigation's start, and
// the registry requests it took; then the same in another new browser profile once the
// index holds the repository, and each never-seen time as a ratio to that baseline. Apart
// from BenchmarkUIScale: that one's other Berths work in the background meanwhile.
func BenchmarkNeverSeenRegistry(b *testing.B) {
	for range b.N {
		base, requests := benchRegistryBerth(b, "fresh", 1000, nil)
		first, view, all := tagPageVisit(b, base+"/repositories/fresh/r000000")
		b.ReportMetric(float64(requests.Load()), "never_seen_registry_requests")
		// Every tag is in the index now: the same page in another new profile is the baseline.
		wfirst, wview, wall := tagPageVisit(b, base+"/repositories/fresh/r000000")
		for _, m := range []struct {
			name      string
			cold, got float64
		}{{"first_row", first, wfirst}, {"view_details", view, wview}, {"details", all, wall}} {
			b.ReportMetric(m.cold, "never_seen_"+m.name+"_ms")
			b.ReportMetric(m.got, "indexed_"+m.name+"_ms")
			b.ReportMetric(m.cold/m.got, "never_seen/indexed_"+m.name)
		}
	}
}

// tagPageVisit opens a repository page in a new browser profile and returns, in ms from the
// navigation's start: the first row's paint, the rows in view with their details, and every
// tag with its details (the count no longer says "loading").
func tagPageVisit(b *testing.B, url string) (first, view, all float64) {
	ctx := userBrowser(b)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), waitShown(`#tags tr.tag`)); err != nil {
		b.Fatal(err)
	}
	view, err := chromedp.Run(ctx, chromedp.Poll[float64](`document.querySelectorAll("#tags tr.tag.pending").length === 0 && performance.now()`,
		chromedp.WithPollingTimeout(waitBudget)))
	if err != nil {
		b.Fatal(err)
	}
	all, err = chromedp.Run(ctx, chromedp.Poll[float64](
		`document.querySelectorAll("#tags tr.tag.pending").length === 0 && !document.querySelector(".count").innerText.includes("loading") && performance.now()`,
		chromedp.WithPollingTimeout(waitBudget)))
	if err != nil {
		b.Fatal(err)
	}
	first, err = chromedp.Run(ctx, chromedp.Evaluate[float64](firstRowPaint, chromedp.EvalAwaitPromise))
	if err != nil || first >= 1e9 {
		b.Fatalf("no paint of a tag row was reported (%v)", err)
	}
	return first, view, all
}

// userBrowser is a headless Chromium tab as a user's browser runs pages: without the
// DevTools network recorder chromedp switches on. That recorder copies every response body
// on the page's thread (app.wasm's 12 MB, in 2 MB chunks of 20–90 ms each on this 2-core
// machine) and held back the paint of the rows it measures; nothing here reads it.
func userBrowser(b *testing.B) context.Context {
	ctx := browser(b)
	if _, err := chromedp.Call(ctx, network.Disable, cdp.Empty{}); err != nil {
		b.Fatal(err)
	}
	return ctx
}

// benchRegistryBerth starts a Berth (pages prerendered with their data, no demo, no periodic
// sync) on a registry holding one repository, prefix/r000000, of tags distinct images,
// written with demo.Populate and kept under the temp dir for later runs. It returns Berth's
// URL and the count of requests reaching the registry; more changes Berth's configuration.
func benchRegistryBerth(b testing.TB, prefix string, tags int, more func(*config.Config)) (string, *atomic.Int64) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("berth-bench-%s-%d", prefix, tags))
	if _, err := os.Stat(filepath.Join(dir, "populated")); err != nil {
		_ = os.RemoveAll(dir)
		if err := demo.Populate(dir, demo.PopulateOptions{Prefix: prefix, Repositories: 1, Tags: tags, Distinct: true}); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "populated"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	requests := new(atomic.Int64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		reg.Handler().ServeHTTP(w, r)
	}))
	b.Cleanup(func() { up.Close(); reg.Close() })
	base := startBerth(b, func(c *config.Config) {
		c.ClientRendered = false
		c.NoDemo = true
		c.DataDir = b.TempDir()
		c.Registry = up.URL
		c.SyncInterval = 0
		if more != nil {
			more(c)
		}
	})
	return base, requests
}

// firstRowPaint resolves to when the page painted its first tag row (Element Timing on the
// rows' name cells, in the page's clock), or 1e9 without one.
const firstRowPaint = `new Promise((resolve) => {
	new PerformanceObserver((list, observer) => {
		observer.disconnect();
		resolve(Math.min(...list.getEntries().filter((e) => e.identifier === "tag-row").map((e) => e.renderTime || e.loadTime), 1e9));
	}).observe({ type: "element", buffered: true });
	setTimeout(() => resolve(1e9), 2000);
})`

// navigationAnswer GETs a page as a browser navigating to it does and returns how long the
// whole answer took, its size (uncompressed) and whether it came with its data (the
// prerender's reads ended within their bound).
func navigationAnswer(b *testing.B, url string) (time.Duration, int, bool) {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start), len(body), bytes.Contains(body, []byte(`id="berth-seed"`))
}
