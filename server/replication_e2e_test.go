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

// TestE2EReplicationPages signs in as the administrator, tests the connection to an
// --extra-registry endpoint with the keyboard, creates a rule with the form, starts a dry run
// from the rule's page and sees it in the history, nothing copied, then edits the rule's
// filters there; then switches to the endpoint in the header and opens a tag there. Pages
// (the rule's with its form open) axe-clean on a desktop, the rule's without overflow on a phone.
func TestE2EReplicationPages(t *testing.T) {
	script := axeScript(t)
	ctx := browser(t)
	second := registrytest.Open(t)
	base := startGuarded(t, func(c *config.Config) { c.ExtraRegistries = []string{"second=" + second} })
	// The first action runs on the browser's own context: one with a deadline would close the
	// tab when it ends.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/signin")); err != nil {
		t.Fatal(err)
	}
	if err := within(ctx, signInUI("admin", adminPassword), waitShown(`#access-link`),
		chromedp.Navigate(base+"/replication"), waitShown(`#endpoints tr[data-endpoint="second"]`),
		// Keyboard: the endpoint's Test button, focused and pressed with Enter.
		waitJS(`(() => { const b = document.querySelector('#endpoints tr[data-endpoint="second"] button'); if (!b) return false; b.focus(); return document.activeElement === b })()`),
		chromedp.KeyEvent("\r"),
		waitJS(`document.querySelector('#endpoints tr[data-endpoint="second"]').textContent.includes("answers")`),
	); err != nil {
		screenshot(t, ctx, "replication-failed")
		t.Fatal(err)
	}
	checkAxe(t, ctx, script, "replication")
	// An endpoint that refuses _catalog, added with the form and its own list of repositories.
	if err := within(ctx,
		typeInto(`#endpoint-name`, "listed"),
		typeInto(`#endpoint-url`, second),
		clickOn(`#endpoint-nocatalog`),
		typeInto(`#endpoint-repositories`, "team/browse\nteam/other, team/third"),
		clickOn(`#endpoint-add`),
		waitJS(`(() => { const r = document.querySelector('#endpoints tr[data-endpoint="listed"]'); return !!r && r.textContent.includes("lists 3 repositories") })()`),
	); err != nil {
		screenshot(t, ctx, "endpoint-add-failed")
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("adding an endpoint with its repositories: %v; the page shows:\n%s", err, text)
	}
	if err := within(ctx,
		typeInto(`#rule-name`, "worker-to-second"),
		choose(`#rule-destination`, "second"),
		typeInto(`#rule-repositories`, "team/api/worker"),
		clickOn(`#rule-create`),
		waitShown(`#rules tr[data-rule="worker-to-second"] a`),
		clickOn(`#rules tr[data-rule="worker-to-second"] a`),
		waitShown(`#rule-dry-run`),
		clickOn(`#rule-dry-run`),
		waitJS(`(() => { const r = document.querySelector('#runs tbody tr'); return !!r && r.textContent.includes("succeeded (dry run)") })()`),
		clickOn(`#runs details summary`),
		waitJS(`document.querySelector('#runs details').textContent.includes("team/api/worker")`),
		clickOn(`#rule-edit`),
		waitJS(`document.activeElement && document.activeElement.id === "edit-name"`),
	); err != nil {
		screenshot(t, ctx, "replication-rule-failed")
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v; the page shows:\n%s", err, text)
	}
	checkAxe(t, ctx, script, "replication-rule")
	if err := within(ctx,
		typeInto(`#edit-tags`, "v*"),
		typeInto(`#edit-labels`, "com.example.team=payments"),
		clickOn(`#edit-save`),
		waitJS(`!document.querySelector('#edit-form') && document.body.textContent.includes("tags=v* labels=com.example.team=payments")`),
	); err != nil {
		screenshot(t, ctx, "replication-edit-failed")
		t.Fatal(err)
	}
	if err := within(ctx, look(390, 844, false)); err != nil {
		t.Fatal(err)
	}
	noOverflow(t, ctx, "replication-rule-phone")
	if err := within(ctx, look(1280, 800, false)); err != nil {
		t.Fatal(err)
	}
	// The endpoint browsed with the same pages: the main catalog's filter finds its repository,
	// the header's switcher opens its catalog, a repository and a tag there open under /r/second/.
	pushImage(t, strings.TrimPrefix(second, "http://"), "team/browse:v1", authn.Anonymous)
	if err := within(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#repositories a.repo`),
		typeInto(`#repo-filter`, "browse"),
		waitShown(`#elsewhere a[href="/r/second/repositories/team/browse"]`), // search across registries
		choose(`#registry-switch`, "second"),
		waitShown(`#repositories a[href="/r/second/repositories/team/browse"]`),
		clickOn(`#repositories a[href="/r/second/repositories/team/browse"]`),
		waitShown(`#tags tr[data-tag="v1"] td.tag-name a`),
		clickOn(`#tags tr[data-tag="v1"] td.tag-name a`),
		waitShown(`#manifest`),
		waitJS(`location.pathname === "/r/second/repositories/team/browse:v1" && !document.querySelector("#manifest-delete, #inside-links")`),
	); err != nil {
		screenshot(t, ctx, "endpoint-browse-failed")
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v; the page shows:\n%s", err, text)
	}
	checkAxe(t, ctx, script, "endpoint-manifest")
	r, _ := name.NewRepository(strings.TrimPrefix(second, "http://")+"/team/api/worker", name.Insecure)
	if tags, err := remote.List(r); err == nil && len(tags) > 0 {
		t.Errorf("the dry run copied %v", tags)
	}
}
