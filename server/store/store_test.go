package store_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestSQLite runs the contract suite against SQLite in a temp dir.
func TestSQLite(t *testing.T) {
	contract(t, func(t *testing.T) string {
		return filepath.Join(t.TempDir(), "berth.db")
	})
}

// TestSQLiteDSN checks the DSN forms Open accepts for SQLite and that data survives reopening.
func TestSQLiteDSN(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "berth.db")
	s, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEvents(ctx, []store.Event{ev("a", "push", "r", "t", "sha256:1", base)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(ctx, path) // plain path, migrations already applied
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Events(ctx, store.Filter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
	for _, bad := range []string{"", "mysql://x", "redis://h"} {
		if _, err := store.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// TestPostgresRejects checks that what PostgreSQL cannot store — a NUL byte in text, an id
// over the primary key index's row size limit — is reported as ErrRejected, so the webhook
// refuses it instead of asking the registry to retry forever.
func TestPostgresRejects(t *testing.T) {
	pg := storetest.StartPostgres(t)
	s, err := store.Open(t.Context(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nul := ev("ok", "push", "a", "1", "d", base)
	nul.UserAgent = "docker\x00"
	for name, e := range map[string]store.Event{
		"NUL in id":         ev("a\x00b", "pull", "a", "1", "d", base),
		"NUL in user agent": nul,
		"8 KB id":           ev(noise(8192), "pull", "a", "1", "d", base),
	} {
		if _, err := s.AddEvents(t.Context(), []store.Event{e}); !errors.Is(err, store.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
}

// TestPostgres runs the contract suite against a PostgreSQL server the test starts itself.
func TestPostgres(t *testing.T) {
	pg := storetest.StartPostgres(t)
	contract(t, func(t *testing.T) string { return pg.NewDatabase(t) })
}

var base = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// noise returns n bytes of hex digits that do not compress, as a random id would not:
// PostgreSQL compresses index entries, so a repeated letter fits where these do not.
func noise(n int) string {
	rnd := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n/2)
	for i := range b {
		b[i] = byte(rnd.UintN(256))
	}
	return hex.EncodeToString(b)
}

func ev(id, action, repo, tag, digest string, ts time.Time) store.Event {
	mt := "application/vnd.oci.image.manifest.v1+json"
	return store.Event{
		ID: id, Timestamp: ts, Action: action, Repository: repo, Tag: tag, Digest: digest,
		MediaType: mt, Size: 123, Actor: "alice", RequestMethod: "GET", UserAgent: "test",
		Source: store.SourceWebhook,
	}
}

// contract is the behaviour every Store must have; newDSN returns a fresh, empty database.
func contract(t *testing.T, newDSN func(t *testing.T) string) {
	open := func(t *testing.T) store.Store {
		t.Helper()
		s, err := store.Open(t.Context(), newDSN(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}

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

	t.Run("layer indexes", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		const d1, d2 = "sha256:1111", "sha256:2222"
		if _, ok, err := s.LayerIndex(ctx, d1); err != nil || ok {
			t.Fatalf("empty store: ok=%v, %v", ok, err)
		}
		data := make([]byte, 70000) // binary, with every byte value, longer than a page
		for i := range data {
			data[i] = byte(i * 7)
		}
		created := base.Add(time.Minute)
		if err := s.PutLayerIndex(ctx, store.LayerIndex{Digest: d1, Entries: 12, Files: 9, Data: data, Created: created}); err != nil {
			t.Fatal(err)
		}
		// A second put of the same digest (another replica) keeps the first and is no error.
		if err := s.PutLayerIndex(ctx, store.LayerIndex{Digest: d1, Entries: 1, Files: 1, Data: []byte("other")}); err != nil {
			t.Fatalf("second put: %v", err)
		}
		got, ok, err := s.LayerIndex(ctx, d1)
		if err != nil || !ok {
			t.Fatalf("LayerIndex: ok=%v, %v", ok, err)
		}
		if got.Digest != d1 || got.Entries != 12 || got.Files != 9 || !got.Created.Equal(created) || string(got.Data) != string(data) {
			t.Fatalf("round trip: %+v (data %d bytes)", got.Digest, len(got.Data))
		}
		if err := s.PutLayerIndex(ctx, store.LayerIndex{Digest: d2, Entries: 3, Files: 0, Data: []byte{}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutLayerIndex(ctx, store.LayerIndex{Digest: "sha256:3333"}); err == nil {
			t.Error("put without data succeeded")
		}
		// Many digests at once, most unknown: only the stored ones come back, without data.
		ask := []string{d1, d2}
		for i := range 1200 {
			ask = append(ask, fmt.Sprintf("sha256:%04d", i+5000))
		}
		stats, err := s.LayerIndexStats(ctx, ask)
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != 2 || stats[d1].Entries != 12 || stats[d1].Files != 9 || stats[d2].Entries != 3 || stats[d1].Data != nil {
			t.Fatalf("stats = %+v", stats)
		}
		if empty, err := s.LayerIndexStats(ctx, nil); err != nil || len(empty) != 0 {
			t.Fatalf("stats of nothing = %v, %v", empty, err)
		}
	})

	t.Run("concurrent layer index puts", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				errs <- s.PutLayerIndex(ctx, store.LayerIndex{Digest: "sha256:race", Entries: w, Data: []byte{byte(w)}})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, ok, err := s.LayerIndex(ctx, "sha256:race")
		if err != nil || !ok || len(got.Data) != 1 || int(got.Data[0]) != got.Entries {
			t.Fatalf("after racing puts: %+v, %v, %v", got, ok, err)
		}
	})

	t.Run("job events and secrets", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		at := base
		evs := []store.JobEvent{
			{JobID: 7, Seq: 1, Time: at, Data: []byte(`{"type":"phase"}`)},
			{JobID: 7, Seq: 2, Time: at.Add(time.Second), Done: 10, Total: 40, Data: []byte(`{"type":"progress"}`)},
			{JobID: 8, Seq: 1, Time: at, Data: []byte(`{"type":"phase"}`)},
		}
		if err := s.AddJobEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		// A second writer of the same (job, seq) — a resumed job, two replicas closing one
		// job — changes nothing.
		if err := s.AddJobEvents(ctx, []store.JobEvent{{JobID: 7, Seq: 2, Time: at, Data: []byte(`{"type":"other"}`)},
			{JobID: 7, Seq: 3, Time: at.Add(2 * time.Second), Done: 40, Total: 40, Final: true, Data: []byte(`{"type":"result"}`)}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.JobEvents(ctx, 7, 1, 0)
		if err != nil || len(got) != 2 || got[0].Seq != 2 || string(got[0].Data) != `{"type":"progress"}` || !got[1].Final || !got[1].Time.Equal(at.Add(2*time.Second)) {
			t.Fatalf("events after 1: %+v, %v", got, err)
		}
		last, err := s.LastJobEvents(ctx, []int64{7, 8, 9})
		if err != nil || len(last) != 2 || last[7].Seq != 3 || last[7].Done != 40 || string(last[7].Data) != `{"type":"result"}` || last[8].Data != nil {
			t.Fatalf("last events: %+v, %v", last, err)
		}
		if err := s.DeleteJobEvents(ctx, []int64{7}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.JobEvents(ctx, 7, 0, 0); err != nil || len(got) != 0 {
			t.Fatalf("after delete: %+v, %v", got, err)
		}
		if got, err := s.JobEvents(ctx, 8, 0, 0); err != nil || len(got) != 1 {
			t.Fatalf("other job after delete: %+v, %v", got, err)
		}

		if err := s.PutJobSecret(ctx, "s1", []byte{0, 1, 2, 255}); err != nil {
			t.Fatal(err)
		}
		sealed, ok, err := s.JobSecret(ctx, "s1")
		if err != nil || !ok || !slices.Equal(sealed, []byte{0, 1, 2, 255}) {
			t.Fatalf("secret: %v, %v, %v", sealed, ok, err)
		}
		if ids, err := s.JobSecretIDs(ctx, time.Now().Add(time.Minute)); err != nil || !slices.Equal(ids, []string{"s1"}) {
			t.Fatalf("secret ids: %v, %v", ids, err)
		}
		if ids, err := s.JobSecretIDs(ctx, time.Now().Add(-time.Hour)); err != nil || len(ids) != 0 {
			t.Fatalf("secret ids an hour ago: %v, %v", ids, err)
		}
		if err := s.DeleteJobSecrets(ctx, []string{"s1"}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.JobSecret(ctx, "s1"); ok || err != nil {
			t.Fatalf("secret after delete: %v, %v", ok, err)
		}
	})

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

	t.Run("metadata index", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		tagList := func(repo string) string {
			t.Helper()
			got, err := s.IndexTags(ctx, repo)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, g := range got {
				p := g.Tag + "=" + g.Digest
				if g.Manifest != nil {
					p += "/" + g.Manifest.Kind
				}
				parts = append(parts, p)
			}
			return strings.Join(parts, " ")
		}
		// A push notification puts the tag (and its repository) into the index in the event's
		// own transaction; a manifest delete takes its tags out.
		if _, err := s.AddEvents(ctx, []store.Event{
			ev("p1", "push", "team/app", "1.0", "sha256:aaa", base),
			ev("p2", "push", "team/app", "latest", "sha256:aaa", base),
			ev("p3", "push", "team/app", "old", "sha256:bbb", base),
		}); err != nil {
			t.Fatal(err)
		}
		if got := tagList("team/app"); got != "1.0=sha256:aaa latest=sha256:aaa old=sha256:bbb" {
			t.Fatalf("after pushes: %s", got)
		}
		if _, err := s.AddEvents(ctx, []store.Event{ev("d1", "delete", "team/app", "", "sha256:bbb", base.Add(time.Minute))}); err != nil {
			t.Fatal(err)
		}
		if got := tagList("team/app"); got != "1.0=sha256:aaa latest=sha256:aaa" {
			t.Fatalf("after manifest delete: %s", got)
		}
		// A confirmation older than the stored one changes nothing; pushed moves only with the digest.
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "team/app", Tag: "1.0", Digest: "sha256:old", Checked: base.Add(-time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "team/app", Tag: "latest", Digest: "sha256:aaa", Checked: base.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.IndexTags(ctx, "team/app")
		if err != nil || len(got) != 2 || got[0].Digest != "sha256:aaa" || !got[1].Pushed.Equal(base) || !got[1].Checked.Equal(base.Add(time.Hour)) {
			t.Fatalf("after confirmations: %+v, %v", got, err)
		}
		missing, err := s.MissingManifests(ctx, "", 10)
		if err != nil || len(missing) != 1 || missing[0] != (store.MissingManifest{Repository: "team/app", Digest: "sha256:aaa"}) {
			t.Fatalf("missing = %+v, %v", missing, err)
		}
		if after, _ := s.MissingManifests(ctx, "sha256:aaa", 10); len(after) != 0 {
			t.Fatalf("missing after sha256:aaa: %+v", after)
		}
		created := base.Add(-24 * time.Hour)
		idx := store.IndexManifest{
			Digest: "sha256:aaa", MediaType: "application/vnd.oci.image.index.v1+json", Kind: "index", Size: 300, Created: created,
			Attestations: 1,
			Platforms: []store.IndexPlatform{
				{OS: "linux", Architecture: "amd64", Digest: "sha256:c1", Size: 100, Created: created, Labels: map[string]string{"org.opencontainers.image.source": "https://example.com/App"}},
				{OS: "linux", Architecture: "arm64", Digest: "sha256:c2", Size: 200, Created: created},
			},
		}
		sig := store.IndexManifest{Digest: "sha256:sig", Kind: "artifact", ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json", Size: 5, Subject: "sha256:aaa"}
		chart := store.IndexManifest{Digest: "sha256:chart", Kind: "artifact", ArtifactType: "application/vnd.cncf.helm.config.v1+json", Size: 7}
		if err := s.PutManifests(ctx, "team/app", []store.IndexManifest{idx, sig}); err != nil {
			t.Fatal(err)
		}
		// Content-addressed: a second write of the same digest keeps the first.
		if err := s.PutManifests(ctx, "team/app", []store.IndexManifest{{Digest: "sha256:aaa", Kind: "image", Size: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutManifests(ctx, "charts/web", []store.IndexManifest{chart}); err != nil {
			t.Fatal(err)
		}
		got, err = s.IndexTags(ctx, "team/app")
		if err != nil || len(got) != 2 {
			t.Fatalf("tags = %+v, %v", got, err)
		}
		m := got[0].Manifest
		if m == nil || m.Kind != "index" || m.Size != 300 || !m.Created.Equal(created) || m.Attestations != 1 || len(m.Platforms) != 2 ||
			m.Platforms[1].Architecture != "arm64" || m.Platforms[1].Size != 200 || got[0].Referrers != 1 {
			t.Fatalf("summary = %+v (referrers %d)", m, got[0].Referrers)
		}
		if missing, _ := s.MissingManifests(ctx, "", 10); len(missing) != 0 {
			t.Fatalf("still missing: %+v", missing)
		}

		// The sync replaces a repository's tags as read at a moment: rows older that it did not
		// see go, rows confirmed after it (a push during the walk) stay.
		walk := base.Add(2 * time.Hour)
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "team/app", Tag: "during", Digest: "sha256:aaa", Checked: walk.Add(time.Second)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReplaceTags(ctx, map[string][]store.IndexTag{"team/app": {{Repository: "team/app", Tag: "1.0", Digest: "sha256:aaa", Checked: walk}}}, walk); err != nil {
			t.Fatal(err)
		}
		if got := tagList("team/app"); got != "1.0=sha256:aaa/index during=sha256:aaa/index" {
			t.Fatalf("after replace: %s", got)
		}
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "charts/web", Tag: "1.2.0", Digest: "sha256:chart", Checked: base}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutRepositories(ctx, []string{"charts/web", "empty/one"}, base); err != nil {
			t.Fatal(err)
		}
		pull := ev("pull1", "pull", "team/app", "1.0", "sha256:aaa", base)
		if _, err := s.AddEvents(ctx, []store.Event{pull}); err != nil {
			t.Fatal(err)
		}

		// Catalog rows: counts, last push, size of distinct manifests, pulls and kind.
		rows, total, err := s.IndexRepositories(ctx, store.RepositoryQuery{Limit: 10})
		if err != nil || total != 3 || len(rows) != 3 {
			t.Fatalf("repositories = %+v, %d, %v", rows, total, err)
		}
		want := []store.RepositorySummary{
			{Name: "charts/web", Tags: 1, LastPush: base, Size: 7, Kind: "chart"},
			{Name: "empty/one"},
			{Name: "team/app", Tags: 2, LastPush: walk.Add(time.Second), Size: 300, Pulls: 1, Kind: "image"},
		}
		for i := range want {
			g := rows[i]
			if g.Name != want[i].Name || g.Tags != want[i].Tags || !g.LastPush.Equal(want[i].LastPush) || g.Size != want[i].Size || g.Pulls != want[i].Pulls || g.Kind != want[i].Kind {
				t.Errorf("row %d = %+v, want %+v", i, g, want[i])
			}
		}
		names := func(q store.RepositoryQuery) string {
			t.Helper()
			rows, _, err := s.IndexRepositories(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var n []string
			for _, r := range rows {
				n = append(n, r.Name)
			}
			return strings.Join(n, " ")
		}
		for q, want := range map[store.RepositoryQuery]string{
			{Sort: "-name", Limit: 2}:              "team/app empty/one",
			{Sort: "-size", Limit: 10}:             "team/app charts/web empty/one",
			{Sort: "size", Limit: 10}:              "empty/one charts/web team/app",
			{Sort: "-pushed", Limit: 1, Offset: 1}: "charts/web",
			{Query: "APP", Limit: 10}:              "team/app",
			{Query: "%", Limit: 10}:                "",
		} {
			if got := names(q); got != want {
				t.Errorf("%+v: %q, want %q", q, got, want)
			}
		}

		// Global search: by name, by digest (directly and as a platform), by label.
		search := func(q string) string {
			t.Helper()
			hits, err := s.Search(ctx, q, 10)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, h := range hits {
				parts = append(parts, h.Match+":"+h.Repository+":"+h.Tag+h.Label)
			}
			return strings.Join(parts, " ")
		}
		for q, want := range map[string]string{
			"app":       "repository:team/app:",
			"DUR":       "tag:team/app:during",
			"1.2":       "tag:charts/web:1.2.0",
			"sha256:aa": "digest:team/app:1.0 digest:team/app:during",
			"sha256:c2": "digest:team/app:1.0 digest:team/app:during",
			"org.opencontainers.image.source=example.com/app": "label:team/app:1.0org.opencontainers.image.source=https://example.com/App label:team/app:duringorg.opencontainers.image.source=https://example.com/App",
			"label:nothing": "",
			"sha256:zz":     "",
		} {
			if got := search(q); got != want {
				t.Errorf("search %q = %q, want %q", q, got, want)
			}
		}

		// The tag filter by label: on the image itself or on a platform of an index, the value
		// as a case-insensitive part, in one repository only.
		labeled := func(repo, name, value string) string {
			t.Helper()
			tags, err := s.LabeledTags(ctx, repo, name, value)
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(tags, " ")
		}
		if err := s.PutManifests(ctx, "team/app", []store.IndexManifest{{Digest: "sha256:img", Kind: "image", Labels: map[string]string{"tier": "Backend"}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "team/app", Tag: "api", Digest: "sha256:img", Checked: walk}}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ repo, name, value, want string }{
			{"team/app", "org.opencontainers.image.source", "", "1.0 during"},
			{"team/app", "org.opencontainers.image.source", "EXAMPLE.com", "1.0 during"},
			{"team/app", "org.opencontainers.image.source", "other.org", ""},
			{"team/app", "tier", "backend", "api"},
			{"team/app", "tier", "", "api"},
			{"team/app", "tier%", "", ""},
			{"charts/web", "tier", "", ""},
		} {
			if got := labeled(c.repo, c.name, c.value); got != c.want {
				t.Errorf("labeled tags %s %s=%s = %q, want %q", c.repo, c.name, c.value, got, c.want)
			}
		}
		// The manifests seen in a repository: pushed (p1–p3, sha256:bbb deleted since) and read there.
		if got, err := s.RepositoryManifests(ctx, "team/app", 10); err != nil || strings.Join(got, " ") != "sha256:aaa sha256:img sha256:sig" {
			t.Errorf("repository manifests = %v, %v", got, err)
		}
		if got, err := s.RepositoryManifests(ctx, "team/app", 1); err != nil || len(got) != 1 {
			t.Errorf("repository manifests, limit 1 = %v, %v", got, err)
		}
		// What the index knows of where each stood: sha256:aaa tagged (pushed with a tag),
		// sha256:c2 a platform of it and never tagged, sha256:img tagged (api), sha256:bbb
		// forgotten with its delete, sha256:sig neither.
		hist, err := s.ManifestHistory(ctx, "team/app", []string{"sha256:aaa", "sha256:c2", "sha256:img", "sha256:bbb", "sha256:sig"})
		if err != nil {
			t.Fatal(err)
		}
		for d, want := range map[string]store.ManifestHistory{
			"sha256:aaa": {Tagged: true},
			"sha256:c2":  {Parents: []string{"sha256:aaa"}},
			"sha256:img": {Tagged: true},
			"sha256:bbb": {},
			"sha256:sig": {},
		} {
			if got := hist[d]; got.Tagged != want.Tagged || !slices.Equal(got.Parents, want.Parents) {
				t.Errorf("history of %s = %+v, want %+v", d, got, want)
			}
		}
		if hist, err := s.ManifestHistory(ctx, "charts/web", []string{"sha256:img", "sha256:c2"}); err != nil || hist["sha256:img"].Tagged || len(hist["sha256:c2"].Parents) != 1 {
			t.Errorf("history in another repository: tags are per repository, indexes are not: %+v, %v", hist, err)
		}

		// Documents are content-addressed: the first stored stays.
		if err := s.PutDocuments(ctx, map[string][]byte{"manifest/sha256:aaa": []byte("one")}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutDocuments(ctx, map[string][]byte{"manifest/sha256:aaa": []byte("two"), "blob/sha256:b": {0, 1}}); err != nil {
			t.Fatal(err)
		}
		if doc, ok, err := s.Document(ctx, "manifest/sha256:aaa"); err != nil || !ok || string(doc) != "one" {
			t.Fatalf("document = %q, %v, %v", doc, ok, err)
		}
		if _, ok, err := s.Document(ctx, "manifest/sha256:none"); err != nil || ok {
			t.Fatalf("unknown document: %v, %v", ok, err)
		}
		if _, _, ok, err := s.IndexState(ctx, "catalog"); err != nil || ok {
			t.Fatalf("unset state: %v, %v", ok, err)
		}
		if err := s.SetIndexState(ctx, "catalog", "complete"); err != nil {
			t.Fatal(err)
		}
		if v, at, ok, err := s.IndexState(ctx, "catalog"); err != nil || !ok || v != "complete" || time.Since(at) > time.Minute {
			t.Fatalf("state = %q %v %v %v", v, at, ok, err)
		}

		// A complete catalog walk that no longer lists a repository drops it and its tags.
		if err := s.PutRepositories(ctx, []string{"team/app", "charts/web"}, walk); err != nil {
			t.Fatal(err)
		}
		if err := s.DropRepositories(ctx, walk); err != nil {
			t.Fatal(err)
		}
		if got := names(store.RepositoryQuery{Limit: 10}); got != "charts/web team/app" {
			t.Fatalf("after drop: %s", got)
		}
		// A repository delete event empties it.
		if _, err := s.AddEvents(ctx, []store.Event{ev("d2", "delete", "team/app", "", "", walk.Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if got := tagList("team/app"); got != "" {
			t.Fatalf("after repository delete: %s", got)
		}
	})

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

	t.Run("catalog rows follow every write", func(t *testing.T) { summaryContract(t, newDSN(t)) })
}

// TestSQLiteOddPaths: a data directory whose name has '#', '?' or '%' holds its own database
// (the path goes into a URI, where those would cut or change the file name).
func TestSQLiteOddPaths(t *testing.T) {
	ctx := t.Context()
	for _, dir := range []string{"build#2", "what?", "100%"} {
		path := filepath.Join(t.TempDir(), dir, "berth.db")
		s, err := store.Open(ctx, path)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if _, err := s.AddEvents(ctx, []store.Event{ev("a", "push", "r", "t", "sha256:1", base)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: the database is not where it was asked to be: %v", dir, err)
		}
	}
}
