package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Writer makes changes in the registry as one principal: the signed-in user (or Berth itself
// where the operator allowed writes without sign-in). It keeps its tokens across calls, so a
// job makes one per run.
type Writer struct {
	c      *Client
	auth   authn.Authenticator
	pusher *remote.Pusher
}

// Writer returns a writer for the principal in ctx; without a signed-in user and with service
// writes off it fails with a 403 DENIED.
func (c *Client) Writer(ctx context.Context) (*Writer, error) {
	auth, err := c.writeAuth(ctx)
	if err != nil {
		return nil, c.explain(err, "write")
	}
	p, err := remote.NewPusher(c.options(auth)...)
	if err != nil {
		return nil, err
	}
	return &Writer{c: c, auth: auth, pusher: p}, nil
}

// Deleted says how a delete was done.
type Deleted struct {
	// Placeholder is set when the registry cannot delete a tag alone (distribution 2.x): the
	// tag was pointed at this throw-away manifest, which was then deleted by digest.
	Placeholder string
}

// Delete deletes a tag (the tag only; the manifest stays) or a manifest by digest (with
// every tag pointing at it).
func (w *Writer) Delete(ctx context.Context, repository, ref string) (Deleted, error) {
	w.c.Changed(repository)
	r, err := w.c.Reference(repository, ref)
	if err != nil {
		return Deleted{}, err
	}
	if err := w.c.guarded(ctx, Change{Repository: repository, Ref: ref, Delete: true}); err != nil {
		return Deleted{}, err
	}
	if IsDigest(ref) || w.c.tagDeletes.Load() != tagDeleteRefused {
		err := w.deleteRef(ctx, r)
		if IsDigest(ref) || !refusesTagDelete(err) {
			if err == nil && !IsDigest(ref) {
				w.c.tagDeletes.CompareAndSwap(tagDeleteUnknown, tagDeleteWorks)
			}
			return Deleted{}, w.c.explainDoing(err, "Deleting", what(repository, ref))
		}
		w.c.tagDeletes.Store(tagDeleteRefused)
	}
	return w.deleteTagByPlaceholder(ctx, repository, ref)
}

// deleteRef sends one DELETE of a manifest reference.
func (w *Writer) deleteRef(ctx context.Context, r name.Reference) error {
	ctx, done, err := w.c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	return w.pusher.Delete(ctx, r)
}

// rawManifest is a manifest to PUT as it is.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

// RawManifest implements remote.Taggable.
func (m rawManifest) RawManifest() ([]byte, error) { return m.raw, nil }

// MediaType makes go-containerregistry PUT the manifest with its own type.
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// PutManifest writes a manifest under a tag or its digest and returns its digest. Every blob
// and child it references must be in the repository already.
func (w *Writer) PutManifest(ctx context.Context, repository, ref string, raw []byte, mediaType string) (string, error) {
	return w.put(ctx, repository, ref, raw, mediaType, true)
}

// put writes a manifest, asking the guard first when ask is set.
func (w *Writer) put(ctx context.Context, repository, ref string, raw []byte, mediaType string, ask bool) (string, error) {
	w.c.Changed(repository)
	r, err := w.c.Reference(repository, ref)
	if err != nil {
		return "", err
	}
	h, _, err := v1.SHA256(bytesReader(raw))
	if err != nil {
		return "", err
	}
	if IsDigest(ref) && ref != h.String() {
		return "", fmt.Errorf("manifest digest %s does not match the reference %s", h, ref)
	}
	if ask {
		if err := w.c.guarded(ctx, Change{Repository: repository, Ref: ref, Raw: raw, MediaType: mediaType, Digest: h.String()}); err != nil {
			return "", err
		}
	}
	ctx, done, err := w.c.begin(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	if err := w.pusher.Put(ctx, r, rawManifest{raw: raw, mediaType: types.MediaType(mediaType)}); err != nil {
		return "", w.c.explainDoing(err, "Writing", what(repository, ref))
	}
	return h.String(), nil
}

// WriteLayer uploads a blob unless the repository has it; mount lets the registry link it
// from the repository it came from (same registry only). progress, if set, hears the bytes
// written so far. The caller's context bounds the upload: blobs take as long as they take.
func (w *Writer) WriteLayer(ctx context.Context, repository string, l v1.Layer, mount bool, progress func(done int64)) error {
	repo, err := w.c.Repository(repository)
	if err != nil {
		return err
	}
	release, err := w.c.slot(ctx)
	if err != nil {
		return err
	}
	defer release()
	if !mount {
		l = plainLayer{l}
	}
	sessions := &uploadSessions{base: w.c.transport, repo: repo, auth: w.auth, open: map[string]uploadSession{}}
	defer sessions.abort(ctx)
	opts := append(w.c.options(w.auth), remote.WithContext(ctx), remote.WithTransport(sessions))
	var drained chan struct{}
	if progress != nil {
		updates := make(chan v1.Update, 64)
		drained = make(chan struct{})
		go func() {
			defer close(drained)
			for u := range updates {
				if u.Error == nil {
					progress(u.Complete)
				}
			}
		}()
		opts = append(opts, remote.WithProgress(updates))
	}
	err = remote.WriteLayer(repo, l, opts...)
	if drained != nil {
		<-drained
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d, _ := l.Digest()
		return w.c.explainDoing(err, "Uploading", "blob "+d.String())
	}
	return nil
}

// plainLayer hides that a layer is mountable, for copies between registries: a mount request
// naming a repository of another registry would only be refused.
type plainLayer struct{ v1.Layer }

// PutManifest writes a manifest as the principal in ctx.
func (c *Client) PutManifest(ctx context.Context, repository, reference string, raw []byte, mediaType string) (string, error) {
	w, err := c.Writer(ctx)
	if err != nil {
		return "", err
	}
	return w.PutManifest(ctx, repository, reference, raw, mediaType)
}

// DeleteManifest deletes a manifest by digest as the principal in ctx.
func (c *Client) DeleteManifest(ctx context.Context, repository, digest string) error {
	if err := ValidateDigest(digest); err != nil {
		return err
	}
	w, err := c.Writer(ctx)
	if err != nil {
		return err
	}
	_, err = w.Delete(ctx, repository, digest)
	return err
}

// PushBlob uploads size bytes from body as the blob digest, as the principal in ctx; the
// registry checks the digest.
func (c *Client) PushBlob(ctx context.Context, repository, digest string, size int64, body io.Reader) error {
	if err := ValidateDigest(digest); err != nil {
		return err
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return ValidateDigest(digest)
	}
	w, err := c.Writer(ctx)
	if err != nil {
		return err
	}
	return w.WriteLayer(ctx, repository, &streamLayer{digest: h, size: size, body: body}, false, nil)
}

// streamLayer is a blob read once from a stream whose digest and size are known up front.
type streamLayer struct {
	digest v1.Hash
	size   int64
	body   io.Reader
}

func (l *streamLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *streamLayer) DiffID() (v1.Hash, error) { return l.digest, nil }
func (l *streamLayer) Size() (int64, error)     { return l.size, nil }
func (l *streamLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.LimitReader(l.body, l.size)), nil
}
func (l *streamLayer) Uncompressed() (io.ReadCloser, error) { return l.Compressed() }
func (l *streamLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}

// CheckCredentials asks the registry whether auth is accepted: for token registries the token
// server must issue a token, for Basic ones /v2/ must answer 200. A refusal is a 401
// INVALID_CREDENTIALS.
func (c *Client) CheckCredentials(ctx context.Context, auth authn.Authenticator) error {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	invalid := errInvalidCredentials
	rt, err := transport.NewWithContext(ctx, c.reg, auth, c.transport, []string{c.reg.Scope(transport.PullScope)})
	if s := Status(err); s == http.StatusUnauthorized || s == http.StatusForbidden {
		return invalid
	}
	if err != nil {
		return c.explain(err, "the registry's sign-in")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.addr.String()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return c.explain(err, "the registry's sign-in")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return invalid
	case resp.StatusCode != http.StatusOK:
		return c.explain(&transport.Error{StatusCode: resp.StatusCode}, "the registry's sign-in")
	}
	return nil
}
