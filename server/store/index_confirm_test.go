package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// TestConfirmTags: a confirmation moves the check time of the rows that still have the
// confirmed digest and an earlier check, and nothing else: not a row that moved meanwhile,
// not one a later check confirmed, not another repository's row of the same name, not the
// push time, and not the repository's summary; on both databases.
func TestConfirmTags(t *testing.T) {
	onBoth(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		later := at.Add(time.Hour)
		if err := s.PutRepositories(ctx, []string{"team/app", "team/other"}, at); err != nil {
			t.Fatal(err)
		}
		if err := s.PutManifests(ctx, "team/app", []store.IndexManifest{{Digest: "sha256:d1", Kind: "image", Size: 10}}); err != nil {
			t.Fatal(err)
		}
		put := []store.IndexTag{
			{Repository: "team/app", Tag: "v1", Digest: "sha256:d1", Checked: at, Pushed: at.Add(-time.Hour)},
			{Repository: "team/app", Tag: "v2", Digest: "sha256:d2", Checked: at, Pushed: at},
			{Repository: "team/app", Tag: "v3", Digest: "sha256:d3", Checked: later.Add(time.Minute), Pushed: at},
			{Repository: "team/other", Tag: "v1", Digest: "sha256:d1", Checked: at, Pushed: at},
		}
		if err := s.PutTags(ctx, put); err != nil {
			t.Fatal(err)
		}
		before, err := s.RepositorySummaries(ctx, []string{"team/app"})
		if err != nil {
			t.Fatal(err)
		}
		err = s.ConfirmTags(ctx, []store.IndexTag{
			{Repository: "team/app", Tag: "v1", Digest: "sha256:d1", Checked: later},  // confirmed
			{Repository: "team/app", Tag: "v2", Digest: "sha256:old", Checked: later}, // moved meanwhile
			{Repository: "team/app", Tag: "v3", Digest: "sha256:d3", Checked: later},  // checked later already
			{Repository: "team/app", Tag: "gone", Digest: "sha256:d9", Checked: later},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.IndexTagOrder(ctx, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b store.TagOrder) int { return strings.Compare(a.Tag, b.Tag) })
		checked := map[string]time.Time{}
		for _, o := range got {
			checked[o.Tag] = o.Checked
		}
		want := map[string]time.Time{"v1": later, "v2": at, "v3": later.Add(time.Minute)}
		if len(got) != 3 || checked["v1"] != want["v1"] || checked["v2"] != want["v2"] || checked["v3"] != want["v3"] {
			t.Fatalf("check times after the confirmation: %+v, want %v", got, want)
		}
		if !got[0].Pushed.Equal(at.Add(-time.Hour)) || got[1].Digest != "sha256:d2" {
			t.Fatalf("a confirmation changed more than the check time: %+v", got)
		}
		other, err := s.IndexTagOrder(ctx, "team/other")
		if err != nil || len(other) != 1 || !other[0].Checked.Equal(at) {
			t.Fatalf("another repository's row: %+v, %v", other, err)
		}
		after, err := s.RepositorySummaries(ctx, []string{"team/app"})
		if err != nil || after["team/app"] != before["team/app"] {
			t.Fatalf("summary %+v, before %+v (%v)", after["team/app"], before["team/app"], err)
		}
		if err := s.ConfirmTags(ctx, nil); err != nil {
			t.Fatalf("nothing to confirm: %v", err)
		}
		// More rows than one statement takes (500 a statement).
		var bulk []store.IndexTag
		for i := range 1203 {
			bulk = append(bulk, store.IndexTag{Repository: "team/bulk", Tag: fmt.Sprintf("t%d", i), Digest: "sha256:d1", Checked: at, Pushed: at})
		}
		if err := s.PutTags(ctx, bulk); err != nil {
			t.Fatal(err)
		}
		for i := range bulk {
			bulk[i].Checked = later
		}
		if err := s.ConfirmTags(ctx, bulk); err != nil {
			t.Fatal(err)
		}
		rows, err := s.IndexTagOrder(ctx, "team/bulk")
		if err != nil || len(rows) != len(bulk) {
			t.Fatalf("bulk: %d rows, %v", len(rows), err)
		}
		for _, r := range rows {
			if !r.Checked.Equal(later) {
				t.Fatalf("bulk: %s checked %v, want %v", r.Tag, r.Checked, later)
			}
		}
	})
}
