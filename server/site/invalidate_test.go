package site_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// TestPushEventRefreshesTagAtOnce checks that a registry notification invalidates the cached
// tag → digest answer, so a re-pushed tag shows its new digest without waiting for the TTL.
func TestPushEventRefreshesTagAtOnce(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hook, err := events.NewWebhook(events.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer hook.Close()

	berthSrv := httptest.NewUnstartedServer(nil)
	base := registrytest.Open(t, embedded.WithNotifications("berth", "http://"+berthSrv.Listener.Addr().String()+"/events", nil, 2*time.Second, 100*time.Millisecond))
	cfg := config.Default()
	cfg.WebDir = t.TempDir()
	cfg.EventsPath = "/events"
	// A tag TTL far longer than the test: only the notification can show the re-pushed tag.
	h := newSite(t, cfg, base, hook, func(s *site.Services) {
		s.Catalog = newCatalog(catalog.Options{Registry: s.Registry, TagTTL: time.Hour})
	})
	berthSrv.Config.Handler = h
	berthSrv.Start()
	defer berthSrv.Close()

	push := func() string {
		img, _ := random.Image(128, 1)
		ref, _ := name.ParseReference(strings.TrimPrefix(base, "http://")+"/app/web:latest", name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}
	latest := func() string {
		resp, err := http.Get(berthSrv.URL + "/api/v1/repositories/app/web/tags")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page api.TagPage
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Tags) != 1 {
			t.Fatalf("tags: %+v, %v", page, err)
		}
		return page.Tags[0].Digest
	}

	first := push()
	deadline := time.Now().Add(time.Minute)
	for latest() != first {
		if time.Now().After(deadline) {
			t.Fatalf("after pushing, the API still shows %s, not %s", latest(), first)
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := push()
	// A minute for the notification on a loaded machine, well within the hour's TTL.
	deadline = time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if latest() == second {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after re-pushing, the API still shows %s, not %s", latest(), second)
}
