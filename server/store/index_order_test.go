package store_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// TestIndexTagOrder: one narrow row per tag of the repository, with its digest, push and
// check times, and size and creation from the summary where the index has one (a tag whose
// manifest is not described yet says so, with zero size and creation), on both databases.
func TestIndexTagOrder(t *testing.T) {
	onBoth(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		created := at.Add(-48 * time.Hour)
		if err := s.PutManifests(ctx, "team/app", []store.IndexManifest{{Digest: "sha256:d1", Kind: "image", Size: 1234, Created: created}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTags(ctx, []store.IndexTag{
			{Repository: "team/app", Tag: "v1", Digest: "sha256:d1", Checked: at, Pushed: at.Add(-time.Hour)},
			{Repository: "team/app", Tag: "v2", Digest: "sha256:d2", Checked: at.Add(time.Minute), Pushed: at},
			{Repository: "team/other", Tag: "v1", Digest: "sha256:d1", Checked: at, Pushed: at},
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.IndexTagOrder(ctx, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b store.TagOrder) int { return strings.Compare(a.Tag, b.Tag) })
		want := []store.TagOrder{
			{Tag: "v1", Digest: "sha256:d1", Described: true, Size: 1234, Created: created, Pushed: at.Add(-time.Hour), Checked: at},
			{Tag: "v2", Digest: "sha256:d2", Pushed: at, Checked: at.Add(time.Minute)},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("tag order:\n got %+v\nwant %+v", got, want)
		}
		if none, err := s.IndexTagOrder(ctx, "team/none"); err != nil || len(none) != 0 {
			t.Fatalf("a repository without tags: %+v, %v", none, err)
		}
	})
}
