package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// What a registry answered to deleting a tag alone.
const (
	tagDeleteUnknown int32 = iota
	tagDeleteWorks
	tagDeleteRefused
)

// refusesTagDelete reports whether err is a registry refusing to delete a tag while it
// deletes manifests: distribution 2.x answers 400 DIGEST_INVALID, and the OCI spec allows a
// 400 for it. A 405 is left alone: it is how distribution says deletes are off altogether.
func refusesTagDelete(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusBadRequest
}

// Annotations of a placeholder manifest: the tag it stands in for, and a nonce.
const (
	placeholderTag   = "io.berth.placeholder.tag"
	placeholderNonce = "io.berth.placeholder.nonce"
)

// IsPlaceholder reports whether the manifest digest is a placeholder Berth made to delete tag:
// a job cut short between pointing the tag at it and deleting it leaves one behind.
func (c *Client) IsPlaceholder(ctx context.Context, repository, digest, tag string) bool {
	m, err := c.Get(ctx, repository, digest)
	if err != nil || m.Descriptor.MediaType != types.OCIManifestSchema1 {
		return false
	}
	var man v1.Manifest
	return json.Unmarshal(m.Raw, &man) == nil && man.Annotations[placeholderTag] == tag && man.Annotations[placeholderNonce] != ""
}

// emptyConfig is the OCI empty JSON blob, the config of the placeholder manifest.
var emptyConfig = []byte("{}")

// deleteTagByPlaceholder removes just the tag the way regclient and skopeo do where the
// registry cannot: it points the tag at a throw-away manifest made unique by an annotation,
// then deletes that manifest by digest, which takes the tag with it. Other tags and the image
// stay. If the placeholder cannot be deleted, the tag is put back where it was.
func (w *Writer) deleteTagByPlaceholder(ctx context.Context, repository, tag string) (Deleted, error) {
	orig, err := w.c.Get(ctx, repository, tag)
	if err != nil {
		return Deleted{}, err
	}
	placeholder, err := placeholderManifest(tag)
	if err != nil {
		return Deleted{}, err
	}
	config := static.NewLayer(emptyConfig, types.OCIEmptyJSON)
	if err := w.WriteLayer(ctx, repository, config, false, nil); err != nil {
		return Deleted{}, err
	}
	digest, err := w.put(ctx, repository, tag, placeholder, string(types.OCIManifestSchema1), false)
	if err != nil {
		return Deleted{}, err
	}
	r, err := w.c.Reference(repository, digest)
	if err != nil {
		return Deleted{}, err
	}
	derr := w.deleteRef(ctx, r)
	if derr == nil {
		return Deleted{Placeholder: digest}, nil
	}
	code, why := api.CodeRegistryError, Describe(derr)
	var he *httperr.Error
	if derr = w.c.explainDoing(derr, "Deleting", "placeholder manifest "+repository+"@"+digest); errors.As(derr, &he) {
		code, why = he.Code, he.Message
	}
	lead := fmt.Sprintf("Deleting tag %s:%s: the registry cannot delete a tag alone, and the placeholder Berth pointed it at could not be deleted (%s)", repository, tag, why)
	if _, err := w.put(context.WithoutCancel(ctx), repository, tag, orig.Raw, string(orig.Descriptor.MediaType), false); err != nil {
		return Deleted{}, httperr.Wrap(code, lead+"; the tag now points at that empty placeholder, "+digest+".", derr)
	}
	return Deleted{}, httperr.Wrap(code, lead+"; the tag was put back.", derr)
}

// placeholderManifest is an empty OCI image manifest naming the tag it stands in for and a
// random nonce, so its digest is the tag's alone and deleting it deletes no other tag.
func placeholderManifest(tag string) ([]byte, error) {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	h, _, err := v1.SHA256(bytesReader(emptyConfig))
	if err != nil {
		return nil, err
	}
	return json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Digest: h, Size: int64(len(emptyConfig))},
		Layers:        []v1.Descriptor{},
		Annotations: map[string]string{
			placeholderTag:   tag,
			placeholderNonce: hex.EncodeToString(nonce[:]),
		},
	})
}
