package charts_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/proxy"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/store"

	"github.com/chromedp/chromedp"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
)

// chromium finds a Chromium to drive, as server/e2e_test.go does: without one the test
// skips, unless BERTH_E2E=1 says it must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("BERTH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
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

// webDir is the repository's web/, with app.wasm built into it when missing.
func webDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "web"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "app.wasm")); err != nil {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "app.wasm"), "../../app")
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build app.wasm: %v\n%s", err, out)
		}
	}
	return dir
}

// TestE2EChartPage: the real site (UI, API) with the chart routes in front of it, a real
// registry, and headless Chromium reading a chart page whose README tries to run script.
func TestE2EChartPage(t *testing.T) {
	exe := chromium(t)
	base := registrytest.Open(t)
	host := strings.TrimPrefix(base, "http://")
	cfg := config.Default()
	cfg.DataDir, cfg.WebDir, cfg.LogLevel = t.TempDir(), webDir(t), "warn"
	reg := registrytest.NewClient(t, registry.Options{URL: base})
	up, _ := url.Parse(base)
	px, err := proxy.New(proxy.Options{Upstream: up, Transport: reg.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := charts.New(charts.Options{Registry: reg, Authorizer: registry.NewAuthorizer(reg, 0), Prefix: "charts/", PullHost: host})
	if err != nil {
		t.Fatal(err)
	}
	cat := newCatalog(catalog.Options{Registry: reg})
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ops.NewManager(t.Context(), ops.Options{Registry: reg, Authorizer: registry.NewAuthorizer(reg, 0), Store: st, Secret: []byte("charts e2e secret")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	siteHandler, err := site.New(site.Services{
		Config: cfg, Version: "e2e", Registry: reg, Proxy: px, Catalog: cat, Charts: svc,
		Sessions: session.New(cfg.SessionTTL, reg.CheckCredentials, cat.Forget, nil),
		Jobs:     jobs, Authenticator: registry.NewAuthenticator(reg.CheckCredentials),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", siteHandler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	c := testChart("web", "1.2.3")
	c.Files = []*chart.File{{Name: "README.md", Data: []byte("# Web chart\n\nRead **this**.\n\n<script>window.pwned = 1</script>\n\n" +
		"Inline <img src=x onerror=\"window.pwned = 2\"> too.\n")}}
	mustStatus(t, upload(t, srv.URL, "web-1.2.3.tgz", pack(t, c), nil), http.StatusCreated)
	mustStatus(t, upload(t, srv.URL, "web-1.10.0.tgz", pack(t, testChart("web", "1.10.0")), nil), http.StatusCreated)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900), chromedp.Flag("disable-gpu", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// The budget of server/e2e_test.go's browsers: under make test this page loads app.wasm
	// while three other test processes drive Chromium too.
	ctx, cancelTimeout := context.WithTimeout(ctx, 12*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })

	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/chart/charts/web:1.2.3"),
		chromedp.WaitVisible(`#readme h1`),
	); err != nil {
		t.Fatalf("chart page did not render: %v", err)
	}
	meta, err := chromedp.Run(ctx, chromedp.Text(`#chart-meta`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web", "1.2.3", "2.4.1", "application", ">=1.25.0-0", "ada@example.com"} {
		if !strings.Contains(meta, want) {
			t.Errorf("Chart.yaml facts lack %q:\n%s", want, meta)
		}
	}
	readme, _ := chromedp.Run(ctx, chromedp.Text(`#readme`))
	if !strings.Contains(readme, "Web chart") || !strings.Contains(readme, "<script>window.pwned = 1</script>") ||
		!strings.Contains(readme, `onerror="window.pwned = 2"`) {
		t.Errorf("README does not show the markup as text:\n%s", readme)
	}
	live, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#readme script, #readme img, #readme [onerror]').length + (window.pwned ? 100 : 0)`))
	if err != nil || live != 0 {
		t.Errorf("README markup is live (%d, %v)", live, err)
	}
	values, _ := chromedp.Run(ctx, chromedp.Text(`#values`))
	if !strings.Contains(values, "replicaCount: 2") {
		t.Errorf("values = %q", values)
	}
	install, _ := chromedp.Run(ctx, chromedp.Text(`#install`))
	if install != "helm install web oci://"+host+"/charts/web --version 1.2.3" {
		t.Errorf("install = %q", install)
	}
	tmpl, _ := chromedp.Run(ctx, chromedp.Text(`#templates`))
	if !strings.Contains(tmpl, "templates/deployment.yaml") {
		t.Errorf("templates = %q", tmpl)
	}
	deps, _ := chromedp.Run(ctx, chromedp.Text(`#dependencies`))
	if !strings.Contains(deps, "redis") || !strings.Contains(deps, "~18.1.0") {
		t.Errorf("dependencies = %q", deps)
	}

	// The version list is in semver order and switches versions.
	if err := chromedp.Do(ctx,
		chromedp.Click(`#chart-versions a[href="/chart/charts/web:1.10.0"]`),
		chromedp.WaitVisible(`#readme table`), // the test chart's README has a table
	); err != nil {
		t.Fatalf("switching versions: %v", err)
	}
	versions, _ := chromedp.Run(ctx, chromedp.Text(`#chart-versions`))
	if i, j := strings.Index(versions, "1.10.0"), strings.Index(versions, "1.2.3"); i < 0 || j < 0 || i > j {
		t.Errorf("versions not newest first: %q", versions)
	}
}
