package main

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
)

// maybeAxe returns axe-core's source, or "" where it is not installed (the rest of a test
// still runs; BERTH_E2E=1 makes it required).
func maybeAxe(t *testing.T) string {
	if os.Getenv("BERTH_E2E") == "1" || os.Getenv("BERTH_AXE") != "" {
		return axeScript(t)
	}
	if b, err := os.ReadFile("../.cache/axe/node_modules/axe-core/axe.min.js"); err == nil {
		return string(b)
	}
	return ""
}

// The jobs page at 1280, 1024 and 390 px: the job started through the API is listed with
// its outcome and links to what it touched, opens on its own address, and the page passes
// axe. On a phone the header is one row at most 56 px high on the catalog, repository and
// manifest pages, and tag cards carry no empty band. The delete dialog's choices share one
// row, only the destructive one red; the manifest page shows vulnerabilities near its top
// with ids linking to their advisories; the import's file button names the file once.
func TestE2EJobsPageAndPhoneHeader(t *testing.T) {
	script := maybeAxe(t)
	ctx := browser(t)
	base := startBerth(t, nil)
	var started api.JobStarted
	if code := apiAs(t, base, "POST", "/api/v1/jobs", "", "", api.JobRequest{Kind: api.JobRetag, Repository: "library/alpine", Source: "latest", Destination: "jobs-e2e"}, &started); code != http.StatusAccepted {
		t.Fatalf("starting a job: %d", code)
	}
	id := started.ID
	check := func(name, expr string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil || got != "" {
			screenshot(t, ctx, name)
			t.Errorf("%s: %s (%v)", name, got, err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`#jobs li[data-id="%s"][data-state="succeeded"]`, id)
	if err := within(ctx, chromedp.Navigate(base+"/"), appRunning(), clickOn(`#jobs-link`), waitRows(row)); err != nil {
		screenshot(t, ctx, "jobs")
		t.Fatalf("the header's Jobs link does not list the job: %v", err)
	}
	for _, width := range []int64{1280, 1024, 390} {
		if err := chromedp.Do(ctx, look(width, 844, false)); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("jobs-%d", width), `(() => {
			const row = document.querySelector(`+jsString(row)+`);
			if (!row.querySelector('a.touch[href="/repositories/library/alpine:latest"]') || !row.querySelector('a.touch[href="/repositories/library/alpine:jobs-e2e"]')) return "no links to what the job touched: " + row.innerText;
			if (row.querySelector(".job button")) return "a finished job offers Cancel";
			if (document.documentElement.scrollWidth > innerWidth + 1) return "the page is " + document.documentElement.scrollWidth + " px wide";
			return "";
		})()`)
		if script != "" {
			checkAxe(t, ctx, script, fmt.Sprintf("jobs-%d", width))
		}
	}
	if err := within(ctx, clickOn(row+` a.job-id`), waitJS(`location.pathname === "/jobs/`+id+`"`),
		waitRows(`#job[data-state="succeeded"] .job-result`)); err != nil {
		t.Errorf("the job's own page: %v", err)
	}
	// Phone: one header row on the manifest, repository and catalog pages, reached through
	// the links of the app (no reload).
	header := func(page string) {
		check("phone-header-"+page, `(() => {
			const h = document.querySelector(".topbar").getBoundingClientRect().height;
			if (h > 56) return "the header is " + h + " px high";
			for (const c of document.querySelectorAll(".trail .crumb")) if (c.getBoundingClientRect().height > 30) return "a crumb wraps: " + c.innerText;
			return "";
		})()`)
	}
	if err := within(ctx, clickOn(`#job a.touch[href="/repositories/library/alpine:latest"]`), waitRows(`#manifest .page-head`)); err != nil {
		t.Fatal(err)
	}
	header("manifest")
	if err := within(ctx, clickOn(`.trail a.crumb[href="/repositories/library/alpine"]`), waitRows(`#tags tr.tag:not(.pending) .delete-tag`)); err != nil {
		t.Fatal(err)
	}
	header("repository")
	// A tag card's content fills it (no band of ≈50 px left empty).
	check("phone-tag-card", `(() => {
		const card = document.querySelector("#tags tr.tag:not(.pending)"), r = card.getBoundingClientRect();
		let bottom = r.top;
		for (const td of card.children) bottom = Math.max(bottom, td.getBoundingClientRect().bottom);
		const empty = r.bottom - bottom;
		return empty > 24 ? "the card leaves " + Math.round(empty) + " px empty" : "";
	})()`)
	// Desktop: the delete dialog's choices on one row, each on one line; one red.
	if err := chromedp.Do(ctx, look(1024, 800, false)); err != nil {
		t.Fatal(err)
	}
	if err := within(ctx, clickOn(`#tags [data-tag="latest"] .delete-tag`), waitShown(`#delete-dialog .dialog-actions`)); err != nil {
		t.Fatal(err)
	}
	check("delete-dialog", `(() => {
		const bs = [...document.querySelectorAll("#delete-dialog .dialog-actions .button")];
		if (bs.length < 2) return "only " + bs.length + " buttons";
		if (new Set(bs.map(b => Math.round(b.getBoundingClientRect().top))).size !== 1) return "the buttons wrap onto several rows";
		if (bs.some(b => b.getBoundingClientRect().height > 44)) return "a button's label wraps";
		const red = bs.filter(b => b.classList.contains("danger"));
		return red.length === 1 ? "" : red.length + " red buttons";
	})()`)
	if err := within(ctx, clickOn(`#delete-cancel`), clickOn(`a.brand`), waitRows(`#repositories a.repo`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, look(390, 844, false)); err != nil {
		t.Fatal(err)
	}
	header("catalog")
	if err := chromedp.Do(ctx, look(1280, 800, false)); err != nil {
		t.Fatal(err)
	}
	// The manifest page: vulnerabilities before the layers, ids linking to advisories.
	if err := within(ctx, chromedp.Navigate(base+"/repositories/examples/inside:1.1"), appRunning(), waitRows(`#vulnerabilities #findings a.advisory`)); err != nil {
		t.Fatal(err)
	}
	check("vulnerabilities", `(() => {
		const v = document.querySelector("#vulnerabilities"), l = document.querySelector("#layers");
		if (l && !(v.compareDocumentPosition(l) & Node.DOCUMENT_POSITION_FOLLOWING)) return "vulnerabilities come after the layers";
		const a = document.querySelector("#findings a.advisory");
		return /^https:\/\/(osv\.dev\/vulnerability|nvd\.nist\.gov\/vuln\/detail)\//.test(a.href) ? "" : "advisory link " + a.href;
	})()`)
	// The import panel: a styled button, the file named once.
	if err := within(ctx, clickOn(`.trail a.crumb[href="/repositories/examples/inside"]`), waitRows(`#import-panel summary`),
		clickOn(`#import-panel summary`), waitShown(`.file-button`)); err != nil {
		t.Fatal(err)
	}
	check("import-file", `(() => {
		const input = document.querySelector("#import-file");
		if (getComputedStyle(input).opacity !== "0") return "the browser's own file field shows";
		const b = document.querySelector(".file-button").getBoundingClientRect();
		return b.width > 40 && document.querySelectorAll("#import-name").length === 1 ? "" : "no file button or name";
	})()`)
}

// Under access control, /jobs asks an anonymous visitor to sign in (on the server's page
// already); the sign-in page has one heading and its username field focused; an
// administrator sees everyone's jobs with a user filter, and the users page keeps its
// buttons apart.
func TestE2EJobsSignInAndAdmin(t *testing.T) {
	ctx := browser(t)
	base := startGuarded(t, func(c *config.Config) { c.ClientRendered, c.NoDemo = false, true })
	// The tab's first action runs under the browser's own context: one under within's would
	// take the tab with it when it ends.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if err := within(ctx, chromedp.Navigate(base+"/jobs"), waitRows(`#jobs-signin a[href="/signin?return=%2Fjobs"]`)); err != nil {
		t.Fatalf("anonymous /jobs: %v", err)
	}
	if err := within(ctx, chromedp.Navigate(base+"/signin"), appRunning(), waitJS(`document.activeElement && document.activeElement.id === "signin-user"`)); err != nil {
		t.Errorf("the sign-in page does not focus the username: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("h1, h2")].filter(h => /sign in/i.test(h.innerText)).length`))
	if err != nil || got != 1 {
		t.Errorf("%d headings say Sign in (%v), want 1", got, err)
	}
	if code := apiAs(t, base, "POST", "/api/v1/users", "admin", adminPassword, map[string]any{"name": "carol", "password": "carol's long password"}, nil); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("adding carol: %d", code)
	}
	if err := within(ctx, chromedp.Navigate(base+"/signin?return=%2Fjobs"), signInUI("admin", adminPassword),
		waitJS(`location.pathname === "/jobs"`), waitShown(`#jobs-user`)); err != nil {
		t.Fatalf("an administrator's /jobs: %v", err)
	}
	if err := within(ctx, chromedp.Navigate(base+"/access/users"), waitRows(`[data-user="carol"] td.actions .button`)); err != nil {
		t.Fatal(err)
	}
	gap, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
		const [a, b] = document.querySelectorAll('[data-user="carol"] td.actions .button');
		return b.getBoundingClientRect().left - a.getBoundingClientRect().right;
	})()`))
	if err != nil || gap < 4 {
		t.Errorf("Disable and Make admin are %v px apart (%v), want a gap", gap, err)
	}
}
