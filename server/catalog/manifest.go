package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Manifest describes the manifest that reference (a tag or a sha256 digest) names in the
// repository: its kind, size, platforms or image config, layers and history, and referrers.
func (s *Service) Manifest(ctx context.Context, repository, reference string) (api.Manifest, error) {
	repo, err := s.repository(repository)
	if err != nil {
		return api.Manifest{}, err
	}
	out := api.Manifest{Repository: repository, Reference: reference, PullHost: s.pullHost, Referrers: []api.Referrer{}}
	// Tag or digest, the registry is asked first: that checks the principal may read it, so
	// the shared digest-keyed cache never answers for someone the registry would refuse.
	var ref name.Reference
	what := fmt.Sprintf("tag %s:%s", repository, reference)
	if strings.Contains(reference, ":") {
		if _, err := v1.NewHash(reference); err != nil {
			return out, httperr.New(http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("%q is not a valid digest such as sha256:<64 hex digits>", reference))
		}
		ref, what = repo.Digest(reference), fmt.Sprintf("manifest %s@%s", repository, reference)
	} else {
		if _, err := name.NewTag(repo.Name()+":"+reference, s.nameOpts...); err != nil {
			return out, httperr.New(http.StatusBadRequest, "TAG_INVALID", fmt.Sprintf("%q is not a valid tag", reference))
		}
		ref = repo.Tag(reference)
	}
	p, release, err := s.begin(ctx)
	if err != nil {
		return out, err
	}
	desc, err := p.Head(ctx, ref)
	release()
	if err != nil {
		return out, s.registryError(err, what)
	}
	digest := desc.Digest
	out.MediaType = string(desc.MediaType)
	out.Digest = digest.String()

	sum, err := s.summarize(ctx, repo, digest, out.MediaType)
	if sum.raw == nil {
		return out, s.registryError(err, fmt.Sprintf("manifest %s@%s", repository, digest))
	}
	if err != nil {
		out.Note = describe(err)
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
		img, err := s.imageDetails(ctx, repo, sum.m)
		if err != nil {
			out.Note = describe(err)
		}
		out.Image = img
	case "artifact":
		out.Blobs = []api.Descriptor{}
		for _, l := range sum.m.Layers {
			out.Blobs = append(out.Blobs, descriptor(l))
		}
	}
	out.Referrers, err = s.referrers(ctx, repo, digest)
	if err != nil {
		out.ReferrersError = describe(err)
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
func (s *Service) imageDetails(ctx context.Context, repo name.Repository, m manifest) (*api.Image, error) {
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
	raw, err := s.blob(ctx, repo, m.Config.Digest)
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
// its tag-schema fallback (an index tagged sha256-<hex>) where the registry lacks the API,
// plus cosign's sha256-<hex>.sig/.att/.sbom tags.
func (s *Service) referrers(ctx context.Context, repo name.Repository, digest v1.Hash) ([]api.Referrer, error) {
	var (
		out  []api.Referrer
		errs []error
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		p, release, err := s.begin(ctx)
		if err != nil {
			return
		}
		idx, err := remote.Referrers(repo.Digest(digest.String()), remote.Reuse(p), remote.WithContext(ctx))
		release()
		var im *v1.IndexManifest
		if err == nil {
			im, err = idx.IndexManifest()
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("referrers: %w", err))
			return
		}
		for _, d := range im.Manifests {
			out = append(out, referrer(d, ""))
		}
	})
	wg.Go(func() {
		tagged, err := s.cosignTags(ctx, repo, digest)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, tagged...)
	})
	wg.Wait()
	// The same manifest can be found both ways; keep one.
	slices.SortFunc(out, func(a, b api.Referrer) int { return strings.Compare(a.Digest+a.Tag, b.Digest+b.Tag) })
	out = slices.CompactFunc(out, func(a, b api.Referrer) bool { return a.Digest == b.Digest })
	for i, r := range out {
		// Report what the referrer holds (config plus blobs), as for tags, not its manifest's size.
		if sum, err := s.summarize(ctx, repo, mustHash(r.Digest), r.MediaType); err == nil {
			out[i].Size = sum.size
		}
	}
	if out == nil {
		out = []api.Referrer{}
	}
	return out, errors.Join(errs...)
}

func mustHash(s string) v1.Hash {
	h, _ := v1.NewHash(s)
	return h
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

// cosignTags finds cosign-style tags for digest and describes the manifests they point to.
func (s *Service) cosignTags(ctx context.Context, repo name.Repository, digest v1.Hash) ([]api.Referrer, error) {
	p, release, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := p.List(ctx, repo)
	release()
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	prefix := digest.Algorithm + "-" + digest.Hex + "."
	var out []api.Referrer
	for _, t := range tags {
		if !strings.HasPrefix(t, prefix) {
			continue
		}
		p, release, err := s.begin(ctx)
		if err != nil {
			return out, err
		}
		desc, err := p.Head(ctx, repo.Tag(t))
		release()
		if err != nil {
			return out, fmt.Errorf("tag %s: %w", t, err)
		}
		r := referrer(*desc, t)
		if sum, err := s.summarize(ctx, repo, desc.Digest, string(desc.MediaType)); err == nil {
			r.Size, r.ArtifactType = sum.size, sum.artifactType
			if r.ArtifactType == "" && len(sum.m.Layers) > 0 {
				// cosign stores plain image manifests; the payload's type says what it is.
				r.ArtifactType = string(sum.m.Layers[0].MediaType)
			}
			if c, err := time.Parse(time.RFC3339, sum.m.Annotations["org.opencontainers.image.created"]); err == nil {
				r.Created = c
			}
		}
		out = append(out, r)
	}
	return out, nil
}
