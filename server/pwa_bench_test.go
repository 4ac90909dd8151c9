package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/server/config"
)

// BenchmarkUILoad measures, in headless Chromium, the time from navigation to the first real
// content of the catalog (its rows), a repository (tag rows with their sizes) and a manifest
// (its platforms), as the page itself times it: pages served with their data (the default)
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
				total[p.name+"_cold_"+m.name] += firstContent(b, ctx, m.base+p.path)
				if err := chromedp.Do(ctx, waitOffline(m.base)); err != nil {
					b.Fatal(err)
				}
				total[p.name+"_warm_"+m.name] += firstContent(b, ctx, m.base+p.path+"?warm")
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
	b.ReportMetric(0, "ns/op")
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
