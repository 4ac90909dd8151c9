package catalog_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestArtifacts(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)

	// An artifact whose config media type says what it is (OCI 1.0 style).
	const thingConfig = "application/vnd.example.thing.config.v1+json"
	layer := static.NewLayer([]byte(`{"hello":"world"}`), "application/vnd.example.thing.layer.v1+json")
	thing, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatal(err)
	}
	thing = mutate.ConfigMediaType(thing, thingConfig)
	push(t, host, "example/thing:v1", thing)

	// An artifact with artifactType and the empty config (OCI 1.1 style).
	const sbomType = "application/vnd.example.sbom.v1+json"
	repo := ref(t, host, "example/sbom:v1").Context()
	emptyConfig := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	sbom := static.NewLayer([]byte(`{"packages":[]}`), "application/spdx+json")
	for _, l := range []v1.Layer{emptyConfig, sbom} {
		if err := remote.WriteLayer(repo, l, remote.WithContext(t.Context())); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	raw := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":%q,"config":%s,"layers":[%s]}`,
		types.OCIManifestSchema1, sbomType, descriptorJSON(t, emptyConfig), descriptorJSON(t, sbom))
	if err := remote.Put(ref(t, host, "example/sbom:v1"), rawManifest{raw, types.OCIManifestSchema1}, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("put artifact manifest: %v", err)
	}

	svc := newService(t, host, nil, 4)
	tests := []struct {
		repo, artifactType string
		size               int64
	}{
		{"example/thing", thingConfig, factsSize(t, thing)},
		{"example/sbom", sbomType, 2 + 15},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			tag := tagNamed(t, tags(t, svc, tt.repo), "v1")
			if tag.Error != "" {
				t.Fatalf("error %q", tag.Error)
			}
			if tag.Kind != "artifact" || tag.ArtifactType != tt.artifactType {
				t.Errorf("Kind, ArtifactType = %q, %q; want artifact, %q", tag.Kind, tag.ArtifactType, tt.artifactType)
			}
			if tag.Size != tt.size {
				t.Errorf("Size = %d, want config plus layers %d", tag.Size, tt.size)
			}
			if len(tag.Platforms) != 0 || !tag.Created.IsZero() {
				t.Errorf("Platforms, Created = %+v, %v; an artifact has neither", tag.Platforms, tag.Created)
			}
			if tag.MediaType != string(types.OCIManifestSchema1) || tag.Digest != headDigest(t, host, tt.repo+":v1") {
				t.Errorf("MediaType, Digest = %q, %q", tag.MediaType, tag.Digest)
			}
		})
	}
}

// rawManifest is a manifest pushed byte for byte.
type rawManifest struct {
	raw string
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return []byte(m.raw), nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

func descriptorJSON(t *testing.T, l v1.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := l.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, mt, d, size)
}

func factsSize(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return size
}

func TestAttestations(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	withPlatform := func(p v1.Platform) v1.Image {
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		cf.Created = v1.Time{Time: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)}
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		return mutate.MediaType(img, types.OCIManifestSchema1)
	}
	amd64 := withPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})
	arm64 := withPlatform(v1.Platform{OS: "linux", Architecture: "arm64"})
	amdDigest, err := amd64.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// A buildx provenance attestation: in-toto layers, platform unknown/unknown.
	statement := static.NewLayer([]byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`), "application/vnd.in-toto+json")
	att, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), statement)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				"vnd.docker.reference.type":   "attestation-manifest",
				"vnd.docker.reference.digest": amdDigest.String(),
			},
		}},
	)
	if err := remote.WriteIndex(ref(t, host, "example/attested:v1"), idx, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push index: %v", err)
	}

	svc := newService(t, host, nil, 4)
	tag := tagNamed(t, tags(t, svc, "example/attested"), "v1")
	if tag.Error != "" {
		t.Fatalf("error %q", tag.Error)
	}
	if tag.Kind != "index" || tag.Attestations != 1 {
		t.Errorf("Kind, Attestations = %q, %d; want index, 1", tag.Kind, tag.Attestations)
	}
	if got, want := platformNames(tag.Platforms), []string{"linux/amd64", "linux/arm64"}; !slices.Equal(got, want) {
		t.Errorf("platforms = %q, want %q (no unknown/unknown)", got, want)
	}
	var sum int64
	for _, p := range tag.Platforms {
		sum += p.Size
	}
	if tag.Size != sum {
		t.Errorf("Size = %d, want the platforms' sum %d without the attestation", tag.Size, sum)
	}
}
