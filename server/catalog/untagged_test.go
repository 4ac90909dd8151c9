package catalog_test

import (
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
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
