package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/server/config"
)

// BenchmarkUILoad measures, in headless Chromium, the time from navigation to the first real
// content of the catalog (its rows), a repository (tag rows with their sizes) and a manifest
// (its platforms), as the page itself times it, and where app.wasm's start goes (download,
// compile, Go start-up to go-app's first render) and the first click that works (a Delete
// clicked on the repository page the moment its rows show, until its dialog is open): pages served with their data (the default)
// against client-loaded ones (--client-rendered, the browser fetches the data once app.wasm
// runs), each cold (a fresh profile: HTML and app.wasm over the network, brotli) and warm (a
// second visit, app.wasm from go-app's service worker). It reports each time and
// client/server for both. Skips without Chromium.
func BenchmarkUILoad(b *testing.B) {
	modes := []struct{ name, base string }{
		{"server", startBerth(b, func(c *config.Config) { c.ClientRendered = false })},
		{"client", startBerth(b, func(c *config.Config) { c.ClientRendered = true })},
	}
	for _, m := range modes {
		warm(b, m.base)
	}
	total := map[string]time.Duration{}
	lost := map[string]int{}
	for b.Loop() {
		for _, m := range modes {
			for _, p := range pagesWithData {
				ctx := browser(b) // a fresh profile: nothing cached
				// Start the browser outside the measurement.
				if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
					b.Fatal(err)
				}
				if err := watchRowsIn(ctx); err != nil {
					b.Fatal(err)
				}
				if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchStartup}); err != nil {
					b.Fatal(err)
				}
				for _, w := range []string{"cold", "warm"} {
					url := m.base + p.path
					if w == "warm" {
						if err := chromedp.Do(ctx, waitOffline(m.base)); err != nil {
							b.Fatal(err)
						}
						url += "?warm"
					}
					total[p.name+"_"+w+"_"+m.name] += firstContent(b, ctx, url)
					st := startup(b, ctx, url)
					for k, v := range st {
						total[w+"_"+m.name+"_"+k] += time.Duration(v * float64(time.Millisecond))
					}
					if p.name == "repository" {
						if st["click"] < 0 {
							lost[w+"_"+m.name]++
						} else {
							total["repository_"+w+"_"+m.name+"_click"] += time.Duration(st["click"] * float64(time.Millisecond))
						}
					}
				}
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	for _, p := range pagesWithData {
		for _, w := range []string{"cold", "warm"} {
			server, client := total[p.name+"_"+w+"_server"], total[p.name+"_"+w+"_client"]
			b.ReportMetric(ms(server), fmt.Sprintf("%s_%s_server_ms", p.name, w))
			b.ReportMetric(ms(client), fmt.Sprintf("%s_%s_client_ms", p.name, w))
			b.ReportMetric(float64(client)/float64(server), fmt.Sprintf("%s_%s_client/server", p.name, w))
		}
	}
	pages := float64(len(pagesWithData))
	for _, m := range modes {
		for _, w := range []string{"cold", "warm"} {
			k := w + "_" + m.name
			for _, step := range []string{"wasm_asked", "wasm_loaded", "wasm_compiled", "app"} {
				b.ReportMetric(ms(total[k+"_"+step])/pages, k+"_"+step+"_ms")
			}
			if n := b.N - lost[k]; n > 0 {
				b.ReportMetric(ms(total["repository_"+k+"_click"])*float64(b.N)/float64(n), "repository_"+k+"_click_ms")
			}
			b.ReportMetric(float64(lost[k]), "repository_"+k+"_lost_clicks")
		}
	}
	b.ReportMetric(0, "ns/op")
}

// watchStartup runs in every new document: it notes when app.wasm was compiled
// (berthCompiledAt) and when go-app took the page over (berthAppAt, its loader gone), and on
// a repository page clicks the first Delete the moment it shows, noting when its dialog
// opened (berthClickAt): the first click that worked.
const watchStartup = `(() => {
	const now = () => performance.now();
	for (const name of ["instantiateStreaming", "instantiate"]) {
		const orig = WebAssembly[name];
		WebAssembly[name] = function (...args) {
			return orig.apply(this, args).then((r) => { window.berthCompiledAt = window.berthCompiledAt || now(); return r; });
		};
	}
	document.addEventListener("DOMContentLoaded", () => {
		const seen = () => {
			if (!window.berthAppAt && !document.getElementById("app-wasm-loader")) window.berthAppAt = now();
			const del = document.querySelector("#tags tr.tag .delete-tag");
			if (del && !window.berthClicked) { window.berthClicked = true; del.click(); }
			if (!window.berthClickAt && document.querySelector("#delete-dialog[open]")) window.berthClickAt = now();
		};
		seen();
		new MutationObserver(seen).observe(document.documentElement, {childList: true, subtree: true, attributes: true, attributeFilter: ["open"]});
	});
})()`

// startup waits until app.wasm runs the page at url and returns, in ms since navigation,
// when app.wasm was asked for, had arrived, was compiled, and ran the page; and when a
// Delete clicked as the rows showed opened its dialog (-1: the click was lost, the dialog
// still closed 3 s after the app started; 0: the page has no Delete).
func startup(b *testing.B, ctx context.Context, url string) map[string]float64 {
	b.Helper()
	const settled = `window.berthAppAt > 0 && (window.berthClickAt > 0 || !window.berthClicked || performance.now() - window.berthAppAt > 3000)`
	if err := chromedp.Do(ctx, waitJS(settled)); err != nil {
		b.Fatalf("%s: %v", url, err)
	}
	times, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`(() => {
		const wasm = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/web/app.wasm"));
		return {
			wasm_asked: wasm ? wasm.startTime : 0, wasm_loaded: wasm ? wasm.responseEnd : 0,
			wasm_compiled: window.berthCompiledAt, app: window.berthAppAt,
			click: window.berthClickAt || (window.berthClicked ? -1 : 0),
		};
	})()`))
	if err != nil {
		b.Fatalf("%s: %v", url, err)
	}
	return times
}

// firstContent opens url and returns when its rows first showed, after the navigation
// started, as the page measured it.
func firstContent(b *testing.B, ctx context.Context, url string) time.Duration {
	b.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), waitJS(`window.berthRowsAt > 0`)); err != nil {
		b.Fatalf("%s: %v", url, err)
	}
	at, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.berthRowsAt`))
	if err != nil {
		b.Fatalf("%s: %v", url, err)
	}
	return time.Duration(at * float64(time.Millisecond))
}
