package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

func TestE2EWriteOperations(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, nil)

	// Copy a multi-platform tag to another repository from its manifest page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine:3.21"),
		waitShown(`#copy-open`),
		clickOn(`#copy-open`),
		waitShown(`#dest-tag`),
		waitJS(`(document.querySelector("#dest-repo").value = "") === ""`),
		typeInto(`#dest-repo`, "mirror/alpine"),
		typeInto(`#dest-tag`, "copied"),
		// No --remote-registries: no other registry is offered.
		waitJS(`document.querySelector("#copy-panel") !== null && document.querySelector("#copy-panel .copy-remote") === null`),
		clickOn(`#copy-start`),
		waitShown(`#copy-job[data-state="succeeded"]`),
	); err != nil {
		screenshot(t, ctx, "ops-copy-failed")
		t.Fatalf("copy in the UI: %v", err)
	}
	result, _ := chromedp.Run(ctx, textOf(`#copy-job`))
	if !strings.Contains(result, "mirror/alpine:copied") {
		t.Errorf("copy result %q does not name the destination", result)
	}
	screenshot(t, ctx, "ops-copy")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/mirror/alpine"),
		waitShown(`#tags tr[data-tag="copied"] .platforms`),
	); err != nil {
		t.Fatalf("the copy does not show in its repository: %v", err)
	}
	row, _ := chromedp.Run(ctx, textOf(`#tags tr[data-tag="copied"]`))
	if !strings.Contains(row, "linux/arm/v7") {
		t.Errorf("the copied index lost platforms: %q", row)
	}

	// Preview a cleanup rule, then run it: exactly the previewed tags go.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/library/nginx"),
		waitShown(`#tags tr[data-tag="1.25"]`),
		clickOn(`#cleanup-panel summary`),
		waitShown(`#cleanup-keep`),
		typeInto(`#cleanup-keep`, "2"),
		clickOn(`#cleanup-preview`),
		waitShown(`#cleanup-plan li[data-tag="1.25"]`),
	); err != nil {
		screenshot(t, ctx, "ops-cleanup-preview-failed")
		t.Fatalf("cleanup preview: %v", err)
	}
	plan, _ := chromedp.Run(ctx, textOf(`#cleanup-plan`))
	if !strings.Contains(plan, "1.26") || strings.Contains(plan, "1.27-alpine") || strings.Contains(plan, "latest") {
		t.Errorf("preview %q: want 1.25 and 1.26, not the two newest", plan)
	}
	screenshot(t, ctx, "ops-cleanup-preview")
	if err := chromedp.Do(ctx,
		clickOn(`#cleanup-run`),
		waitShown(`#cleanup-job[data-state="succeeded"]`),
		waitGone(`#tags tr[data-tag="1.25"]`),
		waitShown(`#tags tr[data-tag="1.27-alpine"]`),
	); err != nil {
		screenshot(t, ctx, "ops-cleanup-failed")
		t.Fatalf("cleanup run: %v", err)
	}
	tags, _ := chromedp.Run(ctx, textOf(`#tags`))
	if strings.Contains(tags, "1.26") || !strings.Contains(tags, "latest") {
		t.Errorf("after the cleanup the table shows %q", tags)
	}

	// Delete a tag from its row, after the dialog names the tags sharing its manifest.
	if err := chromedp.Do(ctx,
		clickOn(`#tags tr[data-tag="latest"] .delete-tag`),
		waitShown(`#delete-dialog .sharing-tags`),
	); err != nil {
		t.Fatalf("delete dialog: %v", err)
	}
	sharing, _ := chromedp.Run(ctx, textOf(`#delete-dialog .sharing-tags`))
	if !strings.Contains(sharing, "1.27-alpine") {
		t.Errorf("the dialog lists %q as sharing the manifest, want 1.27-alpine", sharing)
	}
	if err := chromedp.Do(ctx, waitShown(`#delete-frees`)); err != nil {
		t.Fatalf("the dialog does not say what deleting would free: %v", err)
	}
	if frees, _ := chromedp.Run(ctx, textOf(`#delete-frees`)); !strings.Contains(frees, "frees up to") || !strings.Contains(frees, "B") {
		t.Errorf("delete estimate says %q", frees)
	}
	screenshot(t, ctx, "ops-delete-dialog")
	if err := chromedp.Do(ctx,
		clickOn(`#delete-tag-only`),
		waitGone(`#tags tr[data-tag="latest"]`),
		waitShown(`#tags tr[data-tag="1.27-alpine"]`),
	); err != nil {
		t.Fatalf("remove tag only: %v", err)
	}

	// Tick two tags and delete them together, after the same preview of what is freed.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine"),
		waitShown(`#tags tr[data-tag="3.19"] input[type=checkbox]`),
		clickOn(`#tags tr[data-tag="3.19"] input[type=checkbox]`),
		clickOn(`#tags tr[data-tag="3.20"] input[type=checkbox]`),
		waitShown(`#bulk-delete`),
		clickOn(`#bulk-delete`),
		waitShown(`#delete-dialog #delete-targets`),
		waitShown(`#delete-frees`),
	); err != nil {
		t.Fatalf("bulk delete dialog: %v", err)
	}
	targets, _ := chromedp.Run(ctx, textOf(`#delete-targets`))
	if !strings.Contains(targets, "3.19") || !strings.Contains(targets, "3.20") {
		t.Errorf("bulk dialog lists %q", targets)
	}
	screenshot(t, ctx, "ops-bulk-delete")
	if err := chromedp.Do(ctx,
		clickOn(`#delete-manifest`),
		waitGone(`#tags tr[data-tag="3.19"]`),
		waitGone(`#tags tr[data-tag="3.20"]`),
		waitShown(`#tags tr[data-tag="3.21"]`),
	); err != nil {
		t.Fatalf("bulk delete: %v", err)
	}

	// Delete from the manifest page: the page then shows the repository.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/mirror/alpine:copied"),
		waitShown(`#manifest-delete`),
		clickOn(`#manifest-delete`),
		waitShown(`#delete-dialog[open] #delete-manifest`),
		clickOn(`#delete-manifest`),
		// The repository page: without tags (or, where the registry forgets an empty
		// repository, not found).
		waitJS(`location.pathname === "/repositories/mirror/alpine" && document.querySelector(".state.empty, .state.not-found") !== null`),
	); err != nil {
		screenshot(t, ctx, "ops-manifest-delete-failed")
		t.Fatalf("delete from the manifest page: %v", err)
	}
}

func TestE2EReadOnlyHidesWriteActions(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, func(c *config.Config) { c.ReadOnly = true })
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine"),
		waitShown(`#tags tr[data-tag="latest"] .platforms`),
	); err != nil {
		t.Fatal(err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".delete-tag, #cleanup-panel").length`))
	if err != nil || n != 0 {
		t.Errorf("read-only repository page shows %d write controls (%v)", n, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine:3.21"),
		waitShown(`#layers`),
	); err != nil {
		t.Fatal(err)
	}
	n, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#copy-open").length`))
	if err != nil || n != 0 {
		t.Errorf("read-only manifest page shows the copy action (%d, %v)", n, err)
	}
}

// TestE2ECopyToAnotherRegistry copies a multi-platform tag from its manifest page to a second,
// password-protected registry, giving the credentials in the dialog.
func TestE2ECopyToAnotherRegistry(t *testing.T) {
	other := registrytest.Htpasswd(t, map[string]string{"bob": "builder-pass"})
	// Copies reach only registries the operator listed.
	base := startBerth(t, func(c *config.Config) { c.RemoteRegistries = []string{other} })
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine:3.21"),
		waitShown(`#copy-open`),
		clickOn(`#copy-open`),
		waitShown(`#dest-tag`),
		waitJS(`(document.querySelector("#dest-repo").value = "") === ""`),
		// Typed as one reference: the colon moves on to the tag field.
		typeInto(`#dest-repo`, "mirror/alpine:3.21"),
		clickOn(`#copy-panel .copy-remote summary`),
		// The registry is chosen from the operator's list, not typed.
		waitJS(`Array.from(document.querySelectorAll("#copy-registry option")).map(o => o.value).join(" ") === "this `+other+`"`),
		waitJS(`(s => { s.value = `+jsString(other)+`; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value === `+jsString(other)+`; })(document.querySelector("#copy-registry"))`),
		typeInto(`#copy-username`, "bob"),
		typeInto(`#copy-password`, "builder-pass"),
		clickOn(`#copy-start`),
		waitShown(`#copy-job[data-state="succeeded"]`),
	); err != nil {
		screenshot(t, ctx, "ops-copy-remote-failed")
		t.Fatalf("copy to another registry: %v", err)
	}
	if left, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#copy-password").value`)); left != "" {
		t.Errorf("the password stays in the form after the copy started")
	}
	auth := remote.WithAuth(&authn.Basic{Username: "bob", Password: "builder-pass"})
	dst, _ := name.ParseReference(strings.TrimPrefix(other, "http://")+"/mirror/alpine:3.21", name.Insecure)
	got, err := remote.Head(dst, auth)
	if err != nil {
		t.Fatalf("the copy is not in the other registry: %v", err)
	}
	src, _ := chromedp.Run(ctx, textOf(`#manifest .fields dd`))
	if !strings.Contains(src, got.Digest.String()) {
		t.Errorf("copied digest %s differs from the source's %q", got.Digest, src)
	}
}
