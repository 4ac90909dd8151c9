package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
)

// manifest is the union of the image manifest and index fields Berth reads.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// config is the part of an image config the tag list needs.
type config struct {
	Created      time.Time `json:"created"`
	OS           string    `json:"os"`
	Architecture string    `json:"architecture"`
	Variant      string    `json:"variant"`
	Config       struct {
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
}

// summary is what Berth knows of a manifest after reading it and, for images, their configs.
type summary struct {
	raw          []byte
	m            manifest
	kind         string // image, index, artifact or schema1
	size         int64
	created      time.Time
	platforms    []api.Platform
	attestations []v1.Descriptor
	artifactType string
	// labels are the image configs' labels by image manifest digest.
	labels map[string]map[string]string
	// note is what the content itself leaves out (schema 1, an index past maxIndexChildren).
	// Unlike a read error it never changes, so a summary with only a note is kept.
	note error
}

// summarize returns the summary of the manifest with the given digest: from the summary
// cache, or computed once through the digest-keyed document cache. mediaType is the
// registry's Content-Type, used when the manifest does not name its own. The summary is
// partial when err is set and is not sum.note.
func (s *Service) summarize(ctx context.Context, repository string, digest v1.Hash, mediaType string) (summary, error) {
	key := digest.String() + " " + mediaType
	if sum, ok := s.sums.get(key); ok {
		return sum, sum.note
	}
	sum, err := s.compute(ctx, repository, digest, mediaType)
	if err == nil {
		s.sums.put(key, sum)
		return sum, sum.note
	}
	if sum.note != nil {
		err = errors.Join(sum.note, err)
	}
	return sum, err
}

// compute reads what a summary needs; its error is only what went wrong reading, the
// content's own shortcomings are in sum.note.
func (s *Service) compute(ctx context.Context, repository string, digest v1.Hash, mediaType string) (summary, error) {
	s.sums.computed.Add(1)
	var sum summary
	raw, err := s.manifest(ctx, repository, digest)
	if err != nil {
		return sum, err
	}
	sum.raw = raw
	if err := json.Unmarshal(raw, &sum.m); err != nil {
		return sum, fmt.Errorf("manifest %s is not valid JSON: %w", digest, err)
	}
	if sum.m.MediaType == "" {
		sum.m.MediaType = types.MediaType(mediaType)
	}
	switch {
	case sum.m.SchemaVersion == 1:
		sum.kind, sum.note = "schema1", errSchema1
		return sum, nil
	case len(sum.m.Manifests) > 0 || sum.m.MediaType.IsIndex():
		sum.kind = "index"
		return sum, s.summarizeIndex(ctx, repository, &sum)
	}
	p, artifact, labels, err := s.image(ctx, repository, digest, sum.m)
	sum.size, sum.created = p.Size, p.Created
	if len(labels) > 0 {
		sum.labels = map[string]map[string]string{digest.String(): labels}
	}
	if artifact != "" {
		sum.kind, sum.artifactType = "artifact", artifact
		return sum, err
	}
	sum.kind = "image"
	if p.OS != "" {
		sum.platforms = []api.Platform{p}
	}
	return sum, err
}

var errSchema1 = errors.New("legacy Docker schema 1 manifest: registries and clients dropped it; it carries no sizes and its platform and history are not shown")

// maxIndexChildren bounds the children of one index that are read, shown and indexed; real
// ones have a handful.
const maxIndexChildren = 256

func (s *Service) summarizeIndex(ctx context.Context, repository string, sum *summary) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	// A crafted index may list one child thousands of times: none of it is worth reading twice.
	sum.m.Manifests = distinct(sum.m.Manifests)
	children := sum.m.Manifests
	if len(children) > maxIndexChildren {
		sum.note = fmt.Errorf("index lists %d manifests; the first %d are shown", len(children), maxIndexChildren)
		children = children[:maxIndexChildren]
	}
	// The platform list is complete before any goroutine writes into it.
	var images []v1.Descriptor
	for _, d := range children {
		if attestation(d) {
			sum.attestations = append(sum.attestations, d)
			continue
		}
		p := api.Platform{Digest: d.Digest.String()}
		if d.Platform != nil {
			p.OS, p.Architecture, p.Variant = d.Platform.OS, d.Platform.Architecture, d.Platform.Variant
		}
		sum.platforms = append(sum.platforms, p)
		images = append(images, d)
	}
	for i, d := range images {
		wg.Go(func() {
			raw, err := s.manifest(ctx, repository, d.Digest)
			var cm manifest
			if err == nil {
				err = json.Unmarshal(raw, &cm)
			}
			var img api.Platform
			var labels map[string]string
			if err == nil {
				img, _, labels, err = s.image(ctx, repository, d.Digest, cm)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.Digest, err))
				return
			}
			if len(labels) > 0 {
				if sum.labels == nil {
					sum.labels = map[string]map[string]string{}
				}
				sum.labels[d.Digest.String()] = labels
			}
			pl := &sum.platforms[i]
			pl.Size, pl.Created = img.Size, img.Created
			if pl.OS == "" {
				pl.OS, pl.Architecture, pl.Variant = img.OS, img.Architecture, img.Variant
			}
		})
	}
	wg.Wait()
	for _, p := range sum.platforms {
		sum.size += p.Size
		if p.Created.After(sum.created) {
			sum.created = p.Created
		}
	}
	return errors.Join(errs...)
}

// distinct drops repeated index entries (same digest and platform), keeping the first of each.
func distinct(ds []v1.Descriptor) []v1.Descriptor {
	type key struct{ digest, os, arch, variant, osVersion string }
	seen := make(map[key]bool, min(len(ds), maxIndexChildren))
	out := ds[:0:0]
	for _, d := range ds {
		k := key{digest: d.Digest.String()}
		if p := d.Platform; p != nil {
			k.os, k.arch, k.variant, k.osVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// attestation reports whether an index entry is a buildx attestation rather than a platform.
func attestation(d v1.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// image sums an image manifest's config and layers, and reads its config for the platform,
// creation date and labels. A manifest whose config is not an image config is an artifact,
// whose type is returned instead.
func (s *Service) image(ctx context.Context, repository string, digest v1.Hash, m manifest) (api.Platform, string, map[string]string, error) {
	p := api.Platform{Digest: digest.String(), Size: m.Config.Size}
	for _, l := range m.Layers {
		p.Size += l.Size
	}
	artifact := artifactType(m)
	if artifact != "" || m.Config.Digest.Hex == "" {
		return p, artifact, nil, nil
	}
	raw, err := s.blob(ctx, repository, m.Config.Digest)
	if err != nil {
		return p, "", nil, err
	}
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return p, "", nil, fmt.Errorf("config %s is not valid JSON: %w", m.Config.Digest, err)
	}
	p.OS, p.Architecture, p.Variant, p.Created = c.OS, c.Architecture, c.Variant, c.Created
	return p, "", c.Config.Labels, nil
}

// artifactType returns what kind of artifact a manifest is, or "" for a container image.
func artifactType(m manifest) string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	switch m.Config.MediaType {
	case types.DockerConfigJSON, types.OCIConfigJSON, "":
		return ""
	}
	return string(m.Config.MediaType)
}
