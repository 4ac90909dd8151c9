package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the non-image demo content.
const (
	emptyConfig      = "application/vnd.oci.empty.v1+json"
	spdxJSON         = "application/spdx+json"
	cosignSimpleSign = "application/vnd.dev.cosign.simplesigning.v1+json"
	helmConfig       = "application/vnd.cncf.helm.config.v1+json"
	helmChart        = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	policyType       = "application/vnd.example.policy.v1+json"
)

// Repositories holding only artifacts, and the image that gets a signature and an SBOM.
const (
	chartRepo  = "charts/berth-demo"
	policyRepo = "policies/admission"
	signedRepo = "team/api/server"
	signedTag  = "v1.2.0"
)

func artifactRepositories() []string {
	return append([]string{chartRepo, policyRepo}, chartRepositories()...)
}

func registryRepo(host, repo string) name.Repository {
	r, _ := name.NewRepository(host+"/"+repo, name.Insecure)
	return r
}

// rawManifest is a manifest pushed as-is, for artifacts that are not container images.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// ociManifest is the OCI image manifest layout the artifacts use.
type ociManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// seedArtifacts pushes what a registry holds besides images: a cosign-style signature and an
// OCI 1.1 SBOM referring to team/api/server:v1.2.0, a Helm chart, and an artifact of a type
// Berth has never heard of.
func seedArtifacts(ctx context.Context, pusher *remote.Pusher, host string, opts []remote.Option) error {
	signed, err := name.NewTag(host+"/"+signedRepo+":"+signedTag, name.Insecure)
	if err != nil {
		return err
	}
	subject, err := remote.Head(signed, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return fmt.Errorf("demo: find %s: %w", signed, err)
	}
	repo := signed.Context()
	created := daysAgo(44).Format("2006-01-02T15:04:05Z")

	payload, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			// The identity omits the host, so digests do not depend on where the demo is pushed.
			"identity": map[string]string{"docker-reference": signedRepo},
			"image":    map[string]string{"docker-manifest-digest": subject.Digest.String()},
			"type":     "cosign container image signature",
		},
		"optional": map[string]string{"creator": "berth demo"},
	})
	sig := base64.StdEncoding.EncodeToString(random("signature", 71))
	// cosign stores a signature as a plain image manifest tagged after the digest it signs.
	if err := pushArtifact(ctx, pusher, repo, fmt.Sprintf("%s-%s.sig", subject.Digest.Algorithm, subject.Digest.Hex), artifact{
		configType:  types.OCIConfigJSON,
		config:      []byte(`{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`),
		layerType:   cosignSimpleSign,
		layer:       payload,
		layerNotes:  map[string]string{"dev.cosignproject.cosign/signature": sig},
		annotations: map[string]string{"org.opencontainers.image.created": created},
	}); err != nil {
		return err
	}

	sbom, _ := json.MarshalIndent(map[string]any{
		"spdxVersion":       "SPDX-2.3",
		"dataLicense":       "CC0-1.0",
		"SPDXID":            "SPDXRef-DOCUMENT",
		"name":              signedRepo + ":" + signedTag,
		"documentNamespace": "https://example.com/spdx/" + subject.Digest.Hex,
		"creationInfo":      map[string]any{"created": created, "creators": []string{"Tool: berth-demo"}},
		"packages": []map[string]string{
			{"name": "server", "SPDXID": "SPDXRef-server", "versionInfo": signedTag, "licenseConcluded": "NOASSERTION"},
			{"name": "alpine-baselayout", "SPDXID": "SPDXRef-alpine-baselayout", "versionInfo": "3.6.8-r1", "licenseConcluded": "GPL-2.0-only"},
		},
	}, "", "  ")
	// An OCI 1.1 referrer: found through the referrers API, or its fallback tag.
	if err := pushArtifact(ctx, pusher, repo, "", artifact{
		artifactType: spdxJSON,
		subject:      &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		configType:   emptyConfig,
		config:       []byte("{}"),
		layerType:    spdxJSON,
		layer:        sbom,
		annotations:  map[string]string{"org.opencontainers.image.created": created, "org.opencontainers.image.description": "SPDX software bill of materials"},
	}); err != nil {
		return err
	}

	chartCfg, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": "berth-demo", "version": "0.1.0", "appVersion": "1.2.0", "description": "A demo chart stored as an OCI artifact", "type": "application"})
	chart, err := tgz(map[string]string{
		"berth-demo/Chart.yaml":  "apiVersion: v2\nname: berth-demo\nversion: 0.1.0\nappVersion: 1.2.0\ndescription: A demo chart stored as an OCI artifact\ntype: application\n",
		"berth-demo/values.yaml": "replicaCount: 2\nimage:\n  repository: team/api/server\n  tag: v1.2.0\n",
	})
	if err != nil {
		return err
	}
	if err := pushArtifact(ctx, pusher, registryRepo(host, chartRepo), "0.1.0", artifact{
		configType:  helmConfig,
		config:      chartCfg,
		layerType:   helmChart,
		layer:       chart,
		annotations: map[string]string{"org.opencontainers.image.created": daysAgo(40).Format("2006-01-02T15:04:05Z")},
	}); err != nil {
		return err
	}

	return pushArtifact(ctx, pusher, registryRepo(host, policyRepo), "2025-12", artifact{
		artifactType: policyType,
		configType:   emptyConfig,
		config:       []byte("{}"),
		layerType:    policyType,
		layer:        []byte(`{"deny":[{"image":"*:latest","reason":"pin a version"}]}`),
		annotations:  map[string]string{"org.opencontainers.image.created": daysAgo(12).Format("2006-01-02T15:04:05Z")},
	})
}

// artifact is a non-image manifest with one config and one layer.
type artifact struct {
	artifactType string
	subject      *v1.Descriptor
	configType   types.MediaType
	config       []byte
	layerType    types.MediaType
	layer        []byte
	layerNotes   map[string]string
	annotations  map[string]string
}

// pushArtifact uploads the artifact's blobs, then puts its manifest under tag, or by digest
// when tag is empty (as referrers are pushed).
func pushArtifact(ctx context.Context, pusher *remote.Pusher, repo name.Repository, tag string, a artifact) error {
	cfg := static.NewLayer(a.config, a.configType)
	lay := static.NewLayer(a.layer, a.layerType)
	for _, l := range []v1.Layer{cfg, lay} {
		if err := pusher.Upload(ctx, repo, l); err != nil {
			return fmt.Errorf("demo: upload to %s: %w", repo, err)
		}
	}
	desc := func(l v1.Layer, mt types.MediaType, ann map[string]string) v1.Descriptor {
		d, _ := l.Digest()
		n, _ := l.Size()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: n, Annotations: ann}
	}
	raw, err := json.Marshal(ociManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  a.artifactType,
		Config:        desc(cfg, a.configType, nil),
		Layers:        []v1.Descriptor{desc(lay, a.layerType, a.layerNotes)},
		Subject:       a.subject,
		Annotations:   a.annotations,
	})
	if err != nil {
		return err
	}
	var target name.Reference = repo.Tag(tag)
	if tag == "" {
		h, _, _ := v1.SHA256(bytes.NewReader(raw))
		target = repo.Digest(h.String())
	}
	if err := pusher.Push(ctx, target, rawManifest{raw: raw, mt: types.OCIManifestSchema1}); err != nil {
		return fmt.Errorf("demo: push %s: %w", target, err)
	}
	return nil
}

// tgz packs files into a gzip-compressed tar with fixed times, so its digest never changes.
func tgz(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, path := range slices.Sorted(maps.Keys(files)) {
		body := files[path]
		if err := tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(body)), ModTime: reference, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
