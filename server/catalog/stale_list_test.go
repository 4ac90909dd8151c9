package catalog_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestStaleTagListAnswersAtOnce: past the tag TTL, a repository's tag list Berth had moments
// ago answers at once while the registry is asked again in the background (held there
// here); a tag added behind Berth's back shows once that list arrives.
func TestStaleTagListAnswersAtOnce(t *testing.T) {
	reg, err := embedded.New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var hold atomic.Bool
	var held atomic.Int32
	open := make(chan struct{})
	inner := reg.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold.Load() && strings.HasSuffix(r.URL.Path, "/tags/list") {
			held.Add(1)
			select {
			case <-open:
			case <-r.Context().Done():
				return
			}
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	host := strings.TrimPrefix(srv.URL, "http://")
	push(t, host, "list/app:v1", must(random.Image(128, 1)))

	const ttl = 50 * time.Millisecond
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: srv.URL}), TagTTL: ttl})
	names := func() []string {
		t.Helper()
		page, err := svc.TagNames(t.Context(), "list/app")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tag := range page.Tags {
			out = append(out, tag.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("first list: %v", got)
	}
	push(t, host, "list/app:v2", must(random.Image(128, 1)))
	time.Sleep(2 * ttl)
	hold.Store(true)
	if got := names(); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("stale list: %v, want the one listed before", got)
	}
	waitFor(t, time.Minute, "the list to be asked again in the background", func() bool { return held.Load() > 0 })
	close(open)
	waitFor(t, time.Minute, "the added tag to show", func() bool { return slices.Equal(names(), []string{"v1", "v2"}) })
}
