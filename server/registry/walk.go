package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// TagDigests resolves every tag of a repository to its descriptor with HEAD requests, at most
// the client's concurrency at once. The first failure ends the walk.
func (c *Client) TagDigests(ctx context.Context, repository string) (map[string]v1.Descriptor, error) {
	tags, err := c.Tags(ctx, repository)
	if err != nil {
		return nil, err
	}
	return c.HeadAll(ctx, repository, tags)
}

// HeadAll resolves the given tags of a repository, bounded by the client's concurrency.
func (c *Client) HeadAll(ctx context.Context, repository string, tags []string) (map[string]v1.Descriptor, error) {
	var mu sync.Mutex
	out := make(map[string]v1.Descriptor, len(tags))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(c.Concurrency())
	for _, t := range tags {
		eg.Go(func() error {
			d, err := c.Head(ectx, repository, t)
			if err != nil {
				return err
			}
			mu.Lock()
			out[t] = d
			mu.Unlock()
			return nil
		})
	}
	return out, eg.Wait()
}

// Referrers lists the manifests whose subject is digest, through the OCI 1.1 referrers API
// or, where the registry lacks it, the tag-schema fallback (an index tagged sha256-<hex>).
func (c *Client) Referrers(ctx context.Context, repository, digest string) ([]v1.Descriptor, error) {
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
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	idx, err := remote.Referrers(repo.Digest(digest), remote.Reuse(p), remote.WithContext(ctx))
	if err != nil {
		return nil, c.explain(err, "referrers of "+repository+"@"+digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, c.explain(err, "referrers of "+repository+"@"+digest)
	}
	return im.Manifests, nil
}

// TaggedReferrer is a manifest found under a cosign-style tag named after its subject.
type TaggedReferrer struct {
	Tag        string
	Descriptor v1.Descriptor
}

// ReferrerTags finds cosign's tags for digest (sha256-<hex>.sig, .att, .sbom) among the
// repository's tags and resolves each.
func (c *Client) ReferrerTags(ctx context.Context, repository, digest string) ([]TaggedReferrer, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, ValidateDigest(digest)
	}
	tags, err := c.Tags(ctx, repository)
	if err != nil {
		return nil, err
	}
	prefix := ReferrerTagPrefix(h)
	var mine []string
	for _, t := range tags {
		if strings.HasPrefix(t, prefix) {
			mine = append(mine, t)
		}
	}
	descs, err := c.HeadAll(ctx, repository, mine)
	if err != nil {
		return nil, err
	}
	out := make([]TaggedReferrer, 0, len(mine))
	for _, t := range mine {
		out = append(out, TaggedReferrer{Tag: t, Descriptor: descs[t]})
	}
	return out, nil
}

// AllReferrers is Referrers and ReferrerTags together, each found once; either way failing
// is reported while what the other found is kept.
func (c *Client) AllReferrers(ctx context.Context, repository, digest string) ([]TaggedReferrer, error) {
	var (
		api, tagged []TaggedReferrer
		errs        [2]error
		wg          sync.WaitGroup
	)
	wg.Go(func() {
		ds, err := c.Referrers(ctx, repository, digest)
		for _, d := range ds {
			api = append(api, TaggedReferrer{Descriptor: d})
		}
		errs[0] = err
	})
	wg.Go(func() {
		tagged, errs[1] = c.ReferrerTags(ctx, repository, digest)
		if errs[1] != nil {
			errs[1] = fmt.Errorf("cosign tags: %w", errs[1])
		}
	})
	wg.Wait()
	seen := map[v1.Hash]bool{}
	var out []TaggedReferrer
	for _, r := range append(tagged, api...) {
		if !seen[r.Descriptor.Digest] {
			seen[r.Descriptor.Digest] = true
			out = append(out, r)
		}
	}
	return out, errors.Join(errs[0], errs[1])
}
