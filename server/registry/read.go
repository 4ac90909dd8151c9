package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// MaxDocument bounds a manifest or config read into memory; real ones are kilobytes.
const MaxDocument = 8 << 20

// largeCatalogPage is the catalog page size asked for first.
const largeCatalogPage = 10_000

// Manifest is a manifest as the registry served it.
type Manifest struct {
	// Descriptor has the digest (computed from Raw), media type and size.
	Descriptor v1.Descriptor
	// Raw is the manifest's bytes, verified against the digest.
	Raw []byte
}

// Catalog returns every repository name the principal in ctx may list, in the registry's
// order.
func (c *Client) Catalog(ctx context.Context) ([]string, error) {
	var names []string
	err := c.CatalogPages(ctx, func(page []string) error {
		names = append(names, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// CatalogPages walks the repository names the principal in ctx may list, handing each page
// to fn as it arrives (so a first screen need not wait for the whole walk); an error from fn
// ends the walk with it. Large pages make a 100,000-repository catalog a few requests instead
// of a hundred; registries that cap the page size (distribution's catalog.maxentries, 1000 by
// default) refuse them with 400 and get the default size instead.
func (c *Client) CatalogPages(ctx context.Context, fn func(page []string) error) error {
	if c.noCatalog {
		return httperr.New(api.CodeNotFound, "This registry's catalog is not used (noCatalog).")
	}
	// A catalog walk is many requests; it gets the deadline of each of them, not one.
	release, err := c.slot(ctx)
	if err != nil {
		return err
	}
	defer release()
	auth := c.principal(ctx).Auth
	var fnErr error
	walk := func(pageSize int) (started bool, err error) {
		p, err := remote.NewPuller(append(c.options(auth), remote.WithPageSize(pageSize))...)
		if err != nil {
			return false, err
		}
		pages, err := p.Catalogger(ctx, c.reg)
		if err != nil {
			return false, err
		}
		for pages.HasNext() {
			page, err := pages.Next(ctx)
			if err != nil {
				return true, err
			}
			started = true
			if fnErr = fn(slices.DeleteFunc(page.Repos, func(n string) bool { return n == "" })); fnErr != nil {
				return true, fnErr
			}
		}
		return true, nil
	}
	started, err := walk(largeCatalogPage)
	if !started && Status(err) == http.StatusBadRequest {
		_, err = walk(0)
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return c.explain(err, "the repository list")
	}
	return nil
}

// slot takes a concurrency slot without a deadline, for walks made of many requests.
func (c *Client) slot(ctx context.Context) (func(), error) {
	select {
	case c.sem <- struct{}{}:
		return func() { <-c.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Tags lists a repository's tags, following the registry's pagination, sorted. A list the
// Authorizer just read for the same caller (its access check) is handed over instead of
// being asked for again.
func (c *Client) Tags(ctx context.Context, repository string) ([]string, error) {
	if key, ok := handoffKey(ctx, c.principal(ctx).Key, repository); ok {
		if names, ok := c.handoff.take(key); ok {
			return names, nil
		}
	}
	return c.tags(ctx, repository)
}

func (c *Client) tags(ctx context.Context, repository string) ([]string, error) {
	repo, err := c.Repository(repository)
	if err != nil {
		return nil, err
	}
	p, err := c.puller(ctx)
	if err != nil {
		return nil, err
	}
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	names, err := p.List(ctx, repo)
	if err != nil {
		return nil, c.explain(err, "repository "+repository)
	}
	slices.Sort(names)
	return names, nil
}

// firstTags asks for a repository's first page of tags, of one tag (what the registry checks
// access with), and reports whether that page is surely the whole list: a registry that
// ignores the page size answers every tag, and then the list is had for free.
func (c *Client) firstTags(ctx context.Context, repository string) (names []string, whole bool, err error) {
	repo, err := c.Repository(repository)
	if err != nil {
		return nil, false, err
	}
	p, err := c.prober(ctx)
	if err != nil {
		return nil, false, err
	}
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer done()
	l, err := p.Lister(ctx, repo)
	if err != nil {
		return nil, false, c.explain(err, "repository "+repository)
	}
	page, err := l.Next(ctx)
	if err != nil {
		return nil, false, c.explain(err, "repository "+repository)
	}
	names = slices.Clone(page.Tags)
	slices.Sort(names)
	// One tag and no next page may be a first page that did not say so (the spec leaves the
	// Link header to the registry): only none, or more than asked for, is surely all.
	return names, !l.HasNext() && len(names) != 1, nil
}

// Head resolves a tag or digest to its descriptor without reading the manifest.
func (c *Client) Head(ctx context.Context, repository, ref string) (v1.Descriptor, error) {
	r, err := c.Reference(repository, ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	p, err := c.puller(ctx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer done()
	d, err := p.Head(ctx, r)
	if err != nil {
		return v1.Descriptor{}, c.explain(err, what(repository, ref))
	}
	return *d, nil
}

// Get reads the manifest a tag or digest names, verified against its digest.
func (c *Client) Get(ctx context.Context, repository, ref string) (Manifest, error) {
	r, err := c.Reference(repository, ref)
	if err != nil {
		return Manifest{}, err
	}
	p, err := c.puller(ctx)
	if err != nil {
		return Manifest{}, err
	}
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return Manifest{}, err
	}
	defer done()
	d, err := p.Get(ctx, r)
	if err != nil {
		return Manifest{}, c.explain(err, what(repository, ref))
	}
	if len(d.Manifest) > MaxDocument {
		return Manifest{}, c.explain(fmt.Errorf("larger than %d bytes", MaxDocument), what(repository, ref))
	}
	return Manifest{Descriptor: d.Descriptor, Raw: d.Manifest}, nil
}

// Manifest reads a manifest: its bytes, media type and digest.
func (c *Client) Manifest(ctx context.Context, repository, reference string) (raw []byte, mediaType, digest string, err error) {
	m, err := c.Get(ctx, repository, reference)
	if err != nil {
		return nil, "", "", err
	}
	return m.Raw, string(m.Descriptor.MediaType), m.Descriptor.Digest.String(), nil
}

// ReadBlob reads a small blob (an image config, an SBOM) whole, up to max bytes, verified
// against its digest.
func (c *Client) ReadBlob(ctx context.Context, repository, digest string, max int64) ([]byte, error) {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	rc, err := c.openBlob(ctx, repository, digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// Reading to EOF makes go-containerregistry verify the digest.
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, c.explain(err, "blob "+digest)
	}
	if int64(len(b)) > max {
		return nil, c.explain(fmt.Errorf("larger than %d bytes", max), "blob "+digest)
	}
	return b, nil
}

// OpenBlob streams a blob; the stream fails at EOF if the bytes do not match the digest. The
// caller's context bounds the whole read.
func (c *Client) OpenBlob(ctx context.Context, repository, digest string) (io.ReadCloser, error) {
	release, err := c.slot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return c.openBlob(ctx, repository, digest)
}

func (c *Client) openBlob(ctx context.Context, repository, digest string) (io.ReadCloser, error) {
	l, err := c.Layer(ctx, repository, digest)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, c.explain(err, "blob "+digest)
	}
	return rc, nil
}

// Layer returns a blob as a go-containerregistry layer, read lazily, for copies.
func (c *Client) Layer(ctx context.Context, repository, digest string) (v1.Layer, error) {
	repo, err := c.Repository(repository)
	if err != nil {
		return nil, err
	}
	if err := ValidateDigest(digest); err != nil {
		return nil, err
	}
	p, err := c.puller(ctx)
	if err != nil {
		return nil, err
	}
	l, err := p.Layer(ctx, repo.Digest(digest))
	if err != nil {
		return nil, c.explain(err, "blob "+digest)
	}
	return l, nil
}

func what(repository, ref string) string {
	if IsDigest(ref) {
		return "manifest " + repository + "@" + ref
	}
	return "tag " + repository + ":" + ref
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// HasRepositoryUnder reports whether some repository is named prefix/… . Registries list the
// catalog in lexical order from after ?last=, and every name starting "prefix/" sorts right
// after "prefix/" itself, so the first page after it answers; a registry that refuses that
// form gets the whole walk, stopped at the first match.
func (c *Client) HasRepositoryUnder(ctx context.Context, prefix string) (bool, error) {
	want := prefix + "/"
	bctx, done, err := c.begin(ctx)
	if err != nil {
		return false, err
	}
	page, err := remote.CatalogPage(c.reg, want, 1, append(c.options(c.principal(ctx).Auth), remote.WithContext(bctx))...)
	done()
	if err == nil {
		return len(page) > 0 && strings.HasPrefix(page[0], want), nil
	}
	found := errors.New("found")
	err = c.CatalogPages(ctx, func(page []string) error {
		for _, n := range page {
			if strings.HasPrefix(n, want) {
				return found
			}
		}
		return nil
	})
	if err == found {
		return true, nil
	}
	return false, err
}

// CatalogRefused reports whether err is the registry refusing the principal in ctx its
// catalog while it may hold repositories they can read: GitLab, GHCR and Harbor (to
// non-administrators) answer /v2/_catalog with 401, 403 or 404. A 401 is a refusal only for
// credentials the registry accepts otherwise: anonymously it asks for them, and wrong ones
// must not pass for a registry without a catalog.
func (c *Client) CatalogRefused(ctx context.Context, err error) bool {
	switch Status(err) {
	case http.StatusForbidden, http.StatusNotFound:
		return true
	case http.StatusUnauthorized:
		auth := c.principal(ctx).Auth
		return auth != authn.Anonymous && c.CheckCredentials(ctx, auth) == nil
	}
	return false
}
