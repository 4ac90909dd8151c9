package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkUILoad measures, in headless Chromium, the time from navigation to the first
// rendered catalog row: cold (empty cache: HTML, app.wasm over the network, brotli) and warm
// (a second visit, served by go-app's service worker). Skips without Chromium.
func BenchmarkUILoad(b *testing.B) {
	base := startBerth(b, nil)
	row := chromedp.WaitVisible(`#repositories a[href="/repositories/library/alpine"]`)
	var cold, warm time.Duration
	for b.Loop() {
		ctx := browser(b) // a fresh profile: nothing cached
		// Start the browser outside the measurement.
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), row); err != nil {
			b.Fatalf("cold load: %v", err)
		}
		cold += time.Since(start)
		if err := chromedp.Do(ctx, waitOffline("")); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?warm"), row); err != nil {
			b.Fatalf("warm load: %v", err)
		}
		warm += time.Since(start)
	}
	b.ReportMetric(float64(cold.Milliseconds())/float64(b.N), "cold_ms")
	b.ReportMetric(float64(warm.Milliseconds())/float64(b.N), "warm_ms")
	b.ReportMetric(0, "ns/op")
}
