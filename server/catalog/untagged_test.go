package catalog_test

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestUntaggedNotAvailable: without the embedded registry's storage and without the metadata
// index, untagged manifests and the label filter answer NOT_AVAILABLE (400), not NOT_FOUND, so
// a client can tell "not here" from "no such repository".
func TestUntaggedNotAvailable(t *testing.T) {
	base := registrytest.Open(t)
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: base})})
	_, err := svc.Untagged(t.Context(), "team/app")
	if !httperr.Is(err, api.CodeNotAvailable) || api.CodeNotAvailable.Status() != 400 {
		t.Errorf("untagged without lister or index: %v", err)
	}
	_, err = svc.Tags(t.Context(), "team/app", catalog.TagQuery{All: true, Label: "tier"})
	if !httperr.Is(err, api.CodeNotAvailable) {
		t.Errorf("label filter without index: %v", err)
	}
	if _, err = svc.Search(t.Context(), "sha256:ab", 10); !httperr.Is(err, api.CodeNotAvailable) {
		t.Errorf("search without index: %v", err)
	}
}

// TestUntaggedTooManyTagsAtOnce: past maxUntaggedTags the listing is refused with 413, and
// once the caller's tag list is at hand (the repository page read it moments before) the
// refusal comes without listing the tags again.
func TestUntaggedTooManyTagsAtOnce(t *testing.T) {
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "many", Repositories: 1, Tags: 2001}); err != nil {
		t.Fatal(err)
	}
	reg := countingRegistryAt(t, dir)
	svc := newCatalog(catalog.Options{
		Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host}),
		Index:    openStore(t, storetest.SQLite(t)),
	})
	const repo = "many/r000000"
	for i, at := range []string{"without a list at hand", "with the page's list at hand"} {
		if i == 1 {
			if _, err := svc.Tags(t.Context(), repo, catalog.TagQuery{Limit: 10}); err != nil {
				t.Fatal(err)
			}
		}
		before := reg.lists.Load()
		_, err := svc.Untagged(t.Context(), repo)
		if !httperr.Is(err, api.CodeTooLarge) || !strings.Contains(err.Error(), "2001 tags") {
			t.Fatalf("%s: %v, want TOO_LARGE naming 2001 tags", at, err)
		}
		if got := reg.lists.Load() - before; (i == 0) != (got > 0) {
			t.Errorf("%s: the tags were listed %d times", at, got)
		}
	}
}
