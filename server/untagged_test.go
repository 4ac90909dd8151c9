package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

// untaggedFixture pushes into repo at host: an image tagged v1 then replaced by another (the
// first becomes untagged), a multi-platform index with a buildx attestation, a signature of
// the current v1 and an SBOM of the replaced image, both untagged referrers. It returns the
// replaced image's digest and the SBOM's.
func untaggedFixture(t *testing.T, host, repo string) (old, sbom string) {
	t.Helper()
	ref := func(s string) name.Reference {
		if s == "" {
			s = ":latest"
		}
		r, err := name.ParseReference(host+"/"+repo+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	image := func() v1.Image {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		return mutate.MediaType(img, types.OCIManifestSchema1)
	}
	digestOf := func(img interface{ Digest() (v1.Hash, error) }) v1.Hash {
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first, second := image(), image()
	for _, img := range []v1.Image{first, second} {
		if err := remote.Write(ref(":v1"), img); err != nil {
			t.Fatal(err)
		}
	}
	statement := static.NewLayer([]byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`), "application/vnd.in-toto+json")
	att, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), statement)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: image(), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: image(), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}},
	)
	if err := remote.WriteIndex(ref(":multi"), idx); err != nil {
		t.Fatal(err)
	}
	referrer := func(subject v1.Image, artifactType string) string {
		layer := static.NewLayer([]byte(`{"of":"`+digestOf(subject).String()+`"}`), types.MediaType(artifactType))
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.ConfigMediaType(img, types.MediaType(artifactType))
		m, err := subject.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		size, _ := subject.Size()
		img = mutate.Subject(img, v1.Descriptor{MediaType: m.MediaType, Digest: digestOf(subject), Size: size}).(v1.Image)
		// By a plain PUT: go-containerregistry would also tag an OCI referrers fallback index
		// (sha256-<subject>) here, which this test does not want.
		repository := ref("").Context()
		cfg, err := img.RawConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []v1.Layer{layer, static.NewLayer(cfg, types.MediaType(artifactType))} {
			if err := remote.WriteLayer(repository, l); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := img.RawManifest()
		if err != nil {
			t.Fatal(err)
		}
		d := digestOf(img)
		req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/"+d.String(), bytes.NewReader(raw))
		req.Header.Set("Content-Type", string(types.OCIManifestSchema1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("put referrer: %s", resp.Status)
		}
		return d.String()
	}
	referrer(second, "application/vnd.dev.cosign.artifact.sig.v1+json")
	sbom = referrer(first, "application/spdx+json")
	return digestOf(first).String(), sbom
}

func untaggedDigests(t *testing.T, base, repo string) ([]string, api.UntaggedPage) {
	t.Helper()
	var page api.UntaggedPage
	if status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+repo+"/untagged", nil, &page); status != http.StatusOK {
		t.Fatalf("untagged: status %d", status)
	}
	var out []string
	for _, m := range page.Manifests {
		out = append(out, m.Digest)
	}
	slices.Sort(out)
	return out, page
}

// TestUntaggedEmbedded lists untagged manifests from the embedded registry's storage: the
// replaced image only, not an index's children nor referrers of present manifests; deleting
// it through the jobs API takes it off the list, and its SBOM, now about nothing, appears.
func TestUntaggedEmbedded(t *testing.T) {
	base := startBerth(t, func(c *config.Config) { c.NoDemo = true })
	host := strings.TrimPrefix(base, "http://")
	const repo = "team/untagged"
	old, sbom := untaggedFixture(t, host, repo)

	got, page := untaggedDigests(t, base, repo)
	if page.Source != api.UntaggedComplete || !slices.Equal(got, []string{old}) {
		t.Fatalf("untagged = %v from %q, want [%s] complete", got, page.Source, old)
	}
	if m := page.Manifests[0]; m.Kind != "image" || m.Size == 0 || m.MediaType != string(types.OCIManifestSchema1) {
		t.Errorf("details = %+v", m)
	}

	var started api.JobStarted
	if status, _ := call(t, http.MethodPost, base+"/api/v1/jobs", api.JobRequest{Kind: api.JobDelete, Repository: repo, References: []string{old}}, &started); status != http.StatusAccepted {
		t.Fatalf("delete: status %d", status)
	}
	if last, _ := follow(t, base+"/api/v1/jobs/"+started.ID+"/events", func(api.JobEvent) {}); last.State != api.JobSucceeded {
		t.Fatalf("delete job: %+v", last)
	}
	if got, _ := untaggedDigests(t, base, repo); !slices.Equal(got, []string{sbom}) {
		t.Fatalf("after the delete: %v, want only the orphaned SBOM %s", got, sbom)
	}

	// Names are validated before anything is read.
	var e struct{ Error api.Error }
	if status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/Bad..Name/untagged", nil, &e); status != http.StatusBadRequest || e.Error.Code == "" {
		t.Errorf("bad name: %d %+v", status, e)
	}
}

// TestUntaggedExternal lists untagged manifests of a registry Berth cannot enumerate (a
// separate distribution): from the digests Berth saw, confirmed to exist, and says so.
func TestUntaggedExternal(t *testing.T) {
	reg := registrytest.Open(t)
	base := startBerth(t, func(c *config.Config) { c.Registry = reg })
	host := strings.TrimPrefix(reg, "http://")
	const repo = "team/external"

	r, _ := name.ParseReference(host+"/"+repo+":v1", name.Insecure)
	first, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, first); err != nil {
		t.Fatal(err)
	}
	// Berth sees the first image by reading the tag; nothing notifies it of pushes here.
	var tags api.TagPage
	if status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+repo+"/tags?limit=all", nil, &tags); status != http.StatusOK || len(tags.Tags) != 1 {
		t.Fatalf("tags: %d %+v", status, tags)
	}
	second, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, second); err != nil {
		t.Fatal(err)
	}
	d, _ := first.Digest()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, page := untaggedDigests(t, base, repo)
		if page.Source != api.UntaggedSeen {
			t.Fatalf("source %q, want %q", page.Source, api.UntaggedSeen)
		}
		if slices.Equal(got, []string{d.String()}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("untagged = %v, want [%s]", got, d)
		}
		time.Sleep(100 * time.Millisecond) // the index write of the read above lands after its answer
	}
}

// TestUntaggedSeenChecks covers the "as seen by Berth" listing against a registry Berth
// cannot enumerate and that does not notify it:
//   - an image once tagged here that an index lists — an index pushed here by digest only,
//     which Berth saw in another repository — is not listed: the index is still there;
//   - a manifest deleted at the registry behind Berth's back leaves the list at once.
func TestUntaggedSeenChecks(t *testing.T) {
	reg := registrytest.Open(t)
	base := startBerth(t, func(c *config.Config) { c.Registry = reg })
	host := strings.TrimPrefix(reg, "http://")
	const repo, other = "team/seen", "team/other"
	ref := func(repo, s string) name.Reference {
		r, err := name.ParseReference(host+"/"+repo+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	img := func() v1.Image {
		i, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	digest := func(i interface{ Digest() (v1.Hash, error) }) string {
		d, err := i.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	child, loose := img(), img()
	for tag, i := range map[string]v1.Image{":solo": child, ":loose": loose} {
		if err := remote.Write(ref(repo, tag), i); err != nil {
			t.Fatal(err)
		}
	}
	index := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: child, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: img(), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	if err := remote.WriteIndex(ref(other, ":multi"), index); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref(repo, "@"+digest(index)), index); err != nil {
		t.Fatal(err)
	}
	// Berth sees the index in the other repository and both tags here by reading them.
	for _, r := range []string{other, repo} {
		var tags api.TagPage
		if status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+r+"/tags?limit=all", nil, &tags); status != http.StatusOK {
			t.Fatalf("tags of %s: %d", r, status)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for { // the index writes of those reads land after their answers
		var found api.SearchPage
		call(t, http.MethodGet, base+"/api/v1/search?q="+digest(child), nil, &found)
		if len(found.Results) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index in the other repository was never recorded")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Both tags move on: the child and the loose image are untagged now.
	for _, tag := range []string{":solo", ":loose"} {
		if err := remote.Write(ref(repo, tag), img()); err != nil {
			t.Fatal(err)
		}
	}
	for {
		got, page := untaggedDigests(t, base, repo)
		if slices.Contains(got, digest(loose)) {
			if slices.Contains(got, digest(child)) {
				t.Fatalf("untagged = %v: lists %s, a platform of index %s still in the repository", got, digest(child), digest(index))
			}
			if slices.Contains(got, digest(index)) {
				t.Fatalf("untagged = %v: the index was never seen here", got)
			}
			if page.Source != api.UntaggedSeen {
				t.Fatalf("source %q", page.Source)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("untagged = %v, want %s among them", got, digest(loose))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Deleted at the registry, bypassing Berth: no notification, yet gone from the list.
	if err := remote.Delete(ref(repo, "@"+digest(loose))); err != nil {
		t.Fatal(err)
	}
	if got, _ := untaggedDigests(t, base, repo); slices.Contains(got, digest(loose)) {
		t.Fatalf("untagged = %v: still lists %s, deleted at the registry", got, digest(loose))
	}
}

// TestUntaggedMissingChildAndTagCap: a tagged index one of whose platforms the registry no
// longer has still gets an answer (the other platform is not offered as garbage); a
// repository with more tags than one listing resolves gets TOO_LARGE with a message saying so.
func TestUntaggedMissingChildAndTagCap(t *testing.T) {
	base := startBerth(t, func(c *config.Config) { c.NoDemo = true })
	host := strings.TrimPrefix(base, "http://")
	const repo = "team/partial"
	ref := func(s string) name.Reference {
		r, err := name.ParseReference(host+"/"+repo+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	kept, dropped := must(random.Image(256, 1)), must(random.Image(256, 1))
	index := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: kept, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: dropped, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	if err := remote.WriteIndex(ref(":multi"), index); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref("@" + must(dropped.Digest()).String())); err != nil {
		t.Fatal(err)
	}
	got, page := untaggedDigests(t, base, repo)
	if len(got) != 0 || page.Source != api.UntaggedComplete {
		t.Fatalf("untagged = %v (%q), want none: the remaining platform goes with its index", got, page.Source)
	}

	// Over the tag bound: one manifest under 2001 tags.
	raw, err := kept.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := kept.MediaType()
	for i := range 2001 {
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/t%d", base, repo, i), bytes.NewReader(raw))
		req.Header.Set("Content-Type", string(mt))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("tag t%d: %s", i, resp.Status)
		}
	}
	var e struct{ Error api.Error }
	status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+repo+"/untagged", nil, &e)
	if status != http.StatusRequestEntityTooLarge || e.Error.Code != api.CodeTooLarge || !strings.Contains(e.Error.Message, "2000") {
		t.Fatalf("over the tag bound: %d %+v", status, e.Error)
	}
}

// TestLabelFilterTrimmed: ?label=name =value matches what ?label=name=value does.
func TestLabelFilterTrimmed(t *testing.T) {
	base := startBerth(t, nil)
	tags := func(label string) []string {
		t.Helper()
		var page api.TagPage
		if status, _ := call(t, http.MethodGet, base+"/api/v1/repositories/library/nginx/tags?limit=all&label="+url.QueryEscape(label), nil, &page); status != http.StatusOK {
			t.Fatalf("label %q: status %d", label, status)
		}
		var out []string
		for _, tg := range page.Tags {
			out = append(out, tg.Name)
		}
		return out
	}
	want := tags("org.opencontainers.image.version=1.25")
	if len(want) == 0 {
		t.Fatal("no tag has the label: the comparison would prove nothing")
	}
	for _, q := range []string{"org.opencontainers.image.version =1.25", "org.opencontainers.image.version = 1.25 "} {
		if got := tags(q); !slices.Equal(got, want) {
			t.Errorf("label %q = %v, want %v", q, got, want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
