package catalog_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestIdenticalRequestsShareOneFetch sends many identical requests at once to a cold service
// and checks the registry is asked for the manifest and config only once.
func TestIdenticalRequestsShareOneFetch(t *testing.T) {
	base := registrytest.Open(t)
	img, _ := random.Image(1024, 1)
	ref, _ := name.ParseReference(strings.TrimPrefix(base, "http://")+"/flight/app:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	rec.delay = 20 * time.Millisecond // keep the first fetch in flight while the others arrive
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: base, Transport: rec, Concurrency: 32})})
	digest, _ := img.Digest()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := svc.Manifest(context.Background(), "flight/app", digest.String()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := rec.count(http.MethodGet, "/manifests/"+digest.String()); n != 1 {
		t.Errorf("%d GETs of the manifest for 20 identical requests, want 1", n)
	}
	cfg, _ := img.ConfigName()
	if n := rec.count(http.MethodGet, "/blobs/"+cfg.String()); n != 1 {
		t.Errorf("%d GETs of the config for 20 identical requests, want 1", n)
	}
}
