package registry

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// PushReferrer pushes img, an artifact whose manifest names a subject, into repository by
// digest: its config and layers, then its manifest, asking the guard first. On a registry
// without the referrers API (distribution 2.8) go-containerregistry adds it to the
// subject's fallback index, tagged sha256-<hex>; distribution 3 lists it by itself.
func (w *Writer) PushReferrer(ctx context.Context, repository string, img v1.Image) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	mt, err := img.MediaType()
	if err != nil {
		return "", err
	}
	ref, err := w.c.Reference(repository, d.String())
	if err != nil {
		return "", err
	}
	if err := w.c.guarded(ctx, Change{Repository: repository, Ref: d.String(), Raw: raw, MediaType: string(mt), Digest: d.String()}); err != nil {
		return "", err
	}
	w.c.Changed(repository)
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		return "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	for _, l := range append(layers, cfg) {
		if err := w.pusher.Upload(ctx, ref.Context(), l); err != nil {
			return "", w.c.explainDoing(err, "Writing", "blob of "+what(repository, d.String()))
		}
	}
	if err := w.pusher.Push(ctx, ref, img); err != nil {
		return "", w.c.explainDoing(err, "Writing", what(repository, d.String()))
	}
	return d.String(), nil
}
