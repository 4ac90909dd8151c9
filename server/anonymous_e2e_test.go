package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/server/config"
)

// Under access control, an anonymous visitor of the catalog is asked to sign in (and brought
// back afterwards) instead of being told the registry is empty: on the server's page already,
// and once app.wasm runs it.
func TestE2EAnonymousCatalogAsksToSignIn(t *testing.T) {
	ctx := browser(t)
	base := startGuarded(t, func(c *config.Config) { c.ClientRendered = false })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if err := blockWasm(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := within(ctx, chromedp.Navigate(base+"/"), waitJS(`!!document.querySelector("#signin-to-see")`)); err != nil {
		t.Errorf("the server's catalog page does not ask an anonymous visitor to sign in: %v", err)
	}
	if err := blockWasm(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := within(ctx, chromedp.Navigate(base+"/"), waitJS(`!!document.querySelector("#signin-to-see")`)); err != nil {
		screenshot(t, ctx, "anonymous-catalog-failed")
		t.Fatalf("anonymous catalog: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
	if err != nil || !strings.Contains(text, "Sign in to see repositories") || strings.Contains(text, "no repositories yet") {
		t.Errorf("anonymous catalog says %q (%v), want the invitation to sign in and not an empty registry", text, err)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#signin-to-see").getAttribute("href")`))
	if err != nil || href != "/signin?return=%2F" {
		t.Errorf("sign-in link goes to %q (%v), want /signin?return=%%2F", href, err)
	}
	screenshot(t, ctx, "anonymous-catalog")
	if err := within(ctx, clickOn(`#signin-to-see`), signInUI("admin", adminPassword), waitJS(`location.pathname === "/"`),
		waitShown(`#repositories a[href="/repositories/library/alpine"]`)); err != nil {
		t.Errorf("signing in from the catalog: %v", err)
	}
}
