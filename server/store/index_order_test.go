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

// TestIndexTagOrderMark: a repository in the catalog has a mark, and every write that can
// change its tag order gives it a new one (tags put, replaced, deleted or moved by a
// notification, a manifest described, the repository dropped and seen again), while a
// confirmation of check times and another repository's write leave it; on both databases.
func TestIndexTagOrderMark(t *testing.T) {
	onBoth(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		if _, ok, err := s.IndexTagOrderMark(ctx, "team/app"); ok || err != nil {
			t.Fatalf("a repository the catalog does not list has a mark (%v, %v)", ok, err)
		}
		if err := s.PutRepositories(ctx, []string{"team/app", "team/other"}, at); err != nil {
			t.Fatal(err)
		}
		mark := func() int64 {
			t.Helper()
			m, ok, err := s.IndexTagOrderMark(ctx, "team/app")
			if err != nil || !ok {
				t.Fatalf("mark of team/app: %v, %v", ok, err)
			}
			return m
		}
		last := mark()
		step := func(what string, changes bool, write func() error) {
			t.Helper()
			if err := write(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if now := mark(); (now != last) != changes {
				t.Fatalf("%s: mark %d, before %d; a change was expected: %v", what, now, last, changes)
			}
			last = mark()
		}
		tag := func(name, digest string, checked time.Time) store.IndexTag {
			return store.IndexTag{Repository: "team/app", Tag: name, Digest: digest, Checked: checked, Pushed: checked}
		}
		step("tags put", true, func() error {
			return s.PutTags(ctx, []store.IndexTag{tag("v1", "sha256:d1", at), tag("v2", "sha256:d2", at)})
		})
		step("a manifest described", true, func() error {
			return s.PutManifests(ctx, "team/app", []store.IndexManifest{{Digest: "sha256:d1", Kind: "image", Size: 5}})
		})
		step("a confirmation", false, func() error {
			return s.ConfirmTags(ctx, []store.IndexTag{tag("v1", "sha256:d1", at.Add(time.Minute))})
		})
		step("another repository's tags", false, func() error {
			return s.PutTags(ctx, []store.IndexTag{{Repository: "team/other", Tag: "v1", Digest: "sha256:d1", Checked: at, Pushed: at}})
		})
		step("a tag deleted", true, func() error { return s.DeleteTags(ctx, "team/app", []string{"v2"}) })
		step("the list replaced", true, func() error {
			return s.ReplaceTags(ctx, map[string][]store.IndexTag{"team/app": {tag("v3", "sha256:d3", at.Add(time.Hour))}}, at.Add(time.Hour))
		})
		step("a notification moving a tag", true, func() error {
			_, err := s.AddEvents(ctx, []store.Event{{ID: "e1", Timestamp: at.Add(2 * time.Hour), Action: store.ActionPush,
				Repository: "team/app", Tag: "v3", Digest: "sha256:d4", MediaType: "application/vnd.oci.image.manifest.v1+json"}})
			return err
		})
		if err := s.DropRepositories(ctx, at.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.IndexTagOrderMark(ctx, "team/app"); ok || err != nil {
			t.Fatalf("a dropped repository has a mark (%v, %v)", ok, err)
		}
		if err := s.PutRepositories(ctx, []string{"team/app"}, at.Add(25*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if mark() == last {
			t.Fatal("a repository dropped and seen again has its old mark")
		}
	})
}
