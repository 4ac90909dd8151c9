package catalog_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// rowCounter is a store that records how many full tag rows each IndexTags call asked for
// (0: all of them).
type rowCounter struct {
	store.Store
	mu    sync.Mutex
	asked []int
}

func (r *rowCounter) IndexTags(ctx context.Context, repository string, tags ...string) ([]store.IndexedTag, error) {
	r.mu.Lock()
	r.asked = append(r.asked, len(tags))
	r.mu.Unlock()
	return r.Store.IndexTags(ctx, repository, tags...)
}

func (r *rowCounter) take() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.asked
	r.asked = nil
	return out
}

// TestSortedPagesReadTheirWindow: once the index describes every tag, a page sorted by
// creation, size or push time is the same window as the whole list sorted, on both
// databases, and reads the full rows of its window alone; a tag the index does not describe
// yet sends the page the long way, with the same answer.
func TestSortedPagesReadTheirWindow(t *testing.T) {
	backends(t, func(t *testing.T, newDSN func(t *testing.T) string) {
		reg := newCountingRegistry(t)
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 12 {
			img, _ := random.Image(int64(100+37*((i*5)%12)), 1)
			// Pairs share a creation time: ties are ordered by name.
			img, _ = mutate.CreatedAt(img, v1.Time{Time: base.Add(time.Duration(i/2) * time.Hour)})
			push(t, reg.host, fmt.Sprintf("sorted/app:t%02d", i), img)
		}
		rows := &rowCounter{Store: openStore(t, newDSN(t))}
		svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host}), Index: rows})
		ctx := context.Background()
		names := func(page catalog.TagQuery) ([]string, int) {
			t.Helper()
			p, err := svc.Tags(ctx, "sorted/app", page)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, tag := range p.Tags {
				out = append(out, tag.Name)
			}
			return out, p.Total
		}
		check := func(t *testing.T, wantWindow bool) {
			for _, sort := range []string{"created", "-created", "size", "-size", "pushed", "-pushed"} {
				all, _ := names(catalog.TagQuery{Sort: sort, All: true})
				rows.take()
				for _, offset := range []int{0, 3, 10} {
					got, total := names(catalog.TagQuery{Sort: sort, Offset: offset, Limit: 4})
					want := all[offset:min(len(all), offset+4)]
					if !slices.Equal(got, want) || total != len(all) {
						t.Errorf("sort=%s offset=%d: %v of %d, want %v of %d", sort, offset, got, total, want, len(all))
					}
					asked := rows.take()
					if wantWindow && (len(asked) != 1 || asked[0] == 0 || asked[0] > 4) {
						t.Errorf("sort=%s offset=%d read rows %v, want only its window", sort, offset, asked)
					}
				}
			}
		}
		names(catalog.TagQuery{All: true}) // describes every tag into the index
		check(t, true)
		// A tag pushed behind Berth's back: not in the index, so pages go the long way (and
		// describe it on the way).
		img, _ := random.Image(5000, 1)
		push(t, reg.host, "sorted/app:t99", img)
		svc.Invalidate("sorted/app", "t99")
		got, total := names(catalog.TagQuery{Sort: "-size", Limit: 1})
		if total != 13 || len(got) != 1 || got[0] != "t99" {
			t.Errorf("largest after an unindexed push: %v of %d", got, total)
		}
		check(t, true)
	})
}

// TestIndexedPageOfANeverSeenRepository: a page sorted by creation asked with Indexed is
// refused at once (NOT_AVAILABLE, no manifest read) while the index lacks more than 100 of the
// repository's tags, and answered from the index once it describes them; a few tags pushed
// since are described on the spot.
func TestIndexedPageOfANeverSeenRepository(t *testing.T) {
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "unseen", Repositories: 1, Tags: 150, Distinct: true}); err != nil {
		t.Fatal(err)
	}
	reg := countingRegistryAt(t, dir)
	idx := openStore(t, storetest.SQLite(t))
	open := func() *catalog.Service {
		return newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host}), Index: idx})
	}
	svc := open()
	const repo = "unseen/r000000"
	q := catalog.TagQuery{Sort: "-created", Limit: 10, Indexed: true}
	if _, err := svc.Tags(t.Context(), repo, q); !httperr.Is(err, api.CodeNotAvailable) || reg.manifests.Load() != 0 {
		t.Fatalf("never seen: %v after %d manifest requests, want NOT_AVAILABLE after none", err, reg.manifests.Load())
	}
	if _, err := svc.Tags(t.Context(), repo, catalog.TagQuery{All: true}); err != nil {
		t.Fatal(err)
	}
	push(t, reg.host, repo+":zz-new", must(random.Image(256, 1)))
	page, err := open().Tags(t.Context(), repo, q) // a replica that lists the tags anew
	if err != nil || len(page.Tags) != 10 || page.Total != 151 {
		t.Fatalf("indexed, one tag pushed since: %d tags of %d, %v", len(page.Tags), page.Total, err)
	}
}

// TestRowsInViewAnswerBesideEveryTag: on a never-seen repository, a page of the rows in view
// asked for while every tag is read answers after its own tags and a fair share of the
// other answer's, not behind all of them; and no tag is read from the registry twice.
func TestRowsInViewAnswerBesideEveryTag(t *testing.T) {
	const tags, view = 400, 50
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "unseen", Repositories: 1, Tags: tags, Distinct: true}); err != nil {
		t.Fatal(err)
	}
	reg := countingRegistryAt(t, dir)
	// A long TTL: a tag the rows in view read is not confirmed again by the other answer
	// however slow the machine (a HEAD would count as a second read).
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host}),
		Index: openStore(t, storetest.SQLite(t)), TagTTL: time.Hour})
	const repo = "unseen/r000000"
	if _, err := svc.TagNames(t.Context(), repo); err != nil { // the page's names, listed first
		t.Fatal(err)
	}
	all := make(chan error, 1)
	go func() {
		page, err := svc.Tags(t.Context(), repo, catalog.TagQuery{All: true})
		if err == nil && len(page.Tags) != tags {
			err = fmt.Errorf("%d tags", len(page.Tags))
		}
		all <- err
	}()
	waitFor(t, 10*time.Second, "every tag's answer reading", func() bool { return reg.manifests.Load() > 0 })
	page, err := svc.Tags(t.Context(), repo, catalog.TagQuery{Offset: tags - view, Limit: view})
	read := reg.manifests.Load()
	if err != nil || len(page.Tags) != view || page.Tags[0].Digest == "" || page.Tags[view-1].Created.IsZero() {
		t.Fatalf("the rows in view: %d tags, %v", len(page.Tags), err)
	}
	select {
	case err := <-all:
		t.Fatalf("every tag was read before the rows in view answered (%v)", err)
	default:
	}
	if read > 4*view { // fair shares: about 2×; the old queue: every tag first (450)
		t.Errorf("the rows in view answered after %d manifest reads, want their own %d and a fair share of the other answer's", read, view)
	}
	if err := <-all; err != nil {
		t.Fatal(err)
	}
	if n := reg.manifests.Load(); n != tags {
		t.Errorf("%d manifest reads for %d tags: some were read twice", n, tags)
	}
}

// TestCallerGoneFailsNoOther: a caller who goes away while the tags it shares with another
// answer are read (one registry read for both) does not hand the other its cancellation.
func TestCallerGoneFailsNoOther(t *testing.T) {
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "unseen", Repositories: 1, Tags: 40, Distinct: true}); err != nil {
		t.Fatal(err)
	}
	base := benchRegistry(t, dir, 20*time.Millisecond) // each registry request takes a while
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: base}), Index: openStore(t, storetest.SQLite(t))})
	const repo = "unseen/r000000"
	if _, err := svc.TagNames(t.Context(), repo); err != nil {
		t.Fatal(err)
	}
	gone, leave := context.WithCancel(t.Context())
	go func() { _, _ = svc.Tags(gone, repo, catalog.TagQuery{All: true}) }()
	time.Sleep(30 * time.Millisecond) // its reads are under way
	go func() { time.Sleep(20 * time.Millisecond); leave() }()
	page, err := svc.Tags(t.Context(), repo, catalog.TagQuery{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range page.Tags {
		if tag.Error != "" || tag.Digest == "" {
			t.Fatalf("tag %s: %q, digest %q; want it described despite the other caller leaving", tag.Name, tag.Error, tag.Digest)
		}
	}
}
