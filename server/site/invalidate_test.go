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
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registrytest"
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
	h := newSite(t, cfg, base, hook)
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
	deadline := time.Now().Add(10 * time.Second)
	for latest() != first && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	second := push()
	// The default tag TTL is 10 s; the notification must make the change visible well before.
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if latest() == second {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after re-pushing, the API still shows %s, not %s", latest(), second)
}
