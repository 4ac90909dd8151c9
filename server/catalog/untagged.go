package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// ManifestLister enumerates every manifest a repository holds, straight from the registry's
// storage: the embedded registry has it (distribution's ManifestEnumerator), the registry API
// does not. It is called only after the caller's own registry answer for the repository.
type ManifestLister interface {
	// RepositoryManifests calls fn with each manifest digest of repository; fn's error ends
	// the walk and is returned. A repository without storage has none.
	RepositoryManifests(ctx context.Context, repository string, fn func(digest string) error) error
}

// Bounds of one untagged listing: digests considered (enumerated or seen) and manifests
// answered.
const (
	maxUntaggedScan = 5000
	maxUntagged     = 1000
)

var errScanFull = errors.New("scan bound reached")

// Untagged lists the manifests of repository that no tag points to and that are neither a
// child of an index still there (tagged or not) nor a referrer (signature, SBOM, attestation)
// whose subject is still there: those go with what they belong to and are not offered as
// garbage. With a ManifestLister the list is complete; otherwise it is built from the digests
// Berth saw in the repository, each confirmed by the registry. If any tag cannot be resolved
// nothing is listed, since its manifest could be among them.
func (s *Service) Untagged(ctx context.Context, repository string) (api.UntaggedPage, error) {
	page := api.UntaggedPage{Repository: repository, Manifests: []api.UntaggedManifest{}}
	if err := s.authorize(ctx, repository); err != nil {
		return page, err
	}
	names, err := s.tagNames(ctx, repository)
	if err != nil && !httperr.Is(err, api.CodeNotFound) {
		return page, err // the registry's word on access comes first
	}
	var candidates []string
	switch {
	case s.lister != nil:
		page.Source = api.UntaggedComplete
		err := s.lister.RepositoryManifests(ctx, repository, func(d string) error {
			if len(candidates) == maxUntaggedScan {
				page.More = true
				return errScanFull
			}
			candidates = append(candidates, d)
			return nil
		})
		if err != nil && !errors.Is(err, errScanFull) {
			return page, err
		}
	case s.idx != nil:
		page.Source = api.UntaggedSeen
		seen, err := s.idx.RepositoryManifests(ctx, repository, maxUntaggedScan+1)
		if err != nil {
			return page, err
		}
		if len(seen) > maxUntaggedScan {
			seen, page.More = seen[:maxUntaggedScan], true
		}
		candidates = seen
	default:
		return page, httperr.New(api.CodeNotFound, "Listing untagged manifests needs the embedded registry or Berth's metadata index (a --database).")
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)

	tagged, err := s.reg.HeadAll(ctx, repository, names)
	if err != nil {
		return page, err
	}
	// kept holds what must stay: tagged manifests and, transitively, their children.
	kept := map[string]bool{}
	var roots []string
	for _, d := range tagged {
		roots = append(roots, d.Digest.String())
	}
	if err := s.keepChildren(ctx, repository, roots, kept); err != nil {
		return page, err
	}

	var rest []string
	for _, d := range candidates {
		if !kept[d] {
			rest = append(rest, d)
		}
	}
	// Read each remaining one: confirmed to exist (the registry answered for this very
	// digest), with its kind, size, subject and children.
	type found struct {
		sum     summary
		err     error
		present bool
	}
	sums := make([]found, len(rest))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.reg.Concurrency())
	for i, d := range rest {
		g.Go(func() error {
			h, err := v1.NewHash(d)
			if err != nil {
				return nil
			}
			sum, err := s.summarize(gctx, repository, h, "")
			if sum.raw == nil {
				if httperr.Is(err, api.CodeNotFound) {
					return nil // deleted since Berth saw it
				}
				if err != nil {
					return err
				}
			}
			sums[i] = found{sum: sum, err: err, present: true}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return page, err
	}
	present := map[string]bool{}
	for d := range kept {
		present[d] = true
	}
	for i, d := range rest {
		if sums[i].present {
			present[d] = true
		}
	}
	// Children of an untagged index stay with it: deleting the index lists them next.
	children := map[string]bool{}
	for i, d := range rest {
		if sums[i].present && len(sums[i].sum.m.Manifests) > 0 {
			for _, c := range sums[i].sum.m.Manifests {
				if c.Digest.String() != d {
					children[c.Digest.String()] = true
				}
			}
		}
	}
	for i, d := range rest {
		f := sums[i]
		if !f.present || children[d] {
			continue
		}
		if subj := f.sum.m.Subject; subj != nil && s.exists(ctx, repository, subj.Digest, present) {
			continue
		}
		if len(page.Manifests) == maxUntagged {
			page.More = true
			break
		}
		m := api.UntaggedManifest{
			Digest: d, MediaType: string(f.sum.m.MediaType), Kind: f.sum.kind, ArtifactType: f.sum.artifactType,
			Size: f.sum.size, Created: f.sum.created,
		}
		if f.err != nil {
			m.Error = registry.Describe(f.err)
		}
		page.Manifests = append(page.Manifests, m)
	}
	if err := ctx.Err(); err != nil {
		return page, err
	}
	return page, nil
}

// keepChildren marks roots and, through index manifests, every manifest they include.
func (s *Service) keepChildren(ctx context.Context, repository string, roots []string, kept map[string]bool) error {
	var mu sync.Mutex
	for len(roots) > 0 {
		var next []string
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.reg.Concurrency())
		for _, d := range roots {
			if kept[d] {
				continue
			}
			kept[d] = true
			g.Go(func() error {
				h, err := v1.NewHash(d)
				if err != nil {
					return nil
				}
				raw, err := s.manifest(gctx, repository, h)
				if err != nil {
					return err
				}
				var m manifest
				if json.Unmarshal(raw, &m) != nil {
					return nil
				}
				mu.Lock()
				for _, c := range m.Manifests {
					next = append(next, c.Digest.String())
				}
				mu.Unlock()
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		roots = next
	}
	return nil
}

// exists reports whether digest is in the repository: known present, or so says the registry.
func (s *Service) exists(ctx context.Context, repository string, digest v1.Hash, present map[string]bool) bool {
	if present[digest.String()] {
		return true
	}
	_, err := s.reg.Head(ctx, repository, digest.String())
	return err == nil || !httperr.Is(err, api.CodeNotFound)
}
