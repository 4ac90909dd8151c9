package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestE2ERegistryNotAnswering hangs the registry (it takes requests, never answers) under a
// page showing the catalog: once the breaker is open, opening a repository shows "The registry
// is not answering" well inside the upstream timeout, and the banner goes once it answers.
func TestE2ERegistryNotAnswering(t *testing.T) {
	ctx := browser(t)
	realURL, _ := url.Parse(registrytest.Open(t))
	ref, err := name.ParseReference(realURL.Host+"/team/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(512, 1)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(realURL)
	var hung atomic.Bool
	var held atomic.Int64 // requests the hung registry took, besides the breaker's probes of /v2/
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hung.Load() {
			if r.URL.Path != "/v2/" {
				held.Add(1)
			}
			<-r.Context().Done()
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	const timeout = 2 * time.Second
	base := startBerth(t, func(c *config.Config) { c.Registry, c.UpstreamTimeout = up.URL, timeout })
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#repositories a[href="/repositories/team/app"]`),
	); err != nil {
		t.Fatalf("catalog: %v", err)
	}

	hung.Store(true)
	for i := 0; ; i++ { // each costs the timeout until the breaker opens
		var eb api.ErrorBody
		code := apiCall(t, http.MethodGet, base+"/api/v1/repositories/team/other/tags", nil, &eb)
		if eb.Error.Code == api.CodeRegistryUnavailable {
			break
		}
		if i == 10 {
			t.Fatalf("the breaker did not open: %d %+v", code, eb)
		}
	}
	held.Store(0)
	if err := chromedp.Do(ctx,
		clickOn(`#repositories a[href="/repositories/team/app"]`),
		waitShown(`#registry-banner`),
	); err != nil {
		t.Fatalf("registry banner: %v", err)
	}
	// The open breaker answered the page's requests itself, instead of each waiting out the
	// timeout at the registry; only its own probes (as many as the page took time) went there.
	if n := held.Load(); n > 0 {
		t.Errorf("%d of the page's requests went to the hung registry while its breaker was open", n)
	}
	msg, _ := chromedp.Run(ctx, textOf(`#registry-banner`))
	if !strings.Contains(msg, "The registry is not answering") {
		t.Errorf("banner %q", msg)
	}
	screenshot(t, ctx, "registry-not-answering")

	hung.Store(false)
	if err := chromedp.Do(ctx, waitGone(`#registry-banner`)); err != nil {
		t.Fatalf("the banner stayed after the registry came back: %v", err)
	}
}
