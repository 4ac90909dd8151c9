package replication

import (
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registrytest"
)

// labelledImage is a random image whose config carries labels.
func labelledImage(t testing.TB, labels map[string]string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.Config.Labels = labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestLabelFilterCopiesLabelledImages runs a rule taking the payments team's images: the
// labelled image with its signature and the index one of whose platforms is labelled arrive,
// the other team's image does not.
func TestLabelFilterCopiesLabelledImages(t *testing.T) {
	h := newHarness(t)
	second := registrytest.Distribution3(t)
	if err := h.s.AddEndpoint(h.ctx, api.RegistryEndpoint{Name: "second", URL: second.URL}); err != nil {
		t.Fatal(err)
	}
	pay := map[string]string{"com.example.team": "payments"}
	img := labelledImage(t, pay)
	if err := remote.Write(parse(t, h.main, "shop/pay:1"), img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	sigTag := "sha256-" + d.Hex + ".sig"
	pushImage(t, h.main, "shop/pay:"+sigTag)
	if err := remote.Write(parse(t, h.main, "shop/search:1"), labelledImage(t, map[string]string{"com.example.team": "search"})); err != nil {
		t.Fatal(err)
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: labelledImage(t, nil), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: labelledImage(t, pay), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	), types.OCIImageIndex)
	if err := remote.WriteIndex(parse(t, h.main, "shop/multi:1"), idx); err != nil {
		t.Fatal(err)
	}
	rule := h.rule(t, api.ReplicationRule{Name: "payments", Source: api.MainRegistry, Destination: "second",
		Repositories: "shop/*", Labels: "com.example.team=payments", Trigger: api.TriggerManual})
	run := h.run(t, rule.Name, false)
	if run.State != api.RunSucceeded || run.Copied != 3 {
		t.Fatalf("run: %+v", run)
	}
	if got := tagsOf(t, second.URL, "shop/pay"); !slices.Equal(got, []string{"1", sigTag}) {
		t.Errorf("shop/pay at the destination: %v", got)
	}
	if got := tagsOf(t, second.URL, "shop/multi"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("shop/multi at the destination: %v", got)
	}
	if got := tagsOf(t, second.URL, "shop/search"); len(got) != 0 {
		t.Errorf("shop/search copied: %v", got)
	}
}

// TestSharedBlobsMovedOnce replicates three repositories whose images share a layer, at
// once: one copy uploads the layer, the others wait for it and mount it from there at the
// destination instead of uploading it again, and every image arrives whole.
func TestSharedBlobsMovedOnce(t *testing.T) {
	h := newHarness(t)
	var count uploadCounter
	dst := registrytest.Wrapped(t, count.wrap)
	if err := h.s.AddEndpoint(h.ctx, api.RegistryEndpoint{Name: "dst", URL: dst.URL}); err != nil {
		t.Fatal(err)
	}
	shared, err := random.Layer(256<<10, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"base/a", "base/b", "base/c"} {
		img, err := mutate.AppendLayers(labelledImage(t, nil), shared)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(parse(t, h.main, repo+":1"), img); err != nil {
			t.Fatal(err)
		}
	}
	rule := h.rule(t, api.ReplicationRule{Name: "bases", Source: api.MainRegistry, Destination: "dst", Repositories: "base/*", Trigger: api.TriggerManual})
	if run := h.run(t, rule.Name, false); run.State != api.RunSucceeded || run.Copied != 3 {
		t.Fatalf("run: %+v", run)
	}
	size, _ := shared.Size()
	if n := count.n.Load(); n >= 2*size {
		t.Errorf("the destination received %d bytes of uploads: the %d-byte shared layer went twice", n, size)
	}
	for _, repo := range []string{"base/a", "base/b", "base/c"} {
		if _, err := remote.Image(parse(t, dst.URL, repo+":1")); err != nil {
			t.Errorf("%s: %v", repo, err)
		}
		if got, want := digestOf(t, dst.URL, repo+":1"), digestOf(t, h.main, repo+":1"); got != want {
			t.Errorf("%s at the destination is %s, want %s", repo, got, want)
		}
	}
}
