package catalog_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store/storetest"
)

// pushCraftedIndexes pushes one linux/amd64 image by digest and two indexes of it: "dup"
// lists it 3,000 times, "wide" 300 times under distinct platform variants, so no two of its
// entries are the same child. It returns the image's digest.
func pushCraftedIndexes(t *testing.T, host, repo string) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(mutate.MediaType(img, types.OCIManifestSchema1), cf); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	push(t, host, repo+"@"+digest.String(), img)
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	entry := func(variant string) string {
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d,"platform":{"os":"linux","architecture":"amd64"%s}}`,
			types.OCIManifestSchema1, digest, len(raw), variant)
	}
	for tag, entries := range map[string]func(i int) string{
		"dup":  func(int) string { return entry("") },
		"wide": func(i int) string { return entry(fmt.Sprintf(`,"variant":"v%d"`, i)) },
	} {
		n := map[string]int{"dup": 3000, "wide": 300}[tag]
		list := make([]string, n)
		for i := range list {
			list[i] = entries(i)
		}
		index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[%s]}`, types.OCIImageIndex, strings.Join(list, ","))
		if err := remote.Put(ref(t, host, repo+":"+tag), rawManifest{raw: index, mt: types.OCIImageIndex}, remote.WithContext(t.Context())); err != nil {
			t.Fatalf("push index %s: %v", tag, err)
		}
	}
	return digest
}

// TestCraftedIndexes lists tags whose indexes repeat one child thousands of times or list
// more children than any real one: a repeated child is shown and read once, at most 256
// children are shown, and a second listing computes nothing again.
func TestCraftedIndexes(t *testing.T) {
	host := newRegistry(t)
	child := pushCraftedIndexes(t, host, "crafted/app")
	rec := newRecorder()
	svc := newService(t, host, rec, 4)
	mux := http.NewServeMux()
	site.API(mux, site.Services{Catalog: svc}, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	list := func() api.TagPage {
		t.Helper()
		status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/repositories/crafted/app/tags")
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		var page api.TagPage
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		return page
	}

	checkCrafted(t, list(), child)
	if n := rec.count(http.MethodGet, "/manifests/"+child.String()); n > 1 {
		t.Errorf("the repeated child was fetched %d times, want once", n)
	}
	computed := catalog.SummariesComputed(svc)
	if computed != 2 {
		t.Errorf("%d summaries computed for two tags, want 2", computed)
	}
	checkCrafted(t, list(), child)
	if n := catalog.SummariesComputed(svc) - computed; n != 0 {
		t.Errorf("the second listing computed %d summaries again, want none", n)
	}
}

func checkCrafted(t *testing.T, page api.TagPage, child v1.Hash) {
	t.Helper()
	dup := tagNamed(t, page, "dup")
	if len(dup.Platforms) != 1 || dup.Platforms[0].Digest != child.String() || dup.Error != "" {
		t.Errorf("dup: %d platforms, error %q; want the child once, no error", len(dup.Platforms), dup.Error)
	}
	if dup.Size != dup.Platforms[0].Size {
		t.Errorf("dup: size %d, want the child's %d counted once", dup.Size, dup.Platforms[0].Size)
	}
	wide := tagNamed(t, page, "wide")
	if len(wide.Platforms) != 256 || !strings.Contains(wide.Error, "300") {
		t.Errorf("wide: %d platforms, error %q; want 256 and a note that the index lists 300", len(wide.Platforms), wide.Error)
	}
}

// TestCraftedIndexesInTheIndex checks what the metadata index keeps of crafted indexes: the
// repeated child once, at most 256 children of the wide one, and a row for it (its note is
// the content's own, so the row stays right).
func TestCraftedIndexesInTheIndex(t *testing.T) {
	host := newRegistry(t)
	pushCraftedIndexes(t, host, "crafted/app")
	st := openStore(t, storetest.SQLite(t))
	svc := catalog.New(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host}), Index: st})
	if _, err := svc.Tags(t.Context(), "crafted/app", catalog.TagQuery{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]int{"dup": 1, "wide": 256} {
		row, ok := indexedTag(t, st, "crafted/app", tag)
		if !ok || row.Manifest == nil {
			t.Errorf("%s: no manifest row in the index", tag)
			continue
		}
		if n := len(row.Manifest.Platforms); n != want {
			t.Errorf("%s: %d platforms in the index, want %d", tag, n, want)
		}
	}
}
