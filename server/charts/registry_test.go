package charts

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// remoteRegistry is Registry over go-containerregistry's remote package, talking to a real
// registry at host over plain HTTP: what server/registry provides in production, without
// principals (the test registries are open).
type remoteRegistry struct{ host string }

func (g remoteRegistry) repo(r string) (name.Repository, error) {
	repo, err := name.NewRepository(g.host+"/"+r, name.Insecure)
	if err != nil {
		return name.Repository{}, httperr.Wrap(http.StatusBadRequest, string(api.CodeNameInvalid), "bad name", err)
	}
	return repo, nil
}

// mapErr maps registry errors the way server/registry promises to.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return httperr.Wrap(http.StatusNotFound, string(api.CodeNotFound), "not found", err)
		case http.StatusUnauthorized:
			return httperr.Wrap(http.StatusUnauthorized, string(api.CodeUnauthorized), "sign in", err)
		case http.StatusForbidden:
			return httperr.Wrap(http.StatusForbidden, string(api.CodeDenied), "denied", err)
		}
	}
	return httperr.Wrap(http.StatusBadGateway, string(api.CodeRegistryError), "registry error", err)
}

func (g remoteRegistry) Catalog(ctx context.Context) ([]string, error) {
	reg, err := name.NewRegistry(g.host, name.Insecure)
	if err != nil {
		return nil, err
	}
	repos, err := remote.Catalog(ctx, reg)
	return repos, mapErr(err)
}

func (g remoteRegistry) Tags(ctx context.Context, repository string) ([]string, error) {
	repo, err := g.repo(repository)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(repo, remote.WithContext(ctx))
	return tags, mapErr(err)
}

func (g remoteRegistry) Manifest(ctx context.Context, repository, reference string) ([]byte, string, string, error) {
	repo, err := g.repo(repository)
	if err != nil {
		return nil, "", "", err
	}
	var ref name.Reference = repo.Tag(reference)
	if h, err := v1.NewHash(reference); err == nil {
		ref = repo.Digest(h.String())
	}
	d, err := remote.Get(ref, remote.WithContext(ctx))
	if err != nil {
		return nil, "", "", mapErr(err)
	}
	return d.Manifest, string(d.MediaType), d.Digest.String(), nil
}

func (g remoteRegistry) OpenBlob(ctx context.Context, repository, digest string) (io.ReadCloser, error) {
	repo, err := g.repo(repository)
	if err != nil {
		return nil, err
	}
	l, err := remote.Layer(repo.Digest(digest), remote.WithContext(ctx))
	if err != nil {
		return nil, mapErr(err)
	}
	rc, err := l.Compressed() // verified against the digest at EOF
	return rc, mapErr(err)
}

func (g remoteRegistry) PushBlob(ctx context.Context, repository, digest string, size int64, body io.Reader) error {
	repo, err := g.repo(repository)
	if err != nil {
		return err
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return err
	}
	return mapErr(remote.WriteLayer(repo, streamLayer{h, size, body}, remote.WithContext(ctx)))
}

func (g remoteRegistry) PutManifest(ctx context.Context, repository, reference string, raw []byte, mediaType string) (string, error) {
	repo, err := g.repo(repository)
	if err != nil {
		return "", err
	}
	if err := remote.Put(repo.Tag(reference), rawManifest{raw, types.MediaType(mediaType)}, remote.WithContext(ctx)); err != nil {
		return "", mapErr(err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	return h.String(), err
}

func (g remoteRegistry) DeleteManifest(ctx context.Context, repository, digest string) error {
	repo, err := g.repo(repository)
	if err != nil {
		return err
	}
	return mapErr(remote.Delete(repo.Digest(digest), remote.WithContext(ctx)))
}

func (g remoteRegistry) Referrers(ctx context.Context, repository, digest string) ([]v1.Descriptor, error) {
	repo, err := g.repo(repository)
	if err != nil {
		return nil, err
	}
	idx, err := remote.Referrers(repo.Digest(digest), remote.WithContext(ctx))
	if err != nil {
		return nil, mapErr(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return m.Manifests, nil
}

// streamLayer is a blob pushed from a reader whose digest and size are known up front.
type streamLayer struct {
	digest v1.Hash
	size   int64
	body   io.Reader
}

func (l streamLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l streamLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l streamLayer) Compressed() (io.ReadCloser, error)   { return io.NopCloser(l.body), nil }
func (l streamLayer) Uncompressed() (io.ReadCloser, error) { return io.NopCloser(l.body), nil }
func (l streamLayer) Size() (int64, error)                 { return l.size, nil }
func (l streamLayer) MediaType() (types.MediaType, error) {
	return types.MediaType("application/octet-stream"), nil
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }
