package catalog_test

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestUsageWaitsForPages: a storage answer's walk holds back while a page is being built
// (Service.Answering) and goes on once the page is out; a page being built all along costs
// it a bounded wait, not its answer.
func TestUsageWaitsForPages(t *testing.T) {
	host := seededRegistry(t)
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host})})
	ctx := t.Context()
	page := svc.Answering()
	const building = 150 * time.Millisecond
	start := time.Now()
	time.AfterFunc(building, page)
	u, err := svc.Usage(ctx, "library/alpine", "")
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < building || u.Tags != 4 {
		t.Fatalf("usage %+v after %v, while a page was being built for %v", u, took, building)
	}

	forever := svc.Answering()
	defer forever()
	start = time.Now()
	tags, err := svc.Tags(ctx, "library/alpine", catalog.TagQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// With what a delete would free: computed again, not the memo's answer.
	if _, err := svc.Usage(ctx, "library/alpine", tags.Tags[0].Digest); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 10*time.Second {
		t.Fatalf("with a page being built all along, usage took %v; want its wait of about 0.3 s", took)
	}
}
