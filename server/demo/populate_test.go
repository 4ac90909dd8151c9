package demo_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
)

func TestPopulateWritesWhatARegistryServes(t *testing.T) {
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "load", Repositories: 3, Tags: 4, Distinct: true}); err != nil {
		t.Fatal(err)
	}
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	r, _ := name.NewRegistry(host, name.Insecure)
	repos, err := remote.Catalog(context.Background(), r)
	if err != nil || strings.Join(repos, ",") != "load/r000000,load/r000001,load/r000002" {
		t.Fatalf("catalog %v, %v", repos, err)
	}
	repo, _ := name.NewRepository(host+"/load/r000001", name.Insecure)
	tags, err := remote.List(repo)
	if err != nil || len(tags) != 4 {
		t.Fatalf("tags %v, %v", tags, err)
	}
	seen := map[string]bool{}
	for _, tag := range tags {
		img, err := remote.Image(repo.Tag(tag))
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		d, _ := img.Digest()
		seen[d.String()] = true
		cf, err := img.ConfigFile()
		if err != nil || cf.Created.IsZero() {
			t.Fatalf("%s config: %+v, %v", tag, cf, err)
		}
		layers, _ := img.Layers()
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil { // verifies the layer's digest
			t.Fatalf("%s layer: %v", tag, err)
		}
		rc.Close()
	}
	if len(seen) != 4 {
		t.Errorf("Distinct tags share digests: %d distinct of 4", len(seen))
	}
}
