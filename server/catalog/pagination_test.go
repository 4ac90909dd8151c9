package catalog_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestCatalogPastAThousand reads a catalog larger than a stock registry's largest page
// (catalog.maxentries 1000): large pages are refused with 400, so Berth must fall back to the
// default size and follow the Link header to the end, not stop at 1,000.
func TestCatalogPastAThousand(t *testing.T) {
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "many", Repositories: 1005, Tags: 1}); err != nil {
		t.Fatal(err)
	}
	reg, err := embedded.New(context.Background(), dir, embedded.WithCatalogMaxEntries(1000))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: srv.URL})})
	page, err := svc.Repositories(context.Background(), catalog.RepositoryQuery{Query: "r00100", Offset: 0, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 5 || page.Repositories[4].Name != "many/r001004" {
		t.Fatalf("search past the first 1000: %+v", page)
	}
	all, err := svc.Repositories(context.Background(), catalog.RepositoryQuery{Query: "", Offset: 0, Limit: 1})
	if err != nil || all.Total != 1005 {
		t.Fatalf("catalog holds %d repositories, want 1005 (%v)", all.Total, err)
	}
}

// TestTagListInOnePage lists 1,100 tags in one request per list, without a page size, where
// go-containerregistry's default (n=1000) made it two (a filesystem-backed registry lists the
// whole tag directory for each page).
func TestTagListInOnePage(t *testing.T) {
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "tags", Repositories: 1, Tags: 1100}); err != nil {
		t.Fatal(err)
	}
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var paged atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); strings.HasSuffix(r.URL.Path, "/tags/list") && (q.Has("n") || q.Has("last")) {
			paged.Add(1)
		}
		reg.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: srv.URL})})
	page, err := svc.TagNames(context.Background(), "tags/r000000")
	if err != nil || page.Total != 1100 {
		t.Fatalf("%d tags (%v), want 1100", page.Total, err)
	}
	if n := paged.Load(); n != 0 {
		t.Errorf("%d tag list requests asked for a page", n)
	}
}
