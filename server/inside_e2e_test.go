package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-registry/berth/server/demo"
)

// TestE2ELookInside walks the demo's examples/inside in the browser: from the manifest page
// into the merged filesystem, one layer's own entries (a whiteout among them), a text file
// and a binary one, the Dockerfile, the supply chain, a diff of 1.0 and 1.1 both ways, and
// the vulnerability counts in the tag table.
func TestE2ELookInside(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, nil)

	// The manifest page shows what its vulnerability report says, worst first, and links to
	// the supply chain; an image without a report says it was not scanned (1.0 has no package
	// database: Berth's scan of it, once done, finds nothing).
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/examples/inside:1.0"),
		waitShown(`#vulnerabilities #findings-all`),
	); err != nil {
		screenshot(t, ctx, "manifest-not-scanned-failed")
		t.Fatalf("manifest page of 1.0: %v", err)
	}
	if card, _ := chromedp.Run(ctx, textOf(`#vulnerabilities`)); !strings.Contains(card, "Not scanned") && !strings.Contains(card, "no findings") {
		t.Errorf("1.0's vulnerabilities card: %q", card)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/examples/inside:1.1"),
		waitShown(`#vulnerabilities #findings tbody tr`),
	); err != nil {
		screenshot(t, ctx, "manifest-findings-failed")
		t.Fatalf("manifest page findings: %v", err)
	}
	card, _ := chromedp.Run(ctx, textOf(`#vulnerabilities`))
	if !strings.Contains(card, "1 critical") || !strings.Contains(card, "1 high") {
		t.Errorf("1.1's vulnerabilities card: %q", card)
	}
	if first, _ := chromedp.Run(ctx, textOf(`#vulnerabilities #findings tbody tr:first-child`)); !strings.Contains(first, "critical") {
		t.Errorf("the first finding listed is not the critical one: %q", first)
	}
	if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#findings-all").getAttribute("href")`)); !strings.Contains(href, "tab=supply") {
		t.Errorf("the card links to %q, want the supply-chain view", href)
	}
	screenshot(t, ctx, "manifest-findings")

	// The manifest page links into the image; the first visit indexes its layers.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/examples/inside:1.1"),
		waitShown(`#inside-open`),
		clickOn(`#inside-open`),
		waitShown(`#tree tr[data-path="/etc"] a`),
	); err != nil {
		screenshot(t, ctx, "inside-tree-failed")
		t.Fatalf("file tree: %v", err)
	}
	if root, _ := chromedp.Run(ctx, textOf(`#tree`)); !strings.Contains(root, "app/") || !strings.Contains(root, "bin/") {
		t.Errorf("the root directory shows %q", root)
	}

	// Into /etc, open os-release: its text is shown.
	if err := chromedp.Do(ctx,
		clickOn(`#tree tr[data-path="/etc"] a`),
		waitShown(`#tree tr[data-path="/etc/os-release"] a`),
		clickOn(`#tree tr[data-path="/etc/os-release"] a`),
		waitShown(`#file-text`),
	); err != nil {
		screenshot(t, ctx, "inside-file-failed")
		t.Fatalf("open /etc/os-release: %v", err)
	}
	if text, _ := chromedp.Run(ctx, textOf(`#file-text`)); !strings.Contains(text, `PRETTY_NAME="Berth Demo Linux 1.1"`) {
		t.Errorf("/etc/os-release shows %q", text)
	}
	// The /etc/motd a later layer deleted is not in the merged tree.
	if etc, _ := chromedp.Run(ctx, textOf(`#tree`)); strings.Contains(etc, "motd") {
		t.Errorf("/etc lists the whited-out motd: %q", etc)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#file-download").href`))
	if err != nil || !strings.Contains(href, "download=1") || !strings.Contains(href, "path=%2Fetc%2Fos-release") {
		t.Errorf("download link %q (%v)", href, err)
	}
	screenshot(t, ctx, "inside-file")

	// A search finds the binary; opening it says it is binary.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/inside/examples/inside:1.1"),
		waitShown(`#tree tr[data-path="/bin"]`),
		typeInto(`#inside-search`, "busybox"),
		waitShown(`#tree tr[data-path="/bin/busybox"] a`),
		clickOn(`#tree tr[data-path="/bin/busybox"] a`),
		waitShown(`#file-binary`),
	); err != nil {
		screenshot(t, ctx, "inside-binary-failed")
		t.Fatalf("search and open a binary: %v", err)
	}

	// The per-layer view lists the second layer's whiteout and opaque directory.
	if err := chromedp.Do(ctx,
		clickOn(`#view-layers`),
		waitShown(`#inside-layers tr[data-layer="1"] a`),
		clickOn(`#inside-layers tr[data-layer="1"] a`),
		waitShown(`#layer-entries tr[data-type="whiteout"][data-path="/etc/motd"]`),
		waitShown(`#layer-entries tr[data-type="opaque"][data-path="/usr/share/doc"]`),
	); err != nil {
		screenshot(t, ctx, "inside-layer-failed")
		t.Fatalf("layer view: %v", err)
	}
	screenshot(t, ctx, "inside-layer")

	// The Dockerfile: cleaned steps, each linked to its layer.
	if err := chromedp.Do(ctx,
		clickOn(`#view-build`),
		waitShown(`#build-steps`),
	); err != nil {
		t.Fatalf("Dockerfile view: %v", err)
	}
	steps, _ := chromedp.Run(ctx, textOf(`#build-steps`))
	for _, want := range []string{"COPY plugins/ /app/plugins/", "ENV APP_HOME=/app", "Layer 3", "no layer"} {
		if !strings.Contains(steps, want) {
			t.Errorf("the Dockerfile view lacks %q: %q", want, steps)
		}
	}
	if strings.Contains(steps, "#(nop)") || strings.Contains(steps, "/bin/sh -c #") {
		t.Errorf("the Dockerfile view shows docker's boilerplate: %q", steps)
	}

	// The supply chain: severity counts, findings, packages with a filter.
	if err := chromedp.Do(ctx,
		clickOn(`#view-supply`),
		waitShown(`#findings`),
		waitShown(`#packages tr[data-package="busybox"]`),
	); err != nil {
		screenshot(t, ctx, "inside-supply-failed")
		t.Fatalf("supply chain: %v", err)
	}
	if counts, _ := chromedp.Run(ctx, textOf(`#severity-counts`)); !strings.Contains(counts, "1 critical") || !strings.Contains(counts, "2 medium") {
		t.Errorf("severity counts %q", counts)
	}
	if err := chromedp.Do(ctx,
		typeInto(`#package-filter`, "MIT"),
		waitGone(`#packages tr[data-package="busybox"]`),
		waitShown(`#packages tr[data-package="musl"]`),
	); err != nil {
		t.Fatalf("package filter: %v", err)
	}
	screenshot(t, ctx, "inside-supply")

	// Diff 1.0 against 1.1 from the form: the address holds the comparison, the plugin is
	// added; swapped, it is removed.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/diff"),
		waitShown(`#diff-from`),
		typeInto(`#diff-from`, "examples/inside:1.0"),
		typeInto(`#diff-to`, "examples/inside:1.1"),
		clickOn(`#diff-compare`),
		waitShown(`#diff-files tr[data-change="added"][data-path="/app/plugins/audit.so"]`),
	); err != nil {
		screenshot(t, ctx, "diff-failed")
		t.Fatalf("diff: %v", err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "from=examples%2Finside%3A1.0") || !strings.Contains(loc, "to=examples%2Finside%3A1.1") {
		t.Errorf("the diff's address %q does not hold the comparison", loc)
	}
	cfg, _ := chromedp.Run(ctx, textOf(`#diff-config`))
	for _, want := range []string{"9090/tcp", "APP_VERSION", "1.1"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config changes lack %q: %q", want, cfg)
		}
	}
	if layers, _ := chromedp.Run(ctx, textOf(`#diff-layers`)); !strings.Contains(layers, "added") || !strings.Contains(layers, "removed") {
		t.Errorf("layer changes %q", layers)
	}
	if changed, _ := chromedp.Run(ctx, textOf(`#diff-files tr[data-change="changed"][data-path="/app/config.yaml"]`)); !strings.Contains(changed, "+") {
		t.Errorf("the changed config.yaml row shows %q, want a size delta", changed)
	}
	screenshot(t, ctx, "diff")
	if err := chromedp.Do(ctx,
		clickOn(`#diff-swap`),
		waitShown(`#diff-files tr[data-change="removed"][data-path="/app/plugins/audit.so"]`),
	); err != nil {
		t.Fatalf("swapped diff: %v", err)
	}

	// The tag table counts each tag's findings: 1.1 has a report, 1.0 none.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/examples/inside"),
		waitShown(`#tags tr[data-tag="1.1"] td.severity .sev-critical`),
		waitShown(`#tags tr[data-tag="1.0"] td.severity a`),
	); err != nil {
		screenshot(t, ctx, "severity-failed")
		t.Fatalf("severity column: %v", err)
	}
	if row, _ := chromedp.Run(ctx, textOf(`#tags tr[data-tag="1.1"] td.severity`)); !strings.Contains(row, "1C") || !strings.Contains(row, "1H") {
		t.Errorf("1.1's counts: %q", row)
	}
	if row, _ := chromedp.Run(ctx, textOf(`#tags tr[data-tag="1.0"] td.severity`)); !strings.Contains(row, "not scanned") && !strings.Contains(row, "no findings") {
		t.Errorf("1.0's counts: %q", row)
	}
	screenshot(t, ctx, "severity-column")
	scanNowAndFilter(t, ctx, base)
}

// scanNowAndFilter presses Scan now on the demo's Alpine image with an apk database: the
// status says what the scan found, the card lists Berth's findings with their source and
// advisory; the tag list keeps, filtered by fixable critical, the tags with one; the catalog
// shows the repository's worst severity.
func scanNowAndFilter(t *testing.T, ctx context.Context, base string) {
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/"+demo.ScanRepo+":alpine"),
		waitShown(`#scan-now:not([disabled])`),
		clickOn(`#scan-now`),
		waitJS(`(document.querySelector("#scan-status") || {innerText: ""}).innerText.startsWith("Scanned:")`),
		waitShown(`#vulnerabilities #findings tr[data-finding="BERTH-DEMO-0001"]`),
	); err != nil {
		screenshot(t, ctx, "scan-now-failed")
		t.Fatalf("scan now: %v", err)
	}
	status, _ := chromedp.Run(ctx, textOf(`#scan-status`))
	row, _ := chromedp.Run(ctx, textOf(`#findings tr[data-finding="BERTH-DEMO-0001"]`))
	if !strings.Contains(status, "1 critical") || !strings.Contains(row, "Berth scan") || !strings.Contains(row, "busybox") {
		t.Errorf("after the scan: status %q, finding %q", status, row)
	}
	screenshot(t, ctx, "scan-now")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/"+demo.ScanRepo),
		waitShown(`#tags tr[data-tag="go"]`),
		waitShown(`#findings-filter`),
		choose(`#findings-filter`, "fixable critical"),
		waitJS(`!document.querySelector('#tags tr[data-tag="go"]') && !!document.querySelector('#tags tr[data-tag="alpine"]') && !!document.querySelector('#tags tr[data-tag="debian"]')`),
		chromedp.Navigate(base+"/?q="+demo.ScanRepo),
		waitShown(`#repositories a[href="/repositories/`+demo.ScanRepo+`"] .fact.sev .sev-critical`),
	); err != nil {
		screenshot(t, ctx, "fixable-critical-failed")
		t.Fatalf("fixable critical filter, catalog severity: %v", err)
	}
}

// TestE2EImportTarball uploads archives through the repository page's import panel: a
// corrupt one is refused with the server's reason, a docker save tarball becomes a tag.
func TestE2EImportTarball(t *testing.T) {
	ctx, cancel := context.WithTimeout(browser(t), 2*time.Minute)
	defer cancel()
	base := startBerth(t, nil)

	dir := t.TempDir()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "app.tar")
	ref, _ := name.ParseReference("example.com/app:dev")
	if err := tarball.WriteToFile(good, ref, img); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "broken.tar")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a tar archive ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/examples/inside"),
		waitShown(`#tags tr[data-tag="1.0"]`),
		clickOn(`#import-panel summary`),
		waitShown(`#import-file`),
	); err != nil {
		screenshot(t, ctx, "import-open-failed")
		t.Fatalf("open the import panel: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(`#import-file`, []string{bad}),
		clickOn(`#import-start`),
		waitShown(`#import-error`),
	); err != nil {
		screenshot(t, ctx, "import-bad-failed")
		t.Fatalf("corrupt upload: %v", err)
	}
	if msg, _ := chromedp.Run(ctx, textOf(`#import-error`)); !strings.Contains(msg, "The archive was refused") {
		t.Errorf("a corrupt archive says %q", msg)
	}

	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(`#import-file`, []string{good}),
		typeInto(`#import-tag`, "uploaded"),
		clickOn(`#import-start`),
		waitShown(`#import-job[data-state="succeeded"]`),
		waitShown(`#tags tr[data-tag="uploaded"]`),
	); err != nil {
		screenshot(t, ctx, "import-failed")
		t.Fatalf("import: %v", err)
	}
	if result, _ := chromedp.Run(ctx, textOf(`#import-job`)); !strings.Contains(result, "Imported examples/inside:uploaded") {
		t.Errorf("the import says %q", result)
	}
	screenshot(t, ctx, "import")
}
