package catalog

import (
	"fmt"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
)

// TestUsageMemo answers only for the same caller, repository and tag → digest mapping (the
// order of the tags included), and stays bounded.
func TestUsageMemo(t *testing.T) {
	a := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", 1)}
	b := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", 2)}
	var m usageMemo
	m.put("alice\x00r", mappingSum([]v1.Hash{a, b}), api.Usage{Stored: 7})
	if u, ok := m.get("alice\x00r", mappingSum([]v1.Hash{a, b})); !ok || u.Stored != 7 {
		t.Errorf("same mapping: %+v, %v", u, ok)
	}
	for key, mapping := range map[string][]v1.Hash{
		"alice\x00r": {b, a}, "alice\x00q": {a, b}, "bob\x00r": {a, b},
	} {
		if _, ok := m.get(key, mappingSum(mapping)); ok {
			t.Errorf("%q with %v answered from the memo", key, mapping)
		}
	}
	for i := range maxUsageMemo + 1 {
		m.put(fmt.Sprint(i), mappingSum(nil), api.Usage{})
	}
	if len(m.m) > maxUsageMemo {
		t.Errorf("%d entries, bound %d", len(m.m), maxUsageMemo)
	}
}

// TestStorageWalkHoldsBackForFrontAnswers: a storage walk waits while a page or a tag answer
// is being built, and for a moment after a tag answer about its repository, until its
// deadline; never for storage answers (its own included), nor after another repository's.
func TestStorageWalkHoldsBackForFrontAnswers(t *testing.T) {
	_, r := newRevalidator(Revalidation{}, 8)
	ctx := t.Context()
	waits := func(repository string, deadline time.Duration) bool {
		start := time.Now()
		r.behindAnswers(ctx, repository, start.Add(deadline))
		return time.Since(start) >= deadline
	}
	own := r.answering("team/app", false) // the storage answer itself
	if waits("team/app", time.Minute) {
		t.Fatal("a storage walk waited for storage answers")
	}
	own()
	if waits("team/app", time.Minute) {
		t.Fatal("a storage walk waited after the previous storage answer")
	}
	page := r.answering("team/app", true)
	if !waits("other/app", 50*time.Millisecond) {
		t.Fatal("a storage walk went on while a tag answer was being built")
	}
	page()
	if !waits("team/app", 50*time.Millisecond) {
		t.Fatal("a storage walk went on right after a tag answer about its repository")
	}
	if waits("other/app", time.Minute) {
		t.Fatal("a storage walk waited after another repository's tag answer")
	}
	if r.pages.Load() != 0 || r.front.Load() != 0 {
		t.Fatalf("answers left marked: %d, %d in front", r.pages.Load(), r.front.Load())
	}
}
