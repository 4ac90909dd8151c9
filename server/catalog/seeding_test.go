package catalog_test

import (
	"testing"

	"github.com/berth-registry/berth/server/catalog"
)

// TestSeedingIsSaid: while Berth pushes its demo content the catalog's answers say so (the UI
// then says "Seeding demo content…" instead of showing a partial list), and stop saying it
// once the pushes are done.
func TestSeedingIsSaid(t *testing.T) {
	svc := newService(t, seededRegistry(t), nil, 4)
	ctx := t.Context()
	for _, on := range []bool{true, false} {
		svc.SetSeeding(on)
		page, err := svc.Repositories(ctx, catalog.RepositoryQuery{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if page.Seeding != on {
			t.Errorf("seeding %v: the answer says seeding=%v", on, page.Seeding)
		}
		if len(page.Repositories) == 0 {
			t.Errorf("seeding %v: no repositories in the answer", on)
		}
	}
}
