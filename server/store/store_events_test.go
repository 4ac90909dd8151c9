package store_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// contractEvents covers the event log: dedup, filters and paging, counts, tag state, rejections, pruning.
func contractEvents(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("dedup and round trip", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		e := ev("e1", "push", "library/alpine", "3.21", "sha256:aaa", base)
		e.References = []string{"sha256:l1", "sha256:l2"}
		e.Length, e.URL, e.RequestID, e.RequestAddr, e.RequestHost = 123, "http://r/v2/x", "rq", "10.0.0.1:3", "reg"
		e.SourceAddr, e.SourceInstance = "reg:5000", "inst"
		n, err := s.AddEvents(ctx, []store.Event{e, e})
		if err != nil || n != 1 {
			t.Fatalf("AddEvents = %d, %v; want 1 added", n, err)
		}
		n, err = s.AddEvents(ctx, []store.Event{e, ev("e2", "pull", "library/alpine", "3.21", "sha256:aaa", base.Add(time.Second))})
		if err != nil || n != 1 {
			t.Fatalf("second AddEvents = %d, %v; want 1 added", n, err)
		}
		got, err := s.Events(ctx, store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "e2" || got[1].ID != "e1" {
			t.Fatalf("events = %+v", got)
		}
		if g := got[1]; !g.Timestamp.Equal(e.Timestamp) || !slices.Equal(g.References, e.References) ||
			g.URL != e.URL || g.SourceInstance != "inst" || g.Source != store.SourceWebhook || g.Size != 123 || g.Actor != "alice" {
			t.Errorf("round trip: got %+v, want %+v", g, e)
		}
		if _, err := s.AddEvents(ctx, []store.Event{{Action: "push"}}); err == nil {
			t.Error("event without id accepted")
		}
	})

	t.Run("filters and paging", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		var evs []store.Event
		for i := range 25 {
			repo := []string{"a", "b"}[i%2]
			action := []string{"push", "pull", "pull"}[i%3]
			e := ev(fmt.Sprintf("id%02d", i), action, repo, "t", "sha256:x", base.Add(time.Duration(i/2)*time.Minute))
			if i == 7 {
				e.Actor = "bob"
			}
			evs = append(evs, e)
		}
		blob := ev("blob", "pull", "a", "", "sha256:b", base)
		blob.MediaType = "application/octet-stream"
		evs = append(evs, blob)
		if _, err := s.AddEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		count := func(f store.Filter) int {
			t.Helper()
			got, err := s.Events(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return len(got)
		}
		if n := count(store.Filter{Repository: "a"}); n != 14 {
			t.Errorf("repository a: %d", n)
		}
		if n := count(store.Filter{Repository: "a", ManifestsOnly: true}); n != 13 {
			t.Errorf("repository a manifests: %d", n)
		}
		if n := count(store.Filter{Action: "push"}); n != 9 {
			t.Errorf("push: %d", n)
		}
		if n := count(store.Filter{Actor: "bob"}); n != 1 {
			t.Errorf("actor bob: %d", n)
		}
		if n := count(store.Filter{Since: base.Add(5 * time.Minute), Until: base.Add(7 * time.Minute)}); n != 4 {
			t.Errorf("time range: %d", n)
		}
		// Page through everything three at a time: newest first, nothing repeated or lost.
		var seen []string
		before := ""
		for range 20 {
			page, err := s.Events(ctx, store.Filter{Limit: 3, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				seen = append(seen, e.ID)
			}
			before = page[len(page)-1].ID
		}
		if len(seen) != 26 {
			t.Fatalf("paged %d events: %v", len(seen), seen)
		}
		all, _ := s.Events(ctx, store.Filter{})
		for i, e := range all {
			if seen[i] != e.ID {
				t.Fatalf("page order differs at %d: %s vs %s", i, seen[i], e.ID)
			}
			if i > 0 && all[i-1].Timestamp.Before(e.Timestamp) {
				t.Fatalf("not newest first at %d", i)
			}
		}
	})

	t.Run("counts, top pulled, last activity", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		day := 24 * time.Hour
		head := ev("head", "pull", "a", "1", "sha256:x", base)
		head.RequestMethod = "HEAD"
		blob := ev("blob", "push", "a", "", "sha256:b", base)
		blob.MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
		evs := []store.Event{
			ev("p1", "push", "a", "1", "sha256:x", base),
			ev("p2", "push", "a", "2", "sha256:y", base.Add(2*day)),
			ev("l1", "pull", "a", "1", "sha256:x", base.Add(time.Hour)),
			ev("l2", "pull", "a", "1", "sha256:x", base.Add(2*day+time.Hour)),
			ev("l3", "pull", "b", "1", "sha256:z", base.Add(2*day)),
			ev("l4", "pull", "b", "1", "sha256:z", base.Add(2*day)),
			ev("l5", "pull", "b", "1", "sha256:z", base.Add(2*day)),
			ev("old", "pull", "c", "1", "sha256:z", base.Add(-10*day)),
			head, blob,
		}
		if _, err := s.AddEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		start := base.Truncate(day)
		buckets, err := s.Counts(ctx, "a", day, start, start.Add(3*day))
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Bucket{{start, 1, 1}, {start.Add(day), 0, 0}, {start.Add(2 * day), 1, 1}}
		if len(buckets) != 3 {
			t.Fatalf("buckets = %+v", buckets)
		}
		for i := range want {
			if !buckets[i].Start.Equal(want[i].Start) || buckets[i].Pushes != want[i].Pushes || buckets[i].Pulls != want[i].Pulls {
				t.Errorf("bucket %d = %+v, want %+v", i, buckets[i], want[i])
			}
		}
		all, err := s.Counts(ctx, "", day, start, start.Add(3*day))
		if err != nil || all[2].Pulls != 4 {
			t.Errorf("all repositories day 3 = %+v, %v", all, err)
		}
		top, err := s.TopPulled(ctx, start, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 2 || top[0] != (store.RepositoryCount{Repository: "b", Count: 3}) || top[1] != (store.RepositoryCount{Repository: "a", Count: 2}) {
			t.Errorf("top = %+v", top)
		}
		act, err := s.LastActivity(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if !act.LastPush.Equal(base.Add(2*day)) || !act.LastPull.Equal(base.Add(2*day+time.Hour)) {
			t.Errorf("activity = %+v", act)
		}
		none, err := s.LastActivity(ctx, "nothing")
		if err != nil || !none.LastPush.IsZero() || !none.LastPull.IsZero() {
			t.Errorf("activity of unknown = %+v, %v", none, err)
		}
	})

	t.Run("tag state", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		add := func(evs ...store.Event) {
			t.Helper()
			if _, err := s.AddEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
		tags := func() string {
			t.Helper()
			got, err := s.Tags(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, r := range got {
				parts = append(parts, r.Repository+":"+r.Tag+"="+r.Digest)
			}
			return strings.Join(parts, " ")
		}
		add(ev("1", "push", "a", "1", "sha256:x", base), ev("2", "push", "a", "2", "sha256:x", base), ev("3", "push", "b", "1", "sha256:y", base))
		// An older push arriving late (a retry) must not roll the tag back.
		add(ev("4", "push", "a", "1", "sha256:new", base.Add(time.Minute)), ev("5", "push", "a", "1", "sha256:old", base.Add(-time.Minute)))
		if got := tags(); got != "a:1=sha256:new a:2=sha256:x b:1=sha256:y" {
			t.Fatalf("tags = %s", got)
		}
		del := ev("6", "delete", "a", "", "sha256:x", base.Add(time.Hour)) // manifest delete
		add(del)
		if got := tags(); got != "a:1=sha256:new b:1=sha256:y" {
			t.Fatalf("after manifest delete: %s", got)
		}
		add(ev("7", "delete", "a", "1", "", base.Add(time.Hour))) // tag delete
		add(ev("8", "delete", "b", "", "", base.Add(time.Hour)))  // repository delete
		if got := tags(); got != "" {
			t.Fatalf("after deletes: %s", got)
		}
		// A deleted tag is remembered with the time of its delete, and a push older than the
		// delete arriving late (a retry) does not bring it back.
		add(ev("9", "push", "b", "1", "sha256:y", base.Add(30*time.Minute)))
		if got := tags(); got != "" {
			t.Fatalf("a late push older than the delete brought back: %s", got)
		}
		deleted, err := s.DeletedTags(ctx)
		if err != nil || len(deleted) != 3 {
			t.Fatalf("deleted tags = %+v, %v; want a:1, a:2, b:1", deleted, err)
		}
		for _, d := range deleted {
			if d.Digest != "" || !d.Updated.Equal(base.Add(time.Hour)) {
				t.Errorf("deleted tag %+v, want no digest and the delete's time", d)
			}
		}
		add(ev("10", "push", "a", "1", "sha256:again", base.Add(2*time.Hour)))
		got, err := s.Tags(ctx)
		if err != nil || len(got) != 1 || got[0].Digest != "sha256:again" || !got[0].Updated.Equal(base.Add(2*time.Hour)) {
			t.Fatalf("after pushing a deleted tag again: %+v, %v", got, err)
		}
		if deleted, _ := s.DeletedTags(ctx); len(deleted) != 2 {
			t.Errorf("a pushed-again tag is still listed as deleted: %+v", deleted)
		}
		// Pruning forgets deletions as old as the pruned events.
		if _, err := s.Prune(ctx, base.Add(90*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if deleted, _ := s.DeletedTags(ctx); len(deleted) != 0 {
			t.Errorf("after prune, deleted tags %+v", deleted)
		}
		if got := tags(); got != "a:1=sha256:again" {
			t.Errorf("prune touched a live tag: %s", got)
		}
	})

	t.Run("rejected events", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		_, err := s.AddEvents(ctx, []store.Event{ev("fine", "push", "a", "1", "d", base), ev("", "push", "a", "2", "d", base)})
		if !errors.Is(err, store.ErrRejected) {
			t.Fatalf("an event without id: %v, want ErrRejected", err)
		}
		if got, err := s.Events(ctx, store.Filter{}); err != nil || len(got) != 0 {
			t.Fatalf("a refused batch stored %d events (%v)", len(got), err)
		}
		// What a database cannot hold is refused as such, never reported as an outage.
		for _, e := range []store.Event{ev("nul\x00byte", "pull", "a", "1", "d", base), ev(noise(8192), "pull", "a", "1", "d", base)} {
			if _, err := s.AddEvents(ctx, []store.Event{e}); err != nil && !errors.Is(err, store.ErrRejected) {
				t.Errorf("event %.20q: %v, want nil or ErrRejected", e.ID, err)
			}
		}
		// An outage is not a rejection.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddEvents(ctx, []store.Event{ev("late", "push", "a", "1", "d", base)}); err == nil || errors.Is(err, store.ErrRejected) {
			t.Errorf("writing to a closed store: %v, want an error that is not ErrRejected", err)
		}
	})

	t.Run("prune", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		if _, err := s.AddEvents(ctx, []store.Event{ev("old", "pull", "a", "1", "d", base.Add(-time.Hour)), ev("new", "pull", "a", "1", "d", base)}); err != nil {
			t.Fatal(err)
		}
		n, err := s.Prune(ctx, base)
		if err != nil || n != 1 {
			t.Fatalf("Prune = %d, %v", n, err)
		}
		got, _ := s.Events(ctx, store.Filter{})
		if len(got) != 1 || got[0].ID != "new" {
			t.Errorf("after prune: %+v", got)
		}
	})
}

// contractWrites covers concurrent event writers and the feed counting pulls as the statistics do.
func contractWrites(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("concurrent writers", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i := range 20 {
					// Every writer also repeats ids of writer 0, so duplicates race too.
					batch := []store.Event{
						ev(fmt.Sprintf("w%d-%d", w, i), "pull", "a", "1", "d", base),
						ev(fmt.Sprintf("w0-%d", i), "pull", "a", "1", "d", base),
					}
					if _, err := s.AddEvents(ctx, batch); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := s.Events(ctx, store.Filter{})
		if err != nil || len(got) != 160 {
			t.Fatalf("%d events, %v; want 160", len(got), err)
		}
	})

	t.Run("the feed counts pulls as the statistics do", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		get := ev("get", "pull", "a", "1", "sha256:d", base)
		head := ev("head", "pull", "a", "1", "sha256:d", base.Add(time.Second))
		head.RequestMethod = "HEAD"
		if _, err := s.AddEvents(ctx, []store.Event{get, head}); err != nil {
			t.Fatal(err)
		}
		feed, err := s.Events(ctx, store.Filter{ManifestsOnly: true})
		if err != nil || len(feed) != 1 || feed[0].ID != "get" {
			t.Fatalf("manifest feed = %+v, %v; want the GET only", feed, err)
		}
		all, err := s.Events(ctx, store.Filter{})
		if err != nil || len(all) != 2 {
			t.Fatalf("whole feed = %d events, %v; want both", len(all), err)
		}
		counts, err := s.Counts(ctx, "a", time.Hour, base.Add(-time.Hour), base.Add(time.Hour))
		pulls := 0
		for _, c := range counts {
			pulls += c.Pulls
		}
		if err != nil || pulls != len(feed) {
			t.Fatalf("statistics count %d pulls, the feed shows %d (%v)", pulls, len(feed), err)
		}
	})
}
