package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
)

// catalogAPI asks the API for the whole catalog under a query such as "kind=chart".
func catalogAPI(t *testing.T, base, query string) api.RepositoryPage {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/repositories?limit=1000&" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p api.RepositoryPage
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET repositories?%s: %s", query, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// describedCatalog waits until the server's index describes every demo repository (a kind
// and a size for each) and the answer stays the same for a second (a size grows while the
// indexer describes an index's platforms), and returns the catalog then.
func describedCatalog(t *testing.T, base string) map[string]api.Repository {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last map[string]api.Repository
	for {
		rows := describedOnce(t, base, deadline)
		if maps.EqualFunc(rows, last, func(a, b api.Repository) bool {
			return a.Tags == b.Tags && a.Size == b.Size && a.Kind == b.Kind && a.LastPush.Equal(b.LastPush)
		}) {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catalog's facts keep changing: %+v", rows)
		}
		last = rows
		time.Sleep(time.Second)
	}
}

// describedOnce waits until the index describes every demo repository.
func describedOnce(t *testing.T, base string, deadline time.Time) map[string]api.Repository {
	t.Helper()
	for {
		p := catalogAPI(t, base, "")
		rows := map[string]api.Repository{}
		missing := ""
		for _, r := range p.Repositories {
			rows[r.Name] = r
		}
		for _, n := range demo.Repositories() {
			if r := rows[n]; r.Kind == "" || r.Size == 0 || r.Tags == 0 || r.LastPush.IsZero() {
				missing = n
			}
		}
		if missing == "" && !p.Partial {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("the index does not describe %s in time: %+v", missing, rows[missing])
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func repoNames(p api.RepositoryPage) []string {
	out := make([]string, 0, len(p.Repositories))
	for _, r := range p.Repositories {
		out = append(out, r.Name)
	}
	return out
}

// shownRepos returns the repositories the list shows, in order.
func shownRepos(ctx context.Context) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#repositories a.repo")].map(a => a.dataset.repo)`))
}

// waitListed waits until the list shows exactly want, in order.
func waitListed(want []string) chromedp.Action[chromedp.Void] {
	b, _ := json.Marshal(want)
	return waitJS(`JSON.stringify([...document.querySelectorAll("#repositories a.repo")].map(a => a.dataset.repo)) === ` + jsString(string(b)))
}

// rowFacts reads what a repository's row says, fact by fact.
func rowFacts(t *testing.T, ctx context.Context, repo string) map[string]string {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => {
		const a = document.querySelector('#repositories a.repo[data-repo="`+repo+`"]');
		if (!a) return {};
		const f = {};
		for (const el of a.querySelectorAll(".fact")) f[el.classList[1]] = el.innerText.trim();
		const t = a.querySelector("time.pushed");
		f.title = t ? t.title : "";
		f.datetime = t ? t.getAttribute("datetime") : "";
		const chip = a.querySelector(".fact.kind .chip");
		f.badge = chip ? chip.className : "";
		return f;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRow compares a row's facts with the API's row of the repository.
func checkRow(t *testing.T, ctx context.Context, state string, r api.Repository) {
	t.Helper()
	f := rowFacts(t, ctx, r.Name)
	kind := map[string]string{"image": "image", "chart": "Helm chart", "artifact": "artifact"}[r.Kind]
	want := map[string]string{
		"kind":     kind,
		"tags":     fmt.Sprintf("%d tag", r.Tags),
		"size":     api.HumanSize(r.Size),
		"title":    r.LastPush.UTC().Format("2006-01-02 15:04:05 UTC"),
		"datetime": r.LastPush.UTC().Format(time.RFC3339),
		"badge":    "chip kind-" + r.Kind,
	}
	if r.Tags != 1 {
		want["tags"] += "s"
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s: %s row's %s is %q, want %q (row %v)", state, r.Name, k, f[k], v, f)
		}
	}
	if !strings.HasPrefix(f["pushed"], "pushed ") || !strings.HasSuffix(f["pushed"], "ago") && f["pushed"] != "pushed just now" {
		t.Errorf("%s: %s row's last push %q", state, r.Name, f["pushed"])
	}
	if r.Pulls > 0 && !strings.HasSuffix(f["pulls"], "pull") && !strings.HasSuffix(f["pulls"], "pulls") {
		t.Errorf("%s: %s row's pulls %q for %d", state, r.Name, f["pulls"], r.Pulls)
	}
}

// The catalog shows what the index knows of each repository, and filters by kind on the
// server: the kind is in the address, so reload, back and forward keep it. The server's
// page for a filtered address arrives with those rows and facts, and app.wasm takes it over
// without asking again.
func TestE2ECatalogFactsAndKindFilter(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, func(c *config.Config) { c.ClientRendered = false })
	all := describedCatalog(t, base)
	charts := catalogAPI(t, base, "kind=chart")
	if charts.Total == 0 || charts.Total == len(all) {
		t.Fatalf("the demo has %d charts among %d repositories; the filter would prove nothing", charts.Total, len(all))
	}
	for _, n := range repoNames(charts) {
		if all[n].Kind != api.KindChart {
			t.Fatalf("the API's kind=chart answer holds %s, of kind %q", n, all[n].Kind)
		}
	}
	known := []string{"library/alpine", "charts/berth-demo", "policies/admission", demo.InsideRepo}
	apiLog := watchAPI(t, ctx)

	// The server's page for ?kind=chart, before app.wasm runs: the charts with their facts.
	if err := blockWasm(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?kind=chart"), waitRows(`#repositories a.repo`)); err != nil {
		t.Fatalf("prerendered charts: %v", err)
	}
	if got, err := shownRepos(ctx); err != nil || !slices.Equal(got, repoNames(charts)) {
		t.Errorf("prerendered ?kind=chart shows %v (%v), the API answers %v", got, err, repoNames(charts))
	}
	checkRow(t, ctx, "prerendered", all["charts/berth-demo"])
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#repo-kind").value`)); v != "chart" {
		t.Errorf("prerendered kind select says %q", v)
	}
	screenshot(t, ctx, "catalog-charts-prerendered")
	if n := apiLog.count(); n != 0 {
		t.Errorf("the prerendered page made %d /api/v1 requests: %v", n, apiLog.since(0))
	}

	// app.wasm takes that page over: no second fetch, the rows never leave.
	if err := blockWasm(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := watchRowsIn(ctx); err != nil {
		t.Fatal(err)
	}
	before := apiLog.count()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?kind=chart"), appRunning()); err != nil {
		t.Fatalf("charts with app.wasm: %v", err)
	}
	qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err := apiLog.quiet(qctx, time.Second)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range apiLog.since(before) {
		if strings.HasPrefix(r, "/api/v1/repositories") {
			t.Errorf("app.wasm fetched %s again", r)
		}
	}
	if gone, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.berthRowsSeen ? (window.berthRowsGone || 0) : -1`)); err != nil || gone != 0 {
		t.Errorf("rows gone %d times while app.wasm took over (-1: never seen), %v", gone, err)
	}
	checkRow(t, ctx, "taken over", all["charts/berth-demo"])

	// The whole catalog: every known repository's row says what the API says.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), appRunning(), waitListed(demo.Repositories())); err != nil {
		t.Fatalf("catalog: %v", err)
	}
	for _, n := range known {
		checkRow(t, ctx, "catalog", all[n])
	}
	screenshot(t, ctx, "catalog-facts")

	// Choosing Helm charts shows exactly the API's charts, in the address and the count.
	if err := chromedp.Do(ctx,
		choose("#repo-kind", "chart"),
		waitJS(`new URLSearchParams(location.search).get("kind") === "chart"`),
		waitListed(repoNames(charts)),
		waitJS(`document.querySelector("#repo-count").innerText === `+jsString(fmt.Sprintf("%d Helm charts", charts.Total))),
	); err != nil {
		shown, _ := shownRepos(ctx)
		t.Fatalf("choosing Helm charts: %v; shows %v, want %v", err, shown, repoNames(charts))
	}
	// Back restores every kind; forward the charts again.
	if err := chromedp.Do(ctx,
		chromedp.NavigateBack(),
		waitJS(`location.search === ""`),
		waitListed(demo.Repositories()),
		waitJS(`document.querySelector("#repo-kind").value === "all"`),
		chromedp.NavigateForward(),
		waitListed(repoNames(charts)),
		waitJS(`document.querySelector("#repo-kind").value === "chart"`),
	); err != nil {
		t.Fatalf("back and forward: %v", err)
	}
	// A reload keeps the filter.
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		appRunning(),
		waitListed(repoNames(charts)),
		waitJS(`document.querySelector("#repo-kind").value === "chart" && location.search === "?kind=chart"`),
	); err != nil {
		t.Fatalf("reload: %v", err)
	}

	// The search narrows the charts on the server, and the address keeps both.
	web := catalogAPI(t, base, "kind=chart&q=web")
	if web.Total == 0 || web.Total == charts.Total {
		t.Fatalf("kind=chart&q=web answers %v; the test needs a part of the charts", repoNames(web))
	}
	if err := chromedp.Do(ctx,
		typeInto(`#repo-filter`, "web"),
		waitListed(repoNames(web)),
		waitJS(`(() => { const p = new URLSearchParams(location.search); return p.get("kind") === "chart" && p.get("q") === "web"; })()`),
		waitJS(`document.querySelector("#repo-count").innerText.startsWith(`+jsString(fmt.Sprint(web.Total)+" Helm chart")+`)`),
	); err != nil {
		shown, _ := shownRepos(ctx)
		t.Fatalf("search within charts: %v; shows %v", err, shown)
	}

	// Ordering by size, largest first, follows the server's order, over every kind.
	bySize := catalogAPI(t, base, "sort=-size")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		appRunning(),
		choose("#repo-sort", "-size"),
		waitJS(`new URLSearchParams(location.search).get("sort") === "-size"`),
		waitListed(repoNames(bySize)),
	); err != nil {
		shown, _ := shownRepos(ctx)
		t.Fatalf("sort by size: %v; shows %v, want %v", err, shown, repoNames(bySize))
	}

	// On a phone every repository is a card no wider than the screen, in light and dark.
	for _, dark := range []bool{false, true} {
		state := fmt.Sprintf("phone-dark=%v", dark)
		if err := chromedp.Do(ctx, look(390, 844, dark), chromedp.Navigate(base+"/?kind=chart"), appRunning(), waitListed(repoNames(charts))); err != nil {
			t.Fatalf("%s: %v", state, err)
		}
		noOverflow(t, ctx, state)
		checkRow(t, ctx, state, all["charts/berth-demo"])
		h, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => { const a = document.querySelectorAll("#repositories a.repo"); return a[1].offsetTop - a[0].offsetTop; })()`))
		if err != nil || h != 96 {
			t.Errorf("%s: cards are %d px apart (%v), the virtual list counts 96", state, h, err)
		}
		screenshot(t, ctx, "catalog-charts-"+state)
	}
	if err := chromedp.Do(ctx, look(1280, 800, false)); err != nil {
		t.Fatal(err)
	}
}

// TestE2ECatalogFindsTagsByDigestAndLabel types a digest, then a label, into the catalog's
// filter: the page lists exactly the tags the search API finds, each linked to its manifest.
func TestE2ECatalogFindsTagsByDigestAndLabel(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, nil)
	describedCatalog(t, base) // the index knows every demo tag
	search := func(q string) api.SearchPage {
		t.Helper()
		resp, err := http.Get(base + "/api/v1/search?limit=100&q=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p api.SearchPage
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&p) != nil {
			t.Fatalf("GET search?q=%s: %s", q, resp.Status)
		}
		return p
	}
	var alpine api.TagPage
	resp, err := http.Get(base + "/api/v1/repositories/library/alpine/tags?limit=all")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&alpine)
	resp.Body.Close()
	digest := ""
	for _, tg := range alpine.Tags {
		if tg.Name == "3.21" {
			digest = tg.Digest
		}
	}
	if digest == "" {
		t.Fatalf("library/alpine:3.21 has no digest: %+v", alpine.Tags)
	}

	for _, q := range []string{digest, "org.opencontainers.image.version=1.25"} {
		want := search(q)
		if len(want.Results) == 0 {
			t.Fatalf("the API finds nothing for %q; the page would prove nothing", q)
		}
		var wantRows []string
		for _, r := range want.Results {
			wantRows = append(wantRows, r.Repository+":"+r.Tag)
		}
		slices.Sort(wantRows)
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/"), appRunning(),
			typeInto(`#repo-filter`, q),
			waitShown(`#search-results tbody tr`),
		); err != nil {
			screenshot(t, ctx, "catalog-search-failed")
			t.Fatalf("search %q: %v", q, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#search-results tbody tr")].map(r => r.dataset.result).sort()`))
		if err != nil || !slices.Equal(got, wantRows) {
			t.Errorf("search %q shows %v (%v), the API finds %v", q, got, err, wantRows)
		}
		if u, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`)); !strings.Contains(u, "q=") {
			t.Errorf("the address %q does not keep the search", u)
		}
	}
	screenshot(t, ctx, "catalog-search-label")
	// A result opens its manifest page.
	if err := chromedp.Do(ctx,
		clickOn(`#search-results tbody tr:first-child a`),
		waitShown(`#manifest`),
	); err != nil {
		t.Fatalf("open a result: %v", err)
	}
	// A label nobody has: said plainly.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/?q="+url.QueryEscape("label:no.such.label")), appRunning(),
		waitShown(`.state.empty`),
	); err != nil {
		t.Fatalf("search without hits: %v", err)
	}
	if msg, _ := chromedp.Run(ctx, textOf(`.state.empty`)); !strings.Contains(msg, "No tag has this label") {
		t.Errorf("empty search says %q", msg)
	}
}

// The catalog's columns are labelled, and clicking a sortable head orders the catalog as the
// Sort select does, with the same ?sort= in the address: by size (largest first), then by
// name again.
func TestE2ECatalogColumnHeadsSort(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, func(c *config.Config) { c.ClientRendered = false })
	describedCatalog(t, base) // every repository's size known, so the order is the final one
	bySize := repoNames(catalogAPI(t, base, "sort=-size"))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), waitRows(`#repositories .repo-head`), appRunning()); err != nil {
		t.Fatalf("catalog: %v", err)
	}
	heads, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#repositories .repo-head .col")].map(e => e.textContent.trim()).join("|")`))
	if err != nil || heads != "Repository ↑ (sorted)|Kind|Findings|Tags|Size|Last push|Pulls" {
		t.Errorf("column heads %q (%v)", heads, err)
	}
	if err := chromedp.Do(ctx, clickOn(`#repositories .repo-head a.size`),
		waitJS(`location.search === "?sort=-size" && document.querySelector("#repo-sort").value === "-size"`),
		waitJS(`document.querySelector("#repositories .repo-head a.size")?.getAttribute("aria-current") === "true"`)); err != nil {
		t.Fatalf("sort by the Size head: %v", err)
	}
	if err := chromedp.Do(ctx, waitJS(`document.querySelector("#repositories a.repo")?.dataset.repo === `+jsString(bySize[0]))); err != nil {
		got, _ := shownRepos(ctx)
		t.Errorf("sorted by size, the catalog shows %v, the API answers %v", got, bySize)
	}
	screenshot(t, ctx, "catalog-sorted-by-size")
	if err := chromedp.Do(ctx, clickOn(`#repositories .repo-head a.name`), waitJS(`location.search === "" && document.querySelector("#repo-sort").value === "name"`)); err != nil {
		t.Errorf("back to sorting by name: %v", err)
	}
}
