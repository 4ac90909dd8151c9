package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/app/api"
)

// widths are the screens the tag, copy and chart checks run at: two desktops and a phone.
var widths = []int64{1280, 1024, 390}

// TestE2EReferrerTagsCopyAndCharts shares one Berth (the demo) and one browser: the referrer
// tags of team/api/server as badges and counts that agree, the copy panel's checked fields,
// the chart page on its newest stable version, and last a delete of every tag that takes the
// referrer tags along. Every state is checked by axe, the phone for sideways overflow.
func TestE2EReferrerTagsCopyAndCharts(t *testing.T) {
	script := axeScript(t)
	ctx := browser(t)
	base := startBerth(t, nil)
	const repo = "team/api/server"
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	at := func(t *testing.T, width int64, url string, ready ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		actions := append([]chromedp.Action[chromedp.Void]{look(width, 844, false), chromedp.Navigate(url)}, ready...)
		if err := within(ctx, actions...); err != nil {
			screenshot(t, ctx, fmt.Sprintf("tagitems-%d-failed", width))
			t.Fatalf("%d px, %s: %v", width, url, err)
		}
	}
	// resize changes the screen under the page shown, without loading it again.
	resize := func(t *testing.T, width int64, ready ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := within(ctx, append([]chromedp.Action[chromedp.Void]{look(width, 844, false)}, ready...)...); err != nil {
			t.Fatalf("%d px: %v", width, err)
		}
	}
	check := func(t *testing.T, width int64, state string) {
		t.Helper()
		checkAxe(t, ctx, script, fmt.Sprintf("%s at %d px", state, width))
		if t.Failed() {
			screenshot(t, ctx, fmt.Sprintf("%s-%d", strings.ReplaceAll(state, " ", "-"), width))
		}
		if width < 640 {
			noOverflow(t, ctx, state)
		}
	}
	names := func() (tags []string, images, referrers int) {
		var page api.TagPage
		if code, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+repo+"/tags?details=false", nil, &page); code != http.StatusOK {
			t.Fatalf("tags of %s: %d", repo, code)
		}
		for _, tg := range page.Tags {
			tags = append(tags, tg.Name)
		}
		images, referrers = api.CountTags(tags)
		return tags, images, referrers
	}

	t.Run("referrer tags are badges, counts agree", func(t *testing.T) {
		tags, images, referrers := names()
		if referrers < 2 {
			t.Fatalf("the demo's %s has referrer tags %v, want a .sig and a fallback tag", repo, tags)
		}
		waitFor(t, "the catalog's count", 30*time.Second, func() bool {
			var page api.RepositoryPage
			call(t, http.MethodGet, base+"/api/v1/repositories?q="+repo, nil, &page)
			return slices.ContainsFunc(page.Repositories, func(r api.Repository) bool { return r.Name == repo && r.Tags == images })
		})
		head := fmt.Sprintf("%d tags + %d signature/attestation tags", images, referrers)
		at(t, widths[0], base+"/repositories/"+repo, waitRows(`#tags tr.tag:not(.pending) a.chip[data-referrer]`))
		for _, w := range widths {
			resize(t, w, waitRows(`#tags tr.tag:not(.pending) a.chip[data-referrer]`))
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[
				document.querySelectorAll("#tags tr.tag").length,
				document.querySelectorAll("#tags tr.tag[data-tag^='sha256-']").length,
				document.querySelectorAll("#tags tr[data-tag='v1.2.0'] a.chip[data-referrer]").length,
				[...document.querySelectorAll("#tags tr[data-tag='v1.2.0'] a.chip[data-referrer]")].map(a => a.textContent).sort().join(","),
				document.querySelector(".page-head .count").textContent.split(" · ")[0],
			].join(" | ")`))
			want := fmt.Sprintf("%d | 0 | %d | ", images, referrers)
			if err != nil || !strings.HasPrefix(got, want) || !strings.Contains(got, "signed") || !strings.HasSuffix(got, " | "+head) {
				t.Errorf("%d px: rows | referrer rows | v1.2.0's badges | their names | head = %q (%v), want %q… with signed, and %q", w, got, err, want, head)
			}
			check(t, w, "repository with referrer tags")
		}
		// The catalog row says the same count.
		at(t, 1280, base+"/?q=team/api", waitRows(`a.repo[data-repo="`+repo+`"] .fact.tags`))
		if got, err := chromedp.Run(ctx, textOf(`a.repo[data-repo="`+repo+`"] .fact.tags`)); err != nil || got != fmt.Sprintf("%d tags", images) {
			t.Errorf("catalog count %q (%v), want %d tags", got, err, images)
		}
	})

	t.Run("copy panel checks repository and tag as typed", func(t *testing.T) {
		at(t, widths[0], base+"/repositories/"+repo+":v1.2.0", waitShown(`#copy-open`), appRunning(), clickOn(`#copy-open`),
			waitJS(`document.activeElement && document.activeElement.id === "dest-tag"`))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("dest-repo").value + " | " + document.getElementById("dest-tag").value`))
		if err != nil || got != repo+" | " {
			t.Errorf("repository | tag = %q (%v), want the current repository and no tag", got, err)
		}
		if err := within(ctx, typeInto(`#dest-tag`, ".bad tag"),
			waitJS(`document.getElementById("dest-tag-problem").textContent.startsWith("tags may only contain letters, digits, _ . - and start with a letter, digit or _; max 128")`),
			waitJS(`document.getElementById("copy-start").disabled`)); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("copy-panel").outerHTML`))
			t.Errorf("no reason for a bad tag: %v\n%s", err, html)
		}
		for _, w := range widths {
			resize(t, w, waitShown(`#dest-tag-problem`))
			check(t, w, "copy panel with a refused tag")
		}
		// A pasted repo:tag is split between the fields; the copy lands there.
		paste := func(id, v string) chromedp.Action[chromedp.Void] {
			return waitJS(`(() => { const e = document.getElementById("` + id + `"); e.value = "` + v + `"; e.dispatchEvent(new Event("input", {bubbles: true})); return true })()`)
		}
		if err := within(ctx, paste("dest-repo", "mirror/api:v9"),
			waitJS(`document.getElementById("dest-repo").value === "mirror/api" && document.getElementById("dest-tag").value === "v9"`),
			waitJS(`!document.getElementById("copy-start").disabled`), clickOn(`#copy-start`),
			waitJS(`(document.getElementById("copy-job") || {dataset: {}}).dataset.state === "succeeded"`)); err != nil {
			screenshot(t, ctx, "tagitems-copy-failed")
			t.Fatalf("paste repo:tag and copy: %v", err)
		}
		var page api.TagPage
		if code, _ := call(t, http.MethodGet, base+"/api/v1/repositories/mirror/api/tags?details=false", nil, &page); code != http.StatusOK ||
			!slices.ContainsFunc(page.Tags, func(tg api.Tag) bool { return tg.Name == "v9" }) {
			t.Errorf("mirror/api after the copy: %d %+v", code, page.Tags)
		}
	})

	t.Run("chart page opens on the newest stable version", func(t *testing.T) {
		at(t, widths[0], base+"/chart/charts/web-app", waitShown(`#dependencies`))
		for _, w := range widths {
			resize(t, w, waitShown(`#dependencies`))
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[
				document.getElementById("install").textContent.split(" --version ")[1],
				document.querySelector("#chart-versions li[data-version='2.0.0-beta.1']").textContent.includes("pre-release"),
				!!document.getElementById("chart-prerelease"),
				document.querySelector("#dependencies").getBoundingClientRect().right <= document.documentElement.clientWidth,
			].join(" ")`))
			if err != nil || got != "1.10.0 true false true" {
				t.Errorf("%d px: install version, beta marked, page marked pre-release, dependencies fit = %q (%v), want \"1.10.0 true false true\"", w, got, err)
			}
			check(t, w, "chart page")
		}
		at(t, 390, base+"/chart/charts/web-app:2.0.0-beta.1", waitShown(`#chart-prerelease`), waitShown(`#chart-stable a`))
		check(t, 390, "chart pre-release")
	})

	t.Run("delete all takes the referrer tags along", func(t *testing.T) {
		_, images, referrers := names()
		at(t, 1280, base+"/repositories/"+repo, waitRows(`#tags tr.tag:not(.pending) a.chip[data-referrer]`), appRunning(),
			clickOn(`#select-all`), waitShown(`#bulk-delete`))
		label, err := chromedp.Run(ctx, textOf(`#bulk-delete`))
		want := fmt.Sprintf("Delete all %d tags + %d signature/attestation tags…", images, referrers)
		if err != nil || label != want {
			t.Errorf("bulk delete says %q (%v), want %q", label, err, want)
		}
		if err := within(ctx, clickOn(`#bulk-delete`), waitShown(`#delete-referrers`)); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelectorAll("#delete-targets li").length + " " + document.querySelectorAll("#delete-referrers li").length`))
		if err != nil || got != fmt.Sprintf("%d %d", images, referrers) {
			t.Errorf("dialog lists %q tags and referrer tags (%v), want %d %d", got, err, images, referrers)
		}
		check(t, 1280, "delete all dialog")
		if err := within(ctx, clickOn(`#delete-tag-only`), waitShown(`.state`)); err != nil {
			screenshot(t, ctx, "tagitems-delete-failed")
			t.Fatal(err)
		}
		waitFor(t, "an empty repository", 30*time.Second, func() bool { tags, _, _ := names(); return len(tags) == 0 })
	})
}
