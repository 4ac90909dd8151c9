package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestChangesWakeWaits: a wait with a tag page's token answers when the repository changes
// (a notification's Invalidate), at once for a token already behind, and unchanged after its
// time for a token of another replica; a wait holds nothing of another repository.
func TestChangesWakeWaits(t *testing.T) {
	reg := newCountingRegistry(t)
	push(t, reg.host, "wait/app:v1", must(random.Image(128, 1)))
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host})})
	ctx := context.Background()
	page, err := svc.Tags(ctx, "wait/app", catalog.TagQuery{All: true})
	if err != nil || page.Changes == "" {
		t.Fatalf("tag page without a changes token: %+v, %v", page, err)
	}
	woke := make(chan string, 1)
	go func() {
		c, err := svc.Changes(ctx, "wait/app", page.Changes, time.Minute)
		if err != nil || !c.Changed {
			t.Errorf("wait: %+v, %v", c, err)
		}
		woke <- c.Changes
	}()
	time.Sleep(50 * time.Millisecond) // let the wait start; a change before it is told at once anyway
	svc.Invalidate("other/repo", "x")
	select {
	case <-woke:
		t.Fatal("another repository's change woke the wait")
	case <-time.After(100 * time.Millisecond):
	}
	svc.Invalidate("wait/app", "v2")
	next := <-woke
	if next == page.Changes {
		t.Fatalf("the token did not move: %s", next)
	}
	if c, err := svc.Changes(ctx, "wait/app", page.Changes, time.Minute); err != nil || !c.Changed || c.Changes != next {
		t.Errorf("a token behind: %+v, %v; want changed at once, token %s", c, err, next)
	}
	if c, err := svc.Changes(ctx, "wait/app", "another-replica.7", 50*time.Millisecond); err != nil || c.Changed {
		t.Errorf("another replica's token: %+v, %v; want unchanged after the wait", c, err)
	}
	if _, err := svc.Changes(ctx, "../etc", page.Changes, time.Millisecond); err == nil {
		t.Error("a crafted repository name was waited on")
	}
	// A shutdown answers the waits held and every later one at once, unchanged.
	held := make(chan bool, 1)
	go func() {
		c, _ := svc.Changes(ctx, "wait/app", next, time.Hour)
		held <- c.Changed
	}()
	time.Sleep(50 * time.Millisecond)
	svc.StopWaits()
	if changed := <-held; changed {
		t.Error("a wait ended by the shutdown said changed")
	}
	if c, err := svc.Changes(ctx, "wait/app", next, time.Hour); err != nil || c.Changed {
		t.Errorf("a wait after the shutdown: %+v, %v", c, err)
	}
}
