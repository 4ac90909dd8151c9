package catalog

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestOrderMemo: a large repository's tag order is read once for answers within
// orderMemoAge; a confirmation updates its check time (in a copy: earlier readers keep
// theirs); a moved, new or forgotten tag, or a manifest described, has it read again; a
// small repository is read each time; and the memo stays bounded.
func TestOrderMemo(t *testing.T) {
	ctx := t.Context()
	st := memoStore(t)
	at := time.Now().UTC().Truncate(time.Second)
	put := func(repository string, n int, digest string) {
		t.Helper()
		var tags []store.IndexTag
		for i := range n {
			tags = append(tags, store.IndexTag{Repository: repository, Tag: fmt.Sprintf("v%d", i), Digest: digest, Checked: at, Pushed: at})
		}
		if err := st.PutTags(ctx, tags); err != nil {
			t.Fatal(err)
		}
	}
	put("big/app", orderMemoMin, "sha256:a")
	put("small/app", 3, "sha256:a")
	s := &Service{idx: st}
	read := func(repository string) []store.TagOrder {
		t.Helper()
		order, byName, err := s.tagOrder(ctx, repository, orderMemoMin)
		if err != nil || len(byName) != len(order) {
			t.Fatalf("tag order of %s: %d rows, %d by name, %v", repository, len(order), len(byName), err)
		}
		return order
	}
	first := read("big/app")
	// Written behind the memo's back (another replica): not seen within orderMemoAge.
	put("big/app", orderMemoMin+1, "sha256:a")
	if got := read("big/app"); len(got) != orderMemoMin {
		t.Fatalf("within orderMemoAge: %d rows, want the memo's %d", len(got), orderMemoMin)
	}
	put("small/app", 4, "sha256:a")
	if got := read("small/app"); len(got) != 4 {
		t.Fatalf("a small repository: %d rows, want 4 (read each time)", len(got))
	}

	// A confirmation: the same digest, a later check.
	later := at.Add(time.Minute)
	s.orders.written([]store.IndexTag{{Repository: "big/app", Tag: "v0", Digest: "sha256:a", Checked: later}})
	got := read("big/app")
	if i := indexOf(got, "v0"); len(got) != orderMemoMin || !got[i].Checked.Equal(later) {
		t.Fatalf("after a confirmation: %d rows, v0 checked %v; want %d, %v", len(got), got[i].Checked, orderMemoMin, later)
	}
	if i := indexOf(first, "v0"); !first[i].Checked.Equal(at) {
		t.Fatalf("a reader's rows changed under it: v0 checked %v", first[i].Checked)
	}

	// A moved tag: read again (now with the row written behind its back too).
	for _, change := range []func(){
		func() {
			s.orders.written([]store.IndexTag{{Repository: "big/app", Tag: "v1", Digest: "sha256:b", Checked: later}})
		},
		func() {
			s.orders.written([]store.IndexTag{{Repository: "big/app", Tag: "new", Digest: "sha256:a", Checked: later}})
		},
		func() { s.orders.forget("big/app") }, // as invalidate does
	} {
		read("big/app") // in the memo again
		put("big/app", len(read("big/app"))+1, "sha256:a")
		change()
		if got, want := len(read("big/app")), len(first)+1; got < want {
			t.Fatalf("after a change: %d rows, want the store's (at least %d)", got, want)
		}
		first = read("big/app")
	}

	// Bounded: a burst of large repositories starts it again.
	for i := range orderMemoRows/orderMemoMin + 1 {
		s.orders.mu.Lock()
		if s.orders.rows+orderMemoMin > orderMemoRows && i == 0 {
			t.Fatal("full before the burst")
		}
		s.orders.mu.Unlock()
		put(fmt.Sprintf("burst/%d", i), orderMemoMin, "sha256:a")
		read(fmt.Sprintf("burst/%d", i))
	}
	if s.orders.rows > orderMemoRows {
		t.Fatalf("%d rows kept, bound %d", s.orders.rows, orderMemoRows)
	}
}

func indexOf(order []store.TagOrder, tag string) int {
	for i, o := range order {
		if o.Tag == tag {
			return i
		}
	}
	return -1
}

// TestOrderMemoMark: past orderMemoAge, a large repository's order is still served from the
// memo while the index's mark is unchanged (a confirmation elsewhere leaves it; the rows a
// revalidation run reads bring its check times in), and read again once another replica's
// write changed the mark, or, for a repository without a mark, at once.
func TestOrderMemoMark(t *testing.T) {
	ctx := t.Context()
	st := memoStore(t)
	at := time.Now().UTC().Truncate(time.Second)
	var tags []store.IndexTag
	for i := range orderMemoMin {
		tags = append(tags, store.IndexTag{Repository: "big/app", Tag: fmt.Sprintf("v%d", i), Digest: "sha256:a", Checked: at, Pushed: at})
	}
	if err := st.PutRepositories(ctx, []string{"big/app"}, at); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTags(ctx, tags); err != nil {
		t.Fatal(err)
	}
	s := &Service{idx: st}
	read := func() []store.TagOrder {
		t.Helper()
		order, _, err := s.tagOrder(ctx, "big/app", orderMemoMin)
		if err != nil {
			t.Fatal(err)
		}
		return order
	}
	ageBy := func(d time.Duration) {
		s.orders.mu.Lock()
		s.orders.m["big/app"].at = time.Now().Add(-d)
		s.orders.mu.Unlock()
	}
	age := func() { ageBy(orderMemoAge + time.Second) } // past orderMemoAge: the mark decides
	read()
	age()
	later := at.Add(time.Minute)
	if err := st.ConfirmTags(ctx, []store.IndexTag{{Repository: "big/app", Tag: "v0", Digest: "sha256:a", Checked: later}}); err != nil {
		t.Fatal(err)
	}
	if got := read(); !got[indexOf(got, "v0")].Checked.Equal(at) {
		t.Fatal("the order was read again with the mark unchanged")
	}
	// Past orderMemoMaxAge, read again whatever the mark says (a write that set none).
	ageBy(orderMemoMaxAge + time.Second)
	if got := read(); !got[indexOf(got, "v0")].Checked.Equal(later) {
		t.Fatal("an entry past orderMemoMaxAge was used")
	}
	if err := st.ConfirmTags(ctx, []store.IndexTag{{Repository: "big/app", Tag: "v0", Digest: "sha256:a", Checked: later.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	age()
	rows, err := st.IndexTagOrder(ctx, "big/app")
	if err != nil {
		t.Fatal(err)
	}
	s.orders.refresh("big/app", rows) // as a revalidation run does after its read
	if got := read(); !got[indexOf(got, "v0")].Checked.Equal(later.Add(time.Minute)) {
		t.Fatalf("a revalidation's rows did not bring v0's check time: %v", got[indexOf(got, "v0")].Checked)
	}
	// Another replica adds a tag: the mark changes.
	if err := st.PutTags(ctx, []store.IndexTag{{Repository: "big/app", Tag: "new", Digest: "sha256:a", Checked: later, Pushed: later}}); err != nil {
		t.Fatal(err)
	}
	if got := read(); len(got) != orderMemoMin+1 {
		t.Fatalf("after another replica's write: %d rows, want %d", len(got), orderMemoMin+1)
	}
	// Another replica describes the manifest: the mark changes again.
	if err := st.PutManifests(ctx, "big/app", []store.IndexManifest{{Digest: "sha256:a", Kind: "image", Size: 7}}); err != nil {
		t.Fatal(err)
	}
	age()
	if got := read(); !got[0].Described || got[0].Size != 7 {
		t.Fatalf("after a manifest was described: %+v", got[0])
	}
	// A read that began before this process dropped the entry is not kept.
	s.orders.forget("big/app")
	before := s.orders.dropped["big/app"].Add(-time.Millisecond) // the read's start, before the drop
	s.orders.put("big/app", &orderEntry{order: make([]store.TagOrder, orderMemoMin), at: before})
	if _, kept := s.orders.m["big/app"]; kept {
		t.Fatal("an order read before the drop was kept")
	}
	// A repository the catalog does not list has no mark: read again once aged.
	for i := range tags {
		tags[i].Repository = "unlisted/app"
	}
	if err := st.PutTags(ctx, tags); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.tagOrder(ctx, "unlisted/app", orderMemoMin); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTags(ctx, []store.IndexTag{{Repository: "unlisted/app", Tag: "new", Digest: "sha256:a", Checked: later, Pushed: later}}); err != nil {
		t.Fatal(err)
	}
	s.orders.mu.Lock()
	s.orders.m["unlisted/app"].at = time.Now().Add(-time.Hour)
	s.orders.mu.Unlock()
	if got, _, _ := s.tagOrder(ctx, "unlisted/app", orderMemoMin); len(got) != orderMemoMin+1 {
		t.Fatalf("a repository without a mark: %d rows, want %d", len(got), orderMemoMin+1)
	}
}

// memoStore opens a SQLite index for the memo's tests.
func memoStore(t *testing.T) store.Store {
	st, err := store.Open(t.Context(), storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
