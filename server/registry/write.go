package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
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

// Delete deletes a tag (the tag only, where the registry supports it) or a manifest by digest.
func (w *Writer) Delete(ctx context.Context, repository, ref string) error {
	w.c.Changed(repository)
	r, err := w.c.Reference(repository, ref)
	if err != nil {
		return err
	}
	ctx, done, err := w.c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	return w.c.explain(w.pusher.Delete(ctx, r), what(repository, ref))
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
	ctx, done, err := w.c.begin(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	if err := w.pusher.Put(ctx, r, rawManifest{raw: raw, mediaType: types.MediaType(mediaType)}); err != nil {
		return "", w.c.explain(err, "writing "+what(repository, ref))
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
	sessions := &uploadSessions{base: w.c.transport, open: map[string]uploadSession{}}
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
		return w.c.explain(err, "upload blob "+d.String())
	}
	return nil
}

// uploadSessions watches one blob upload's requests for the upload session the registry
// opened, so an upload cut short (a cancelled job) can DELETE it instead of leaving it to
// the registry's purge (distribution keeps abandoned sessions for a week by default).
type uploadSessions struct {
	base http.RoundTripper

	mu   sync.Mutex
	open map[string]uploadSession // by session path
}

type uploadSession struct {
	location      string
	authorization string
}

// RoundTrip implements http.RoundTripper. It sits under go-containerregistry's auth, so
// requests carry their Authorization already, which the DELETE reuses.
func (u *uploadSessions) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := u.base.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "/blobs/uploads/") {
		return resp, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case (req.Method == http.MethodPost || req.Method == http.MethodPatch) && resp.StatusCode == http.StatusAccepted:
		if loc, err := req.URL.Parse(resp.Header.Get("Location")); err == nil && resp.Header.Get("Location") != "" {
			delete(u.open, req.URL.Path)
			u.open[loc.Path] = uploadSession{location: loc.String(), authorization: req.Header.Get("Authorization")}
		}
	case req.Method == http.MethodPut && resp.StatusCode == http.StatusCreated:
		delete(u.open, req.URL.Path)
	}
	return resp, err
}

// abort deletes the sessions an unfinished upload left open. The DELETE must carry the
// session's current state, which a PATCH cut short has moved on (distribution answers 416 to
// a stale one): the session's status (GET) hands out a fresh one.
func (u *uploadSessions) abort(ctx context.Context) {
	u.mu.Lock()
	open := u.open
	u.open = map[string]uploadSession{}
	u.mu.Unlock()
	for _, s := range open {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		location := s.location
		for try := range 6 {
			if try > 0 {
				// The cut PATCH may still be ending on the registry's side (it reads what
				// was in flight): give it a moment, then read the state it left.
				select {
				case <-dctx.Done():
				case <-time.After(time.Duration(100<<try) * time.Millisecond / 2):
				}
				_, loc := u.do(dctx, http.MethodGet, strings.SplitN(s.location, "?", 2)[0], s.authorization)
				if loc == "" {
					break
				}
				location = loc
			}
			status, _ := u.do(dctx, http.MethodDelete, location, s.authorization)
			if status != http.StatusRequestedRangeNotSatisfiable || dctx.Err() != nil {
				break
			}
		}
		cancel()
	}
}

// do makes one request of the abort and returns the status and the resolved Location.
func (u *uploadSessions) do(ctx context.Context, method, target, authorization string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return 0, ""
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := u.base.RoundTrip(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	loc := ""
	if l, err := req.URL.Parse(resp.Header.Get("Location")); err == nil && resp.Header.Get("Location") != "" {
		loc = l.String()
	}
	return resp.StatusCode, loc
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
	return w.Delete(ctx, repository, digest)
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
