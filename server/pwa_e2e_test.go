package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/site"
)

// restartable is a Berth that a test can stop and start again on the same port and data, as
// when a server goes down and comes back.
type restartable struct {
	t      testing.TB
	cfg    config.Config
	URL    string
	cancel context.CancelFunc
	done   chan error
}

// startRestartable starts Berth on a fixed loopback port and stops it when the test ends.
func startRestartable(t testing.TB) *restartable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := config.Default()
	cfg.Addr = addr
	cfg.EmbeddedAddr = "off"
	cfg.DataDir = t.TempDir()
	cfg.WebDir = webDir(t)
	cfg.LogLevel = "warn"
	r := &restartable{t: t, cfg: cfg}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start runs Berth and waits until it accepts requests.
func (r *restartable) Start() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, r.cfg, func(u string, _ *site.Root) { urls <- u }) }()
	select {
	case u := <-urls:
		r.URL, r.cancel, r.done = u, cancel, done
	case err := <-done:
		cancel()
		r.t.Fatalf("berth did not start: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		r.t.Fatal("berth did not start in time")
	}
}

// Stop shuts Berth down; stopping a stopped one does nothing.
func (r *restartable) Stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		r.t.Errorf("shutdown: %v", err)
	}
	r.cancel = nil
}

// waitOffline waits until go-app's service worker holds the app shell, so the UI starts
// without the server.
func waitOffline(base string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		expr := fmt.Sprintf(`(async () => {
			for (let i = 0; i < 600; i++) {
				if (navigator.serviceWorker.controller && await caches.match(%q) && await caches.match(%q)) return true;
				await new Promise(r => setTimeout(r, 100));
			}
			return false;
		})()`, base+"/web/app.wasm", base+"/")
		ok, err := chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise)(ctx, t)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("the service worker did not cache the app shell within 60 s")
		}
		return nil
	})
}

// installabilityErrors asks Chromium why the page could not be installed as an app.
func installabilityErrors(ctx context.Context, t *chromedp.Target) ([]string, error) {
	res, err := cdp.Call(ctx, t, page.GetInstallabilityErrors, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	var errs []string
	for _, e := range res.InstallabilityErrors {
		var args []string
		for _, a := range e.ErrorArguments {
			args = append(args, a.Name+"="+a.Value)
		}
		errs = append(errs, e.ErrorID+" "+strings.Join(args, ","))
	}
	return errs, nil
}

func TestE2EPWAInstallable(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, nil)

	// The manifest says what an installed app needs.
	resp, err := http.Get(base + "/manifest.webmanifest")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name, Description, Display, Scope string
		StartURL                          string `json:"start_url"`
		Icons                             []struct{ Src, Sizes, Purpose string }
	}
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "Berth" || m.Description == "" || m.Display != "standalone" || m.StartURL != "/" || m.Scope != "/" || len(m.Icons) < 3 {
		t.Errorf("manifest lacks something an installable app needs: %+v", m)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#repositories a[href="/repositories/library/alpine"]`),
		waitOffline(""),
	); err != nil {
		t.Fatalf("catalog and service worker: %v", err)
	}
	// Chromium computes installability after the page and its worker settle; ask until the
	// answer is stable and empty, or report the last errors.
	var last []string
	for range 20 {
		last, err = chromedp.Run(ctx, installabilityErrors)
		if err != nil {
			t.Fatalf("Page.getInstallabilityErrors: %v", err)
		}
		if len(last) == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("Chromium reports installability errors: %v", last)
}

func TestE2EOfflineShowsStoredData(t *testing.T) {
	ctx := browser(t)
	srv := startRestartable(t)
	base := srv.URL

	// A first visit installs the service worker and stores the catalog.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#repositories a[href="/repositories/library/alpine"]`),
		waitOffline(""),
	); err != nil {
		t.Fatalf("first visit: %v", err)
	}
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Object.keys(localStorage).join("\n")`))
	if err != nil {
		t.Fatal(err)
	}
	// Saved under the user signed in: here nobody ("berth.api:" + "" + "|" + path).
	if !strings.Contains(stored, "berth.api:|/api/v1/repositories") {
		t.Fatalf("the catalog was not stored for offline use; localStorage keys:\n%s", stored)
	}
	if strings.Contains(stored, "/api/v1/session") {
		t.Errorf("the session answer was stored: %s", stored)
	}
	// Visit a repository too, so its tags are stored.
	if err := within(ctx,
		clickOn(`#repositories a[href="/repositories/library/alpine"]`),
		waitShown(`#tags tr[data-tag="latest"]`),
		waitJS(`document.querySelectorAll("#tags tr.tag.pending").length === 0`),
	); err != nil {
		t.Fatalf("repository visit: %v", err)
	}
	// And one opened by its address: its tags come with the page (none fetched), and are
	// kept for offline use all the same.
	if err := within(ctx,
		chromedp.Navigate(base+"/repositories/team/api/server"),
		waitShown(`#tags tr.tag`),
		appRunning(),
		waitJS(`document.querySelectorAll("#tags tr.tag.pending").length === 0`),
	); err != nil {
		t.Fatalf("repository opened by address: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), waitShown(`#repositories`)); err != nil {
		t.Fatal(err)
	}

	// With the server down, a reload still shows the catalog, marked as stored data.
	srv.Stop()
	if err := within(ctx,
		chromedp.Reload(),
		waitShown(`#offline-banner`),
		waitShown(`#repositories a[href="/repositories/library/alpine"]`),
	); err != nil {
		screenshot(t, ctx, "offline-failed")
		t.Fatalf("offline reload: %v", err)
	}
	banner, err := chromedp.Run(ctx, textOf(`#offline-banner`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner, "Offline — showing data from") {
		t.Errorf("offline banner says %q", banner)
	}
	screenshot(t, ctx, "offline-catalog")

	// A deep link opened offline gets the cached app shell and shows that page's stored data.
	if err := within(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine"),
		waitShown(`#offline-banner`),
		waitShown(`#tags tr[data-tag="latest"]`),
	); err != nil {
		screenshot(t, ctx, "offline-deep-link-failed")
		t.Fatalf("offline deep link: %v", err)
	}
	if err := within(ctx,
		chromedp.Navigate(base+"/repositories/team/api/server"),
		waitShown(`#offline-banner`),
		waitShown(`#tags tr.tag`),
	); err != nil {
		screenshot(t, ctx, "offline-prerendered-failed")
		t.Fatalf("offline, a repository first opened by address: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), waitShown(`#offline-banner`)); err != nil {
		t.Fatal(err)
	}

	// Once the server is back, the page notices and refreshes by itself.
	srv.Start()
	if err := chromedp.Do(ctx,
		waitGone(`#offline-banner`),
		waitShown(`#repositories a[href="/repositories/library/alpine"]`),
	); err != nil {
		screenshot(t, ctx, "back-online-failed")
		t.Fatalf("back online: %v", err)
	}
}

// staticHost serves dir under /sub/ with a plain file server, as a static host would.
func staticHost(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	mux := http.NewServeMux()
	mux.Handle("/sub/", http.StripPrefix("/sub", http.FileServer(http.Dir(dir))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, dir
}

// keepEnv restores the variables go-app's handler sets with os.Setenv while exporting.
func keepEnv(t *testing.T) {
	for _, k := range []string{"BERTH_API_URL", "BERTH_MODE", "BERTH_VERSION", "BERTH_READ_ONLY", "GOAPP_ROOT_PREFIX", "GOAPP_STATIC_RESOURCES_URL", "GOAPP_VERSION", "GOAPP_INTERNAL_URLS"} {
		t.Setenv(k, os.Getenv(k))
	}
}

func TestE2EExportStaticSite(t *testing.T) {
	keepEnv(t)
	ctx := browser(t)
	static, dir := staticHost(t)
	base := startBerth(t, func(c *config.Config) { c.CORSOrigins = []string{static.URL} })
	if err := site.Export(site.ExportOptions{Dir: dir, WebDir: webDir(t), APIURL: base, BasePath: "/sub/", Version: "test"}); err != nil {
		t.Fatal(err)
	}

	// The static site, on another origin and below /sub/, lists the catalog from Berth.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(static.URL+"/sub/"),
		waitShown(`#repositories a[href="/sub/repositories/library/alpine"]`),
	); err != nil {
		screenshot(t, ctx, "export-failed")
		t.Fatalf("static site catalog: %v", err)
	}
	screenshot(t, ctx, "export-catalog")

	// Its links stay below /sub/, and the repository page reads its tags from Berth.
	if err := chromedp.Do(ctx,
		clickOn(`#repositories a[href="/sub/repositories/library/alpine"]`),
		waitShown(`#tags tr[data-tag="latest"]`),
	); err != nil {
		screenshot(t, ctx, "export-repository-failed")
		t.Fatalf("static site repository page: %v", err)
	}
}

func TestE2EExportDirect(t *testing.T) {
	keepEnv(t)
	ctx := browser(t)
	static, dir := staticHost(t)
	// Berth's own /v2 proxy stands in for the CORS proxy of deploy/nginx-static.conf.
	base := startBerth(t, func(c *config.Config) { c.CORSOrigins = []string{static.URL} })
	if err := site.Export(site.ExportOptions{Dir: dir, WebDir: webDir(t), APIURL: base, BasePath: "/sub", Direct: true, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(static.URL+"/sub/"),
		waitShown(`#repositories a[href="/sub/repositories/library/alpine"]`),
	); err != nil {
		screenshot(t, ctx, "export-direct-failed")
		t.Fatalf("direct-mode catalog: %v", err)
	}
	screenshot(t, ctx, "export-direct-catalog")
}
