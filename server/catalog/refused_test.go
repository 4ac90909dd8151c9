package catalog_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store/storetest"
)

// The sync of a registry refusing its catalog walks the repositories Berth knows of — the
// operator's list, then one opened by name — and drops none of them from the index.
func TestSyncWalksKnownRepositoriesWhereTheCatalogIsRefused(t *testing.T) {
	host := strings.TrimPrefix(registrytest.RefuseCatalog(t, registrytest.Open(t), http.StatusNotFound), "http://")
	for _, repo := range []string{"team/listed:1", "team/opened:1"} {
		img, _ := random.Image(512, 1)
		push(t, host, repo, img)
	}
	st := openStore(t, storetest.SQLite(t))
	client := registrytest.NewClient(t, registry.Options{URL: "http://" + host})
	svc := newCatalog(catalog.Options{Registry: client, Index: st, Known: []string{"team/listed"}})
	syncer, err := events.NewSyncer(events.SyncOptions{Registry: client, Store: st, Index: svc})
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		t.Helper()
		page, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Limit: 10})
		if err != nil || !page.CatalogRefused {
			t.Fatalf("catalog: %+v, %v; want catalogRefused", page, err)
		}
		var out []string
		for _, r := range page.Repositories {
			out = append(out, r.Name)
		}
		return out
	}
	if res, err := syncer.Sync(t.Context()); err != nil || res.Repositories != 1 || res.Indexed != 1 {
		t.Fatalf("sync = %+v, %v; want team/listed walked and indexed", res, err)
	}
	if _, ok := indexedTag(t, st, "team/listed", "1"); !ok {
		t.Error("the sync did not index team/listed:1")
	}
	if got := names(); !slices.Equal(got, []string{"team/listed"}) {
		t.Errorf("catalog before opening team/opened: %v", got)
	}
	if _, err := svc.Tags(t.Context(), "team/opened", catalog.TagQuery{All: true}); err != nil {
		t.Fatal(err)
	}
	if got := names(); !slices.Equal(got, []string{"team/listed", "team/opened"}) {
		t.Errorf("catalog after opening team/opened: %v", got)
	}
	if res, err := syncer.Sync(t.Context()); err != nil || res.Repositories != 2 {
		t.Fatalf("second sync = %+v, %v; want both repositories walked", res, err)
	}
	if _, ok := indexedTag(t, st, "team/opened", "1"); !ok {
		t.Error("the second sync did not index team/opened:1")
	}
	if got := names(); !slices.Equal(got, []string{"team/listed", "team/opened"}) {
		t.Errorf("catalog after the second sync: %v", got)
	}
}
