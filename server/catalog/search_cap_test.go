package catalog_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestSearchChecksABoundedNumberOfRepositories: a query matching many repositories the caller
// may not read costs at most 100 access checks (registry round trips as the caller), and the
// answer says it is incomplete rather than widening on.
func TestSearchChecksABoundedNumberOfRepositories(t *testing.T) {
	var lists atomic.Int64
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			lists.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
			return
		}
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(reg.Close)

	st, err := store.Open(t.Context(), storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now()
	var names []string
	var tags []store.IndexTag
	for i := range 300 {
		repo := fmt.Sprintf("private/app%03d", i)
		names = append(names, repo)
		tags = append(tags, store.IndexTag{Repository: repo, Tag: "1.0", Digest: fmt.Sprintf("sha256:%064x", i), Checked: now, Pushed: now})
	}
	if err := st.PutRepositories(t.Context(), names, now); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTags(t.Context(), tags); err != nil {
		t.Fatal(err)
	}
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: reg.URL}), Index: st})
	page, err := svc.Search(t.Context(), "private/app", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Results) != 0 {
		t.Fatalf("results from repositories the registry refused: %+v", page.Results)
	}
	if !page.Incomplete {
		t.Error("the answer does not say the search stopped checking")
	}
	if n := lists.Load(); n > 100 || n == 0 {
		t.Fatalf("%d access checks reached the registry, want 1–100", n)
	}
}

// TestSearchRefusesAnOverlongQuery: a query longer than any name, digest or label gets a clear
// 400, not a scan of the index.
func TestSearchRefusesAnOverlongQuery(t *testing.T) {
	st, err := store.Open(t.Context(), storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://127.0.0.1:1"}), Index: st})
	_, err = svc.Search(t.Context(), "label:"+strings.Repeat("y", 3000), 10)
	if !httperr.Is(err, api.CodeBadRequest) {
		t.Fatalf("a 3,006-character query: %v, want BAD_REQUEST", err)
	}
}
