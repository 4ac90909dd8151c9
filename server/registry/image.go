package registry

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Descriptor returns the image or index a digest names, read lazily: its layers stream from the
// registry as the caller reads them, bounded by the caller's context (a scan's job timeout),
// not by the per-request deadline.
func (c *Client) Descriptor(ctx context.Context, repository, digest string) (*remote.Descriptor, error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, err
	}
	r, err := c.Reference(repository, digest)
	if err != nil {
		return nil, err
	}
	p, err := c.puller(ctx)
	if err != nil {
		return nil, err
	}
	release, err := c.slot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	d, err := p.Get(ctx, r)
	if err != nil {
		return nil, c.explain(err, what(repository, digest))
	}
	return d, nil
}

// Platforms are an image's digests per platform: the image itself for a single image, each
// platform's image for an index (attestations and unknown/unknown entries left out).
func Platforms(d *remote.Descriptor) ([]v1.Descriptor, error) {
	if !d.MediaType.IsIndex() {
		return []v1.Descriptor{d.Descriptor}, nil
	}
	idx, err := d.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, child := range m.Manifests {
		if !child.MediaType.IsImage() || (child.Platform != nil && child.Platform.OS == "unknown") {
			continue
		}
		out = append(out, child)
	}
	return out, nil
}
