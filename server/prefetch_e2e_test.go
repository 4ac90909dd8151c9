package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

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

// TestE2ENeverSeenRepositoryArrivesWithItsNames: a repository Berth has never read (more tags
// than the index may lack for a page in order) comes with its tag names, details pending;
// the page asks for the rows in view and for every tag as soon as it is parsed, before
// app.wasm runs, and app.wasm takes both answers over: each asked for once, every tag shown
// with its details.
func TestE2ENeverSeenRepositoryArrivesWithItsNames(t *testing.T) {
	reg := registrytest.Open(t)
	host := strings.TrimPrefix(reg, "http://")
	const tags = 130 // more than the index may lack (catalog's maxUndescribed)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"unseen/first", "unseen/second"} {
		for i := range tags { // one image: the index lacks tags, whatever they point to
			r, _ := name.ParseReference(fmt.Sprintf("%s/%s:v%03d", host, repo, i), name.Insecure)
			if err := remote.Write(r, img); err != nil {
				t.Fatal(err)
			}
		}
	}
	base := startBerth(t, func(c *config.Config) {
		c.ClientRendered = false
		c.Registry = reg
		c.NoDemo = true
		c.SyncInterval = 0
	})
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/signin")); err != nil { // the browser's own start
		t.Fatal(err)
	}
	api := watchAPI(t, ctx)
	asked := func(repo string, from int) (view, all int) {
		for _, r := range api.since(from) {
			switch {
			case strings.HasSuffix(r, "/repositories/"+repo+"/tags?limit=all"):
				all++
			case strings.HasSuffix(r, "/repositories/"+repo+"/tags?limit=100&offset=30"): // v129 … v030, newest first by name
				view++
			}
		}
		return view, all
	}

	if err := blockWasm(ctx, true); err != nil {
		t.Fatal(err)
	}
	before := api.count()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/unseen/first"), waitRows(`#tags tr.tag.pending`),
		waitJS(`window.berthPrefetch && window.berthPrefetch.size === 2`),
		waitJS(`document.querySelector("#tags tr.tag .tag-name").innerText.includes("v129") && document.querySelector(".count").innerText.includes("130 tags")`)); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v; without app.wasm the page shows:\n%s", err, text)
	}
	if view, all := asked("unseen/first", before); view != 1 || all != 1 {
		t.Fatalf("without app.wasm the page asked for the rows in view %d times and every tag %d times, want once each", view, all)
	}

	if err := blockWasm(ctx, false); err != nil {
		t.Fatal(err)
	}
	before = api.count()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/unseen/second"), appRunning(),
		waitJS(`window.berthPrefetch.size === 0`), // both claimed by the app
		waitJS(`document.querySelectorAll("#tags tr.tag").length > 0 && document.querySelectorAll("#tags tr.tag.pending").length === 0`),
		waitJS(`document.querySelector(".count").innerText.startsWith("130 tags") && !document.querySelector(".count").innerText.includes("loading")`),
	); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v; the page shows:\n%s", err, text)
	}
	if view, all := asked("unseen/second", before); view != 1 || all != 1 {
		t.Errorf("with app.wasm the rows in view were asked for %d times and every tag %d times, want once each (the page's own requests, taken over)", view, all)
	}
}

// TestE2EOpenPageFollowsPushes: an open repository page shows a tag pushed to its repository
// by itself, without a reload, once the registry's notification reaches Berth.
func TestE2EOpenPageFollowsPushes(t *testing.T) {
	reg := registrytest.Open(t)
	host := strings.TrimPrefix(reg, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	pushAs := func(tag string) string {
		r, _ := name.ParseReference(host+"/follow/app:"+tag, name.Insecure)
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}
	pushAs("v1")
	base := startBerth(t, func(c *config.Config) { c.Registry = reg; c.NoDemo = true; c.EventsInsecure = true })
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/follow/app"), appRunning(),
		waitShown(`#tags tr[data-tag="v1"]`)); err != nil {
		t.Fatal(err)
	}
	// The push, then the notification the registry sends of it.
	digest := pushAs("v2")
	event := fmt.Sprintf(`{"events":[{"id":"follow-push-v2","timestamp":%q,"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"repository":"follow/app","tag":"v2"}}]}`,
		time.Now().UTC().Format(time.RFC3339Nano), digest)
	req, _ := http.NewRequest(http.MethodPost, base+"/events", strings.NewReader(event))
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("notification: %s", resp.Status)
	}
	if err := chromedp.Do(ctx, waitShown(`#tags tr[data-tag="v2"] td.digest`)); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the pushed tag never showed on the open page: %v; it shows:\n%s", err, text)
	}
}
