package catalog_test

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestUsageCountsSharedBlobsOnceAndWhatADeleteFrees uses the demo's library/alpine: 3.21 and
// latest are one index, 3.19 and 3.20 single images built on other bases.
func TestUsageCountsSharedBlobsOnceAndWhatADeleteFrees(t *testing.T) {
	host := seededRegistry(t)
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host})})
	ctx := t.Context()
	tags, err := svc.Tags(ctx, "library/alpine", catalog.TagQuery{Offset: 0, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{}
	for _, tg := range tags.Tags {
		digests[tg.Name] = tg.Digest
	}

	u, err := svc.Usage(ctx, "library/alpine", "")
	if err != nil {
		t.Fatal(err)
	}
	if u.Tags != 4 || u.Stored <= 0 || u.Stored >= u.Listed {
		t.Fatalf("usage %+v: want stored > 0 and below the per-tag sum (3.21 and latest share everything)", u)
	}

	// Deleting the index behind 3.21 and latest frees everything only it reaches.
	idx, err := svc.Usage(ctx, "library/alpine", digests["latest"])
	if err != nil {
		t.Fatal(err)
	}
	m, err := svc.Manifest(ctx, "library/alpine", "latest")
	if err != nil {
		t.Fatal(err)
	}
	if idx.Frees < m.Size || idx.Frees > u.Stored {
		t.Errorf("deleting the index frees %d; want at least its %d bytes of images and at most the %d stored", idx.Frees, m.Size, u.Stored)
	}

	// A manifest whose every blob another tag also reaches would free only itself: check the
	// bound holds for 3.19 (frees at most what it reaches, and something: its own manifest).
	old, err := svc.Usage(ctx, "library/alpine", digests["3.19"])
	if err != nil {
		t.Fatal(err)
	}
	if old.Frees <= 0 || old.Frees > u.Stored {
		t.Errorf("deleting 3.19 frees %d of %d stored", old.Frees, u.Stored)
	}
	if _, err := svc.Usage(ctx, "library/alpine", "sha256:nothex"); status(err) != 400 {
		t.Errorf("bad digest: %v, want 400", err)
	}
}

// TestUsageExact pushes two images sharing a layer and checks the figures to the byte.
func TestUsageExact(t *testing.T) {
	host := newRegistry(t)
	shared, _ := random.Layer(40_000, types.OCILayer)
	onlyA, _ := random.Layer(30_000, types.OCILayer)
	onlyB, _ := random.Layer(20_000, types.OCILayer)
	build := func(ls ...v1.Layer) v1.Image {
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), ls...)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	a, b := build(shared, onlyA), build(shared, onlyB)
	for tag, img := range map[string]v1.Image{"a": a, "b": b} {
		if err := remote.Write(ref(t, host, "usage/app:"+tag), img); err != nil {
			t.Fatal(err)
		}
	}
	size := func(img v1.Image) (manifest, config int64) {
		raw, _ := img.RawManifest()
		cfg, _ := img.RawConfigFile()
		return int64(len(raw)), int64(len(cfg))
	}
	layer := func(l v1.Layer) int64 { n, _ := l.Size(); return n }
	ma, ca := size(a)
	mb, cb := size(b)

	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host})})
	da, _ := a.Digest()
	u, err := svc.Usage(t.Context(), "usage/app", da.String())
	if err != nil {
		t.Fatal(err)
	}
	wantStored := ma + ca + mb + cb + layer(shared) + layer(onlyA) + layer(onlyB)
	wantListed := wantStored + layer(shared)
	wantFrees := ma + ca + layer(onlyA)
	if u.Stored != wantStored || u.Listed != wantListed || u.Frees != wantFrees {
		t.Fatalf("usage = stored %d listed %d frees %d; want %d, %d, %d", u.Stored, u.Listed, u.Frees, wantStored, wantListed, wantFrees)
	}
}
