package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
)

// replaced pushes an image to repo:v1 at host, then another to the same tag, and returns the
// first one's digest, untagged now.
func replaced(t *testing.T, host, repo string) string {
	t.Helper()
	r, err := name.ParseReference(host+"/"+repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for i := range 2 {
		img, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			d, _ := img.Digest()
			first = d.String()
		}
	}
	return first
}

// TestE2ERepositoryExtras uses the repository page's untagged section (listed, then deleted
// through the dialog), copies a digest from a row, and filters tags by image label.
func TestE2ERepositoryExtras(t *testing.T) {
	base := startBerth(t, nil)
	ctx := browser(t)
	const repo = "team/leftovers"
	old := replaced(t, strings.TrimPrefix(base, "http://"), repo)

	row := fmt.Sprintf(`#untagged tr[data-digest=%q]`, old)
	// The first action starts the browser; under a shorter deadline, its end would close it.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/"+repo)); err != nil {
		t.Fatal(err)
	}
	if err := within(ctx,
		waitShown(`#tags tr[data-tag="v1"] .copy-digest`),
		waitJS(`document.querySelector("#untagged-summary") && document.querySelector("#untagged-summary").innerText === "Untagged manifests (1)"`),
		clickOn(`#untagged-summary`),
		waitShown(row+` .delete-untagged`),
		waitJS(`document.querySelector("#untagged-source").dataset.source === "complete"`),
	); err != nil {
		screenshot(t, ctx, "extras-untagged-failed")
		t.Fatalf("untagged section: %v", err)
	}
	screenshot(t, ctx, "extras-untagged")

	// The digest's copy button: one line per row still, named for its tag, announced.
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#tags tr[data-tag="v1"] .copy-digest').getAttribute("aria-label")`))
	if err != nil || label != "Copy digest of v1" {
		t.Errorf("copy button's name = %q, %v", label, err)
	}
	if h, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("#tags tr.tag").getBoundingClientRect().height`)); err != nil || h != 44 {
		t.Errorf("tag rows are %vpx high with the copy button, want 44 (%v)", h, err)
	}
	var tags api.TagPage
	if status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+repo+"/tags?limit=all", nil, &tags); status != http.StatusOK || len(tags.Tags) != 1 {
		t.Fatalf("tags: %d %+v", status, tags)
	}
	if err := within(ctx,
		clickOn(`#tags tr[data-tag="v1"] .copy-digest`),
		waitJS(`document.querySelector("#announce").innerText === "Copied to the clipboard: `+tags.Tags[0].Digest+`"`),
	); err != nil {
		t.Errorf("copy announcement: %v", err)
	}

	// Delete the untagged manifest through the dialog: it leaves the list.
	if err := within(ctx,
		clickOn(row+` .delete-untagged`),
		waitShown(`#delete-dialog[open] #delete-manifest`),
		waitJS(`document.querySelector("#delete-tag-only") === null`),
	); err != nil {
		screenshot(t, ctx, "extras-untagged-dialog-failed")
		t.Fatalf("delete dialog: %v", err)
	}
	screenshot(t, ctx, "extras-untagged-dialog")
	if err := within(ctx,
		clickOn(`#delete-manifest`),
		waitJS(`!document.querySelector("#delete-dialog[open]")`),
		waitJS(`document.querySelector("#untagged-summary") && document.querySelector("#untagged-summary").innerText === "Untagged manifests (0)"`),
	); err != nil {
		screenshot(t, ctx, "extras-untagged-delete-failed")
		t.Fatalf("delete: %v", err)
	}
	var page api.UntaggedPage
	if status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+repo+"/untagged", nil, &page); status != http.StatusOK || len(page.Manifests) != 0 {
		t.Errorf("after the delete: %d %+v", status, page)
	}

	// Filter by label: the rows are exactly the server's answer for the label.
	const nginx = "library/nginx"
	const query = "org.opencontainers.image.version=1.25"
	var want api.TagPage
	if status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+nginx+"/tags?limit=all&label="+url.QueryEscape(query), nil, &want); status != http.StatusOK || len(want.Tags) == 0 {
		t.Fatalf("label query: %d %+v", status, want)
	}
	var all api.TagPage
	call(t, http.MethodGet, base+"/api/v1/repositories/"+nginx+"/tags?details=false", nil, &all)
	if len(want.Tags) >= len(all.Tags) {
		t.Fatalf("label %s keeps all %d tags: a filter that filters nothing proves nothing", query, len(all.Tags))
	}
	var names []string
	for _, tg := range want.Tags {
		names = append(names, tg.Name)
	}
	slices.Sort(names)
	if err := within(ctx,
		chromedp.Navigate(base+"/repositories/"+nginx),
		waitShown(`#tags tr.tag`),
		waitJS(`document.querySelectorAll("#tags tr.tag.pending").length === 0`),
		typeInto(`#tag-filter`, "label:"+query),
		waitJS(`JSON.stringify([...document.querySelectorAll("#tags tr.tag")].map(r => r.dataset.tag).sort()) === `+jsString(jsonList(names))),
	); err != nil {
		screenshot(t, ctx, "extras-label-failed")
		t.Fatalf("label filter (want %v): %v", names, err)
	}
	screenshot(t, ctx, "extras-label")
	if err := within(ctx,
		waitJS(`(document.querySelector("#tag-filter").value = "", true)`),
		typeInto(`#tag-filter`, "label:org.example.nothing"),
		waitShown(`#label-none`),
	); err != nil {
		screenshot(t, ctx, "extras-label-none-failed")
		t.Fatalf("no label match: %v", err)
	}
}

func jsonList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// TestE2EDeleteWholeRepository ticks every tag with the header's checkbox and deletes their
// manifests: the dialog says it empties the repository and what it frees, and the page then
// shows the repository without tags.
func TestE2EDeleteWholeRepository(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, nil)
	host := strings.TrimPrefix(base, "http://")
	for _, tag := range []string{"v1", "v2", "v3"} {
		r, err := name.ParseReference(host+"/team/doomed:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := random.Image(2048, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/team/doomed"),
		appRunning(),
		waitShown(`#tags tr[data-tag="v3"] input[type=checkbox]`),
		clickOn(`#select-all`),
		waitShown(`#bulk-delete`),
	); err != nil {
		t.Fatalf("select all: %v", err)
	}
	if label, _ := chromedp.Run(ctx, textOf(`#bulk-delete`)); label != "Delete all 3 tags…" {
		t.Errorf("bulk button says %q", label)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tags tr.tag input[type=checkbox]:checked").length`)); n != 3 {
		t.Errorf("%d rows ticked, want 3", n)
	}
	if err := chromedp.Do(ctx,
		clickOn(`#bulk-delete`),
		waitShown(`#delete-dialog[open] #delete-all-note`),
		waitShown(`#delete-frees`),
	); err != nil {
		t.Fatalf("dialog: %v", err)
	}
	if title, _ := chromedp.Run(ctx, textOf(`#delete-title`)); title != "Delete all 3 tags of team/doomed?" {
		t.Errorf("dialog title %q", title)
	}
	if frees, _ := chromedp.Run(ctx, textOf(`#delete-frees`)); !strings.Contains(frees, "kB") {
		t.Errorf("the dialog says %q, want the repository's stored size", frees)
	}
	screenshot(t, ctx, "delete-whole-repository")
	if err := chromedp.Do(ctx,
		clickOn(`#delete-manifest`),
		waitShown(`.state.empty`),
	); err != nil {
		screenshot(t, ctx, "delete-whole-repository-failed")
		t.Fatalf("delete all: %v", err)
	}
	var page api.TagPage
	resp, err := http.Get(base + "/api/v1/repositories/team/doomed/tags?limit=all")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(&page)
		if len(page.Tags) != 0 {
			t.Fatalf("tags left after deleting all: %+v", page.Tags)
		}
	}
	// Nothing stays ticked on the emptied page.
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("input[type=checkbox]:checked").length`)); n != 0 {
		t.Errorf("%d checkboxes still ticked", n)
	}
}
