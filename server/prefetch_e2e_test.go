package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestE2ERestOfTheTagsAskedForWithThePage: a prerendered repository page with more tags than
// it carries asks for the rest as soon as it is parsed (web/early.js, from its seed), before
// app.wasm runs, and app.wasm takes that answer over instead of asking again: one limit=all
// request per visit, and every tag on the page.
func TestE2ERestOfTheTagsAskedForWithThePage(t *testing.T) {
	reg := registrytest.Open(t)
	host := strings.TrimPrefix(reg, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	const tags = 130 // more than a prerendered page carries (firstRows)
	for i := range tags {
		r, _ := name.ParseReference(fmt.Sprintf("%s/many/tags:v%03d", host, i), name.Insecure)
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	base := startBerth(t, func(c *config.Config) { c.ClientRendered = false; c.Registry = reg; c.NoDemo = true })
	warmPaths(t, base, "/api/v1/repositories/many/tags/tags?limit=all")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/signin")); err != nil { // the browser's own start
		t.Fatal(err)
	}
	api := watchAPI(t, ctx)
	all := func(from int) int {
		n := 0
		for _, r := range api.since(from) {
			if strings.HasSuffix(r, "/repositories/many/tags/tags?limit=all") {
				n++
			}
		}
		return n
	}

	if err := blockWasm(ctx, true); err != nil {
		t.Fatal(err)
	}
	before := api.count()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/many/tags"), waitRows(`#tags tr.tag`),
		waitJS(`window.berthPrefetch && window.berthPrefetch.size === 1`)); err != nil {
		t.Fatal(err)
	}
	if n := all(before); n != 1 {
		t.Fatalf("without app.wasm the page asked for the other tags %d times, want once", n)
	}

	if err := blockWasm(ctx, false); err != nil {
		t.Fatal(err)
	}
	before = api.count()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/many/tags"), appRunning(),
		waitJS(`document.querySelector(".count") && document.querySelector(".count").innerText.includes("130")`),
		waitJS(`window.berthPrefetch.size === 0`), // claimed by the app
	); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v; the page shows:\n%s", err, text)
	}
	if n := all(before); n != 1 {
		t.Errorf("with app.wasm the other tags were asked for %d times, want once (the page's own request, taken over)", n)
	}
}
