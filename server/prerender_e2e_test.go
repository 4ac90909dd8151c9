package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/server/config"
)

// apiLog records the /api/v1 requests a browser tab makes, from CDP network events.
type apiLog struct {
	mu       sync.Mutex
	requests []string // path and query, in order
	last     time.Time
}

func watchAPI(t testing.TB, ctx context.Context) *apiLog {
	t.Helper()
	l := &apiLog{}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			if u, err := url.Parse(e.Request.URL); err == nil && strings.HasPrefix(u.Path, "/api/v1/") {
				l.mu.Lock()
				l.requests = append(l.requests, u.RequestURI())
				l.last = time.Now()
				l.mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return l
}

// since returns the requests made after the first n.
func (l *apiLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.requests[n:]...)
}

func (l *apiLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.requests)
}

// quiet waits until no /api/v1 request has started for d.
func (l *apiLog) quiet(ctx context.Context, d time.Duration) error {
	for {
		l.mu.Lock()
		idle := time.Since(l.last)
		l.mu.Unlock()
		if idle >= d {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d - idle):
		}
	}
}

// blockWasm keeps app.wasm from loading (on) or lets it load again.
func blockWasm(ctx context.Context, on bool) error {
	var patterns []*network.BlockPattern
	if on {
		patterns = []*network.BlockPattern{{URLPattern: "*://*:*/web/app.wasm", Block: true}}
	}
	_, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: patterns})
	return err
}

// watchRows is run in every new document: it notes when the rows of the page (selectors by
// path) first show (berthRowsAt, ms since the navigation started), and whether they were
// ever gone afterwards (a flicker: a mutation batch leaving none), until the page ends.
const watchRows = `(() => {
	const watch = () => {
		const sel = (ROWS)[location.pathname];
		if (!sel) return;
		const check = () => {
			const n = document.querySelectorAll(sel).length;
			if (n === 0) {
				if (window.berthRowsSeen) window.berthRowsGone = (window.berthRowsGone || 0) + 1;
			} else if (!window.berthRowsSeen) {
				window.berthRowsSeen = true;
				window.berthRowsAt = performance.now();
			}
		};
		check();
		new MutationObserver(check).observe(document.documentElement, {childList: true, subtree: true});
	};
	document.addEventListener("DOMContentLoaded", watch);
})()`

// pagesWithData are the pages the server renders with their data: the address, the
// selector of their rows, and a text the rows hold.
var pagesWithData = []struct {
	name, path, rows, want string
}{
	{"catalog", "/", `#repositories a.repo`, "alpine"},
	{"repository", "/repositories/library/alpine", `#tags tr.tag:not(.pending) td.size`, "kB"},
	{"manifest", "/repositories/library/alpine:3.21", `#platforms a, #layers td`, "linux/arm64"},
}

// warm reads the pages' data once, so that a freshly started Berth has it described and
// answers a page within the prerender's bound (a page read past it arrives without data,
// and the browser loads it).
func warm(t testing.TB, base string) {
	t.Helper()
	warmPaths(t, base,
		"/api/v1/repositories?limit=200&offset=0",
		"/api/v1/repositories/library/alpine/tags?limit=all",
		"/api/v1/repositories/library/alpine/manifests/3.21",
	)
}

// warmPaths GETs each of paths once (see warm).
func warmPaths(t testing.TB, base string, paths ...string) {
	t.Helper()
	for _, path := range paths {
		start := time.Now()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		t.Logf("cold GET %s: %v", path, time.Since(start).Round(time.Millisecond))
	}
}

// watchRowsIn runs watchRows in every document the tab opens from now on.
func watchRowsIn(ctx context.Context) error {
	rows := map[string]string{}
	for _, p := range pagesWithData {
		rows[p.path] = p.rows
	}
	byPath, _ := json.Marshal(rows)
	script := strings.Replace(watchRows, "ROWS", string(byPath), 1)
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
	return err
}

// appRunning waits until app.wasm runs the page: go-app removes its loader once the page's
// components are mounted with their handlers. A page that arrives with its data shows it
// before that; clicks, keys and scrolling need the app.
func appRunning() chromedp.Action[chromedp.Void] {
	return waitJS(`!document.getElementById("app-wasm-loader")`)
}

// waitRows waits until rows matching the selector are laid out on the page.
func waitRows(selector string) chromedp.Action[chromedp.Void] {
	return waitJS(`[...document.querySelectorAll(` + "`" + selector + "`" + `)].some(e => e.offsetHeight > 0)`)
}

// The catalog, repository and manifest pages show their rows before app.wasm starts; once
// it starts, it fetches none of that data again and the rows never leave the page.
func TestE2EPagesArriveWithData(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, func(c *config.Config) { c.ClientRendered = false })
	warm(t, base)
	api := watchAPI(t, ctx)

	// app.wasm never arrives: what shows is the server's page alone.
	if err := blockWasm(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range pagesWithData {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), waitRows(p.rows)); err != nil {
			t.Fatalf("%s without app.wasm: %v", p.name, err)
		}
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll(`+"`"+p.rows+"`"+`)].map(e => e.innerText).join(" ")`))
		if err != nil || !strings.Contains(text, p.want) {
			t.Errorf("%s without app.wasm shows %q (%v), want %q", p.name, text, err, p.want)
		}
		loader, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.getElementById("app-wasm-loader")).display`))
		if loader != "none" {
			t.Errorf("%s without app.wasm: go-app's loader covers the page (display %q)", p.name, loader)
		}
		if p.name == "repository" {
			// The activity line comes with the page: arriving later, it pushed the rows down.
			line, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#repo-activity") || {}).innerText || ""`))
			if !strings.Contains(line, "Last push") {
				t.Errorf("the repository page without app.wasm has no activity line (%q)", line)
			}
		}
		screenshot(t, ctx, "prerendered-"+p.name)
	}
	if n := api.count(); n != 0 {
		t.Errorf("pages without app.wasm made %d /api/v1 requests: %v", n, api.since(0))
	}

	// app.wasm starts on the page the server rendered and takes it over.
	if err := blockWasm(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := watchRowsIn(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range pagesWithData {
		before := api.count()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+p.path),
			waitJS(`!document.getElementById("app-wasm-loader")`), // go-app removes it once app.wasm runs
		); err != nil {
			t.Fatalf("%s with app.wasm: %v", p.name, err)
		}
		qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := api.quiet(qctx, time.Second)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range api.since(before) {
			// Activity, storage figures, untagged manifests and the session are not in the
			// page, nor the wait for changes; its data is.
			if strings.HasPrefix(r, "/api/v1/repositories") && !strings.Contains(r, "/usage") && !strings.Contains(r, "/untagged") && !strings.Contains(r, "/changes?") {
				t.Errorf("%s: app.wasm fetched %s again", p.name, r)
			}
		}
		gone, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.berthRowsSeen ? (window.berthRowsGone || 0) : -1`))
		if err != nil || gone != 0 {
			t.Errorf("%s: rows gone from the page %d times while app.wasm took over (-1: never seen), %v", p.name, gone, err)
		}
	}
}

// falseBoolean is a boolean attribute written with the value "false".
var falseBoolean = regexp.MustCompile(`\s(checked|selected|disabled|open|required|autofocus|readonly|hidden|multiple)="false"`)

// Unknown pages, repositories and tags answer 404 with a page that says what is missing and
// offers a search, prerendered or not; the pages that exist answer 200. No page carries
// go-app's name="false" attributes, which HTML reads as true (ticked, disabled).
func TestPagesSayNotFound(t *testing.T) {
	base := startBerth(t, func(c *config.Config) { c.ClientRendered = false })
	warm(t, base)
	for _, c := range []struct {
		path   string
		status int
		says   string
	}{
		{"/no/such/page", http.StatusNotFound, "Page not found"},
		{"/repositories/no/such", http.StatusNotFound, "There is no repository no/such"},
		{"/repositories/library/alpine:nope", http.StatusNotFound, "There is no tag library/alpine:nope"},
		{"/repositories/library/alpine", http.StatusOK, "latest"},
		{"/repositories/library/alpine:latest", http.StatusOK, "linux/arm64"},
		{"/", http.StatusOK, "library/alpine"},
	} {
		for _, navigate := range []bool{true, false} {
			req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
			if navigate {
				req.Header.Set("Sec-Fetch-Mode", "navigate")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page := string(body)
			if !navigate {
				// Without data only the unknown address is known to be missing.
				if c.path == "/no/such/page" && resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s without data: %s, want 404", c.path, resp.Status)
				}
				continue
			}
			if resp.StatusCode != c.status || !strings.Contains(page, c.says) {
				t.Errorf("GET %s: %s, says %q: %v; want %d and %q", c.path, resp.Status, c.says, strings.Contains(page, c.says), c.status, c.says)
			}
			if c.status == http.StatusNotFound && (!strings.Contains(page, `name="q"`) || strings.Contains(page, "tag-filter") || strings.Contains(page, "Untagged")) {
				t.Errorf("GET %s: the not-found page lacks the search, or shows a tag filter or untagged manifests", c.path)
			}
			if m := falseBoolean.FindString(page); m != "" {
				t.Errorf("GET %s: %s, which HTML reads as true", c.path, m)
			}
		}
	}
}

// A first visit downloads app.wasm with the page, once: the head's preload, which the page's
// app.js takes over. Once the service worker keeps app.wasm, a page its navigation preload
// asked for comes without (its app.js asks for app.wasm after the next frame, see
// site.directWasm), and its app still starts and takes the page over.
func TestE2EWasmPreloadedOnFirstVisitOnly(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, func(c *config.Config) { c.ClientRendered = false })
	warm(t, base)
	// The page's preloads of app.wasm, and its requests for it (the preload taken over counts
	// once).
	const state = `[document.querySelectorAll('link[rel="preload"][as="fetch"][href$="/web/app.wasm"]').length,
		performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname === "/web/app.wasm").length]`
	visit := func(name string, want [2]int) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/library/alpine"), waitRows(`#tags tr[data-tag="latest"]`), appRunning()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](state))
		if err != nil || len(got) != 2 || [2]int(got) != want {
			t.Errorf("%s: preloads and requests of app.wasm = %v (%v), want %v", name, got, err, want)
		}
	}
	visit("first visit", [2]int{1, 1})
	if err := chromedp.Do(ctx, waitOffline("")); err != nil { // the worker keeps app.wasm, and controls the tab
		t.Fatal(err)
	}
	visit("with the service worker", [2]int{0, 1})
}
