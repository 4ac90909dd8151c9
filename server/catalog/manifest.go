package catalog

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
)

// Manifest describes the manifest that reference (a tag or a sha256 digest) names in the
// repository: its kind, size, platforms or image config, layers and history, and referrers.
func (s *Service) Manifest(ctx context.Context, repository, reference string) (api.Manifest, error) {
	out := api.Manifest{Repository: repository, Reference: reference, PullHost: s.pullHost, Referrers: []api.Referrer{}}
	if err := s.authorize(ctx, repository); err != nil {
		return out, err
	}
	// Tag or digest, the registry is asked first: that checks the principal may read it, so
	// the shared digest-keyed cache never answers for someone the registry would refuse.
	desc, err := s.reg.Head(ctx, repository, reference)
	if err != nil {
		return out, err
	}
	digest := desc.Digest
	out.MediaType = string(desc.MediaType)
	out.Digest = digest.String()

	sum, err := s.summarize(ctx, repository, digest, out.MediaType)
	if sum.raw == nil {
		return out, err
	}
	if err != nil {
		out.Note = registry.Describe(err)
	}
	out.Raw = string(sum.raw)
	out.Kind, out.Size, out.ArtifactType, out.Platforms = sum.kind, sum.size, sum.artifactType, sum.platforms
	if sum.m.MediaType != "" {
		out.MediaType = string(sum.m.MediaType)
	}
	out.Annotations = sum.m.Annotations
	for _, a := range sum.attestations {
		out.Attestations = append(out.Attestations, descriptor(a))
	}
	if sum.m.Subject != nil {
		d := descriptor(*sum.m.Subject)
		out.Subject = &d
	}
	switch sum.kind {
	case "image":
		img, err := s.imageDetails(ctx, repository, sum.m)
		if err != nil {
			out.Note = registry.Describe(err)
		}
		out.Image = img
	case "artifact":
		out.Blobs = []api.Descriptor{}
		for _, l := range sum.m.Layers {
			out.Blobs = append(out.Blobs, descriptor(l))
		}
	}
	out.Referrers, err = s.referrers(ctx, repository, digest)
	if err != nil {
		out.ReferrersError = registry.Describe(err)
	}
	return out, nil
}

func descriptor(d v1.Descriptor) api.Descriptor {
	out := api.Descriptor{
		MediaType:    string(d.MediaType),
		Digest:       d.Digest.String(),
		Size:         d.Size,
		ArtifactType: d.ArtifactType,
		Annotations:  d.Annotations,
	}
	if d.Platform != nil {
		out.Platform = &api.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}
	}
	return out
}

// imageDetails reads an image's config and lines its history up with its layers.
func (s *Service) imageDetails(ctx context.Context, repository string, m manifest) (*api.Image, error) {
	img := &api.Image{
		ConfigDigest:    m.Config.Digest.String(),
		ConfigMediaType: string(m.Config.MediaType),
		ConfigSize:      m.Config.Size,
		Layers:          make([]api.Descriptor, 0, len(m.Layers)),
		History:         []api.History{},
	}
	for _, l := range m.Layers {
		img.Layers = append(img.Layers, descriptor(l))
	}
	raw, err := s.blob(ctx, repository, m.Config.Digest)
	if err != nil {
		return img, err
	}
	img.RawConfig = string(raw)
	cf, err := v1.ParseConfigFile(strings.NewReader(img.RawConfig))
	if err != nil {
		return img, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	c := cf.Config
	img.Config = api.ImageConfig{
		OS:           cf.OS,
		Architecture: cf.Architecture,
		Variant:      cf.Variant,
		Created:      cf.Created.Time,
		Author:       cf.Author,
		User:         c.User,
		WorkingDir:   c.WorkingDir,
		Entrypoint:   c.Entrypoint,
		Cmd:          c.Cmd,
		Env:          c.Env,
		Labels:       c.Labels,
		StopSignal:   c.StopSignal,
		ExposedPorts: sortedKeys(c.ExposedPorts),
		Volumes:      sortedKeys(c.Volumes),
	}
	layer := 0
	for _, h := range cf.History {
		e := api.History{Created: h.Created.Time, CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer, Layer: -1}
		if !h.EmptyLayer {
			if layer < len(img.Layers) {
				e.Layer = layer
			}
			layer++
		}
		img.History = append(img.History, e)
	}
	return img, nil
}

func sortedKeys(m map[string]struct{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// referrers lists the manifests that refer to digest: through the OCI 1.1 referrers API, or
// its tag-schema fallback, plus cosign's sha256-<hex>.sig/.att/.sbom tags, each described
// with the size of what it holds (config plus blobs), as for tags.
func (s *Service) referrers(ctx context.Context, repository string, digest v1.Hash) ([]api.Referrer, error) {
	found, err := s.reg.AllReferrers(ctx, repository, digest.String())
	out := make([]api.Referrer, 0, len(found))
	for _, f := range found {
		r := referrer(f.Descriptor, f.Tag)
		if sum, err := s.summarize(ctx, repository, f.Descriptor.Digest, r.MediaType); err == nil {
			r.Size = sum.size
			if f.Tag != "" {
				r.ArtifactType = sum.artifactType
				if r.ArtifactType == "" && len(sum.m.Layers) > 0 {
					// cosign stores plain image manifests; the payload's type says what it is.
					r.ArtifactType = string(sum.m.Layers[0].MediaType)
				}
				if c, err := time.Parse(time.RFC3339, sum.m.Annotations["org.opencontainers.image.created"]); err == nil {
					r.Created = c
				}
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b api.Referrer) int { return strings.Compare(a.Digest+a.Tag, b.Digest+b.Tag) })
	return out, err
}

func referrer(d v1.Descriptor, tag string) api.Referrer {
	r := api.Referrer{
		Digest:       d.Digest.String(),
		MediaType:    string(d.MediaType),
		ArtifactType: d.ArtifactType,
		Size:         d.Size,
		Annotations:  d.Annotations,
		Tag:          tag,
	}
	if t, err := time.Parse(time.RFC3339, d.Annotations["org.opencontainers.image.created"]); err == nil {
		r.Created = t
	}
	return r
}
