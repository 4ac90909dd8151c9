package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdpfetch "github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/server/config"
)

// holdWasm pauses the tab's requests for app.wasm (the preload's and app.js's own) until
// the returned release is called, so a test acts on the prerendered page before the app runs.
func holdWasm(t *testing.T, ctx context.Context) (release func()) {
	t.Helper()
	var (
		mu       sync.Mutex
		held     []cdpfetch.RequestID
		released bool
	)
	resume := func(id cdpfetch.RequestID) {
		go func() {
			_, _ = chromedp.Call(ctx, cdpfetch.ContinueRequest, cdpfetch.ContinueRequestParams{RequestID: id})
		}()
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*cdpfetch.EventRequestPaused); ok {
			mu.Lock()
			defer mu.Unlock()
			if released {
				resume(e.RequestID)
			} else {
				held = append(held, e.RequestID)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdpfetch.Enable, cdpfetch.EnableParams{Patterns: []*cdpfetch.RequestPattern{{URLPattern: "*/web/app.wasm"}}}); err != nil {
		t.Fatal(err)
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if len(held) == 0 {
			t.Error("the page did not ask for app.wasm before the clicks")
		}
		released = true
		for _, id := range held {
			resume(id)
		}
	}
}

// allowClipboard lets pages of origin read and write the clipboard without asking.
func allowClipboard(t *testing.T, ctx context.Context, origin string) {
	t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    cdpbrowser.PermissionSettingGranted,
			Origin:     origin,
		}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// A prerendered repository page works from the moment its rows show: Copy pull copies while
// app.wasm is still on its way, and a tick box and Delete clicked then show that they wait
// and act once the app runs — the tag ticked and the delete dialog open for that tag.
func TestE2EFirstClicks(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, func(c *config.Config) { c.ClientRendered = false })
	warm(t, base)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	allowClipboard(t, ctx, base)
	api := watchAPI(t, ctx)
	release := holdWasm(t, ctx)

	const row = `#tags tr[data-tag="latest"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/library/alpine"), waitRows(row+` .delete-tag`)); err != nil {
		t.Fatalf("prerendered rows: %v", err)
	}
	// Copy pull: the command the row shows in its title lands on the clipboard.
	want, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+"`"+row+` .copy-pull`+"`"+`).dataset.copy`))
	if err != nil || !strings.HasPrefix(want, "docker pull ") || !strings.HasSuffix(want, "/library/alpine:latest") {
		t.Fatalf("Copy pull carries %q (%v), want the pull command of library/alpine:latest", want, err)
	}
	if err := chromedp.Do(ctx, clickOn(row+` .copy-pull`), waitJS(`document.querySelector(`+"`"+row+` .copy-pull`+"`"+`).textContent.includes("Copied")`)); err != nil {
		t.Fatalf("Copy pull before app.wasm: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil || got != want {
		t.Errorf("clipboard holds %q (%v), want %q", got, err, want)
	}

	// Tick box and Delete: kept, and marked as waiting.
	if err := chromedp.Do(ctx, clickOn(row+` input[type=checkbox]`), clickOn(row+` .delete-tag`)); err != nil {
		t.Fatal(err)
	}
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[
		document.querySelector(`+"`"+row+` .delete-tag`+"`"+`).getAttribute("aria-busy"),
		document.querySelector(`+"`"+row+` input[type=checkbox]`+"`"+`).getAttribute("aria-busy"),
		!!document.getElementById("app-wasm-loader"),
		!!document.querySelector("#delete-dialog[open]"),
	].join(" ")`))
	if err != nil || state != "true true true false" {
		t.Errorf("before app.wasm: Delete busy, tick box busy, loader, dialog open = %q (%v), want \"true true true false\"", state, err)
	}
	screenshot(t, ctx, "first-clicks-waiting")

	release()
	if err := chromedp.Do(ctx, appRunning()); err != nil {
		t.Fatalf("app.wasm did not start: %v", err)
	}
	// A modal dialog, open: polled, since the app replaced the page's nodes meanwhile.
	if err := chromedp.Do(ctx, waitJS(`(document.querySelector("#delete-dialog[open]") || {matches: () => false}).matches(":modal")`)); err != nil {
		t.Fatalf("the Delete clicked before app.wasm never opened its dialog: %v", err)
	}
	// It stays open while the rest of the page (activity, usage, untagged manifests) loads.
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := api.quiet(qctx, time.Second); err != nil {
		t.Fatal(err)
	}
	dialog, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#delete-dialog[open]").innerText`))
	if err != nil || !strings.Contains(dialog, "latest") {
		t.Errorf("delete dialog says %q (%v), want it to name latest", dialog, err)
	}
	bulk, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(".bulk") || {}).innerText || ""`))
	if err != nil || !strings.Contains(bulk, "1 tag selected") {
		t.Errorf("after the tick box clicked before app.wasm, the toolbar says %q (%v), want 1 tag selected", bulk, err)
	}
	screenshot(t, ctx, "first-clicks-replayed")
}
