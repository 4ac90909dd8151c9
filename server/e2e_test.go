package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/web"
)

// chromium finds a Chromium to drive. Without one the e2e tests skip, unless BERTH_E2E=1 (CI)
// says they must run, in which case they fail.
func chromium(t testing.TB) string {
	t.Helper()
	candidates := []string{os.Getenv("BERTH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "headless Chromium not found (install Debian's chromium package or set BERTH_CHROMIUM)"
	if os.Getenv("BERTH_E2E") == "1" {
		t.Fatal(msg + "; BERTH_E2E=1 requires the end-to-end tests to run")
	}
	t.Skip(msg)
	return ""
}

// webDir returns the repository's web/ directory, building app.wasm into it when missing and
// compressing it when web/compressed is older (make test always does both first).
func webDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "web"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "app.wasm")); err != nil {
		t.Log("web/app.wasm missing: building it")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "app.wasm"), "../app")
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build app.wasm: %v\n%s", err, out)
		}
	}
	if _, _, err := web.Compress(dir, web.DefaultBrotliQuality); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBerth runs the real server (embedded registry, demo content, UI) on loopback ports and
// returns the UI's URL.
func startBerth(t testing.TB, mutate func(*config.Config)) string {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.EmbeddedAddr = "off"
	cfg.DataDir = t.TempDir()
	cfg.WebDir = webDir(t)
	cfg.LogLevel = "warn"
	// Interaction tests drive the page app.wasm runs; pages that arrive with their data show
	// rows before it starts (and ignore clicks until then), so they opt in: see
	// prerender_e2e_test.go.
	cfg.ClientRendered = true
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, func(u string, _ *site.Root) { urls <- u }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	select {
	case u := <-urls:
		return u
	case err := <-done:
		t.Fatalf("berth did not start: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("berth did not start in time")
	}
	return ""
}

// browser starts a headless Chromium tab.
func browser(t testing.TB) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Wasm compiled by the baseline compiler only: the optimising tier costs the tests a
		// fifth of the browser's CPU on every page load, and nothing here runs long.
		chromedp.Flag("js-flags", "--liftoff-only"),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 12*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// screenshot saves what the browser shows into BERTH_SCREENSHOTS, to look at what users see.
// Without it nothing is taken: a full-page PNG costs a few hundred milliseconds, and the tests
// take about a hundred of them.
func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("BERTH_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

func TestE2ECatalogAndRepository(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, nil)

	// The catalog lists every demo repository.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#repositories a[href="/repositories/team/api/server"]`),
		appRunning(),
	); err != nil {
		t.Fatalf("catalog did not render: %v", err)
	}
	// Read from the page as it is now (a render may replace the list's node between a
	// lookup and a read), until every demo repository shows.
	names := make([]string, 0, len(demo.Repositories()))
	for _, r := range demo.Repositories() {
		names = append(names, jsString(r))
	}
	every := `(() => { const t = document.querySelector("#repositories")?.innerText ?? ""; return [` + strings.Join(names, ",") + `].every(n => t.includes(n)); })()`
	if err := within(ctx, waitJS(every)); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#repositories")?.innerText ?? ""`))
		t.Errorf("the catalog does not show every demo repository (%v); it shows:\n%s", err, text)
	}
	screenshot(t, ctx, "catalog")

	// The filter narrows the list on the server.
	if err := chromedp.Do(ctx,
		typeInto(`#repo-filter`, "alpine"),
		waitGone(`#repositories a[href="/repositories/team/api/server"]`),
		waitShown(`#repositories a[href="/repositories/library/alpine"]`),
	); err != nil {
		t.Fatalf("filter: %v", err)
	}

	// Following a link opens the repository page with its tags and their details.
	if err := chromedp.Do(ctx,
		clickOn(`#repositories a[href="/repositories/library/alpine"]`),
		waitShown(`#tags tr[data-tag="latest"]`),
	); err != nil {
		t.Fatalf("repository page did not render: %v", err)
	}
	row, err := chromedp.Run(ctx, textOf(`#tags tr[data-tag="latest"]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "ago", "B"} {
		if !strings.Contains(row, want) {
			t.Errorf("the latest row lacks %q: %q", want, row)
		}
	}
	// Once every tag has details, the header says what the repository stores.
	if err := chromedp.Do(ctx, waitJS(`document.querySelector(".count").innerText.includes("stored")`)); err != nil {
		t.Fatalf("repository storage: %v", err)
	}
	// The repository's last push and pull, from the registry's notifications, link to its activity.
	if err := chromedp.Do(ctx, waitShown(`#repo-activity`)); err != nil {
		t.Fatalf("repository activity: %v", err)
	}
	if act, _ := chromedp.Run(ctx, textOf(`#repo-activity`)); !strings.Contains(act, "Last push") {
		t.Errorf("repository activity says %q", act)
	}
	screenshot(t, ctx, "repository")

	// A deep link loads directly in a fresh page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/team/api/server"),
		waitShown(`#tags tr[data-tag="v1.0.0"]`),
	); err != nil {
		t.Fatalf("deep link: %v", err)
	}
}

func TestE2ERegistryDownShowsErrorAndRetry(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, func(c *config.Config) {
		c.Registry = "http://127.0.0.1:1" // nothing listens on port 1
	})
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`.state.error button`),
	); err != nil {
		t.Fatalf("error state did not render: %v", err)
	}
	msg, err := chromedp.Run(ctx, textOf(`.state.error .error-message`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "Cannot reach the registry at 127.0.0.1:1") {
		t.Errorf("error message %q does not say the registry is unreachable", msg)
	}
	screenshot(t, ctx, "registry-down")

	// Retry: the render after the click replaces the button with the loading state; the
	// answer still lands (a fresh error state with a new button), the page does not stay
	// loading.
	if err := chromedp.Do(ctx,
		waitJS(`(() => { const b = document.querySelector(".state.error button"); if (b) b.dataset.tried = "1"; return !!b })()`),
		clickOn(`.state.error button[data-tried]`),
		waitShown(`.state.error button:not([data-tried])`),
	); err != nil {
		t.Fatalf("retry's answer did not land: %v", err)
	}
}

func TestE2EManifestPage(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, nil)

	// A deep link to a multi-platform tag, opened in a fresh tab.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine:3.21"),
		waitShown(`#platforms`),
		waitShown(`#layers`),
		appRunning(),
	); err != nil {
		t.Fatalf("tag page did not render: %v", err)
	}
	platforms, err := chromedp.Run(ctx, textOf(`#platforms`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		if !strings.Contains(platforms, want) {
			t.Errorf("platform list %q lacks %s", platforms, want)
		}
	}
	config, err := chromedp.Run(ctx, textOf(`#config`))
	if err != nil || !strings.Contains(config, "linux/amd64") {
		t.Fatalf("first platform's config: %q, %v", config, err)
	}

	// Switching platform shows that image's config, layers and history; back returns.
	if err := chromedp.Do(ctx,
		clickOn(`#platforms a:nth-child(3)`),
		waitJS(`document.querySelector("#config") && document.querySelector("#config").innerText.includes("linux/arm/v7")`),
	); err != nil {
		t.Fatalf("switch platform: %v", err)
	}
	// The layers card follows the config in the same render; wait for it rather than read
	// it mid-render.
	if err := chromedp.Do(ctx, waitJS(`(document.querySelector("#layers h2") || {innerText: ""}).innerText.includes("Layers (1")`)); err != nil {
		layers, _ := chromedp.Run(ctx, textOf(`#layers h2`))
		t.Errorf("layer count heading %q, %v", layers, err)
	}
	// Read in the page as it is (a render may replace the card between lookup and read).
	if err := within(ctx, waitJS(`(() => { const h = document.querySelector("#history")?.innerText ?? ""; return h.includes("ADD file:") && h.includes("empty"); })()`)); err != nil {
		history, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#history")?.innerText ?? ""`))
		t.Errorf("history %q lacks its steps, %v", history, err)
	}
	screenshot(t, ctx, "manifest-armv7")
	if err := chromedp.Do(ctx,
		chromedp.NavigateBack(),
		waitJS(`document.querySelector("#config") && document.querySelector("#config").innerText.includes("linux/amd64")`),
	); err != nil {
		t.Fatalf("back after switching platform: %v", err)
	}

	// An image with a signature and an SBOM lists both as referrers, linking to their pages.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/team/api/server:v1.2.0"),
		waitShown(`#referrers`),
	); err != nil {
		t.Fatalf("referrers did not render: %v", err)
	}
	refs, err := chromedp.Run(ctx, textOf(`#referrers`))
	if err != nil || !strings.Contains(refs, "signature") || !strings.Contains(refs, "SBOM") {
		t.Errorf("referrers %q, %v", refs, err)
	}
	screenshot(t, ctx, "manifest-referrers")

	// An unknown tag gives a "not found" page naming it, with the way back, not a blank page
	// or "Something went wrong".
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine:does-not-exist"),
		waitShown(`.state.not-found a[href="/"]`),
	); err != nil {
		t.Fatalf("unknown tag: %v", err)
	}
	msg, _ := chromedp.Run(ctx, textOf(`.state.not-found`))
	if !strings.Contains(msg, "does-not-exist") {
		t.Errorf("unknown tag message %q does not name the tag", msg)
	}
}

// waitJS waits until the JavaScript expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(waitBudget))(ctx, t); err != nil {
			return fmt.Errorf("waiting for %s: %w", expr, err)
		}
		return nil
	})
}

func TestE2ESignInToProtectedRegistry(t *testing.T) {
	ctx := browser(t)
	const password = "correct horse battery"
	registry := registrytest.Htpasswd(t, map[string]string{"alice": password})
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(registry, "http://")+"/private/payments:v1", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: password})); err != nil {
		t.Fatal(err)
	}
	base := startBerth(t, func(c *config.Config) { c.Registry = registry })

	// The registry says 401, so the UI asks for credentials instead of showing an error.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#signin`),
		typeInto(`#signin-user`, "alice"),
		typeInto(`#signin-password`, "wrong password"),
		clickOn(`#signin button[type=submit]`),
		waitShown(`#signin .error-message`),
	); err != nil {
		t.Fatalf("wrong password: %v", err)
	}
	msg, _ := chromedp.Run(ctx, textOf(`#signin .error-message`))
	if !strings.Contains(msg, "rejected that username or password") {
		t.Errorf("wrong-password message %q", msg)
	}
	screenshot(t, ctx, "signin-wrong-password")

	if err := chromedp.Do(ctx,
		waitJS(`(document.querySelector("#signin-password").value = "") === ""`),
		typeInto(`#signin-password`, password),
		clickOn(`#signin button[type=submit]`),
		waitShown(`#repositories a[href="/repositories/private/payments"]`),
		waitShown(`#signed-in-user`),
	); err != nil {
		t.Fatalf("sign in and browse: %v", err)
	}
	// Browsing on works with the session, and nothing secret is in the browser's storage.
	if err := chromedp.Do(ctx,
		clickOn(`#repositories a[href="/repositories/private/payments"]`),
		waitShown(`#tags tr[data-tag="v1"]`),
	); err != nil {
		t.Fatalf("browse after sign-in: %v", err)
	}
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, password) || strings.Contains(stored, "berth_session") {
		t.Errorf("credentials or the session cookie are readable by scripts: %s", stored)
	}
	screenshot(t, ctx, "signed-in")
}
