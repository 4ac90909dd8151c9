package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

// A registry refusing its catalog: the page says why the list may be short, and "Open a
// repository" opens one it does not list, which the list shows from then on.
func TestE2ECatalogRefusedOpensByName(t *testing.T) {
	ctx := browser(t)
	reg := registrytest.Distribution3(t)
	for _, r := range []string{"team/app:v1", "team/hidden:v1"} {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		dst, _ := name.ParseReference(reg.Host+"/"+r, name.Insecure)
		if err := remote.Write(dst, img); err != nil {
			t.Fatal(err)
		}
	}
	upstream := registrytest.RefuseCatalog(t, reg.URL, http.StatusNotFound)
	base := startBerth(t, func(c *config.Config) {
		c.Registry, c.NoDemo, c.SyncInterval, c.Repositories = upstream, true, 0, []string{"team/app"}
	})
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#catalog-refused`),
		appRunning(),
		waitListed([]string{"team/app"}),
	); err != nil {
		t.Fatalf("catalog of a registry refusing its own: %v", err)
	}
	note, err := chromedp.Run(ctx, textOf(`#catalog-refused`))
	if err != nil || !strings.Contains(note, "does not list its repositories") {
		t.Errorf("the catalog's note says %q (%v)", note, err)
	}
	screenshot(t, ctx, "catalog-refused")
	if err := chromedp.Do(ctx,
		typeInto(`#repo-goto`, "team/hidden"),
		clickOn(`#catalog-refused button[type="submit"]`),
		waitShown(`#tags tr[data-tag="v1"]`),
	); err != nil {
		t.Fatalf("opening team/hidden by name: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		waitListed([]string{"team/app", "team/hidden"}),
	); err != nil {
		t.Fatalf("the list after opening team/hidden: %v", err)
	}
}
