package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// ManifestLister enumerates every manifest a repository holds, straight from the registry's
// storage: the embedded registry has it (distribution's ManifestEnumerator), the registry API
// does not. It is called only after the caller's own registry answer for the repository.
type ManifestLister interface {
	// RepositoryManifests calls fn with each manifest digest of repository; fn's error ends
	// the walk and is returned. A repository without storage has none.
	RepositoryManifests(ctx context.Context, repository string, fn func(digest string) error) error
}

// Bounds of one untagged listing, so one request does a bounded amount of work: digests
// considered (enumerated or seen), manifests answered, tags resolved (each with a fresh HEAD),
// manifests read below the tagged ones and how deep, and HEADs of subjects and parent
// indexes.
const (
	maxUntaggedScan  = 5000
	maxUntagged      = 1000
	maxUntaggedTags  = 2000
	maxKeepWalk      = 5000
	maxKeepDepth     = 4
	maxUntaggedHeads = 512
)

var errScanFull = errors.New("scan bound reached")

func tooManyTags(n int) error {
	return httperr.New(api.CodeTooLarge, fmt.Sprintf("The repository has %d tags; untagged manifests are listed for repositories of at most %d tags.", n, maxUntaggedTags))
}

// Untagged lists the manifests of repository that no tag points to and that are neither a
// child of an index still there (tagged or not) nor a referrer (signature, SBOM, attestation)
// whose subject is still there: those go with what they belong to and are not offered as
// garbage. With a ManifestLister the list is complete; otherwise it is built from the digests
// Berth saw in the repository, each confirmed by the registry just now.
//
// Where an index outside what was scanned could still list a manifest (the registry cannot
// list its manifests, or the scan stopped at its bound), a manifest is listed only with
// evidence that it stood alone (a tag once pointed to it, or it is an index or a referrer)
// and when no index Berth recorded listing it is still there; the others are counted in
// Withheld, never offered. Tags are read fresh from the registry, not from the cache: a
// delete decision rests on them.
func (s *Service) Untagged(ctx context.Context, repository string) (api.UntaggedPage, error) {
	if err := s.authorize(ctx, repository); err != nil {
		return api.UntaggedPage{Repository: repository, Manifests: []api.UntaggedManifest{}}, err
	}
	// One listing per caller and repository at a time: a second tab or a retry shares it.
	v, err, _ := s.flight.Do("untagged/"+flightKey(ctx)+"/"+repository, func() (any, error) {
		return s.untagged(ctx, repository)
	})
	page, _ := v.(api.UntaggedPage)
	if page.Manifests == nil {
		page = api.UntaggedPage{Repository: repository, Manifests: []api.UntaggedManifest{}}
	}
	return page, err
}

func (s *Service) untagged(ctx context.Context, repository string) (api.UntaggedPage, error) {
	page := api.UntaggedPage{Repository: repository, Manifests: []api.UntaggedManifest{}}
	if s.lister == nil && s.idx == nil {
		return page, httperr.New(api.CodeNotAvailable, "Listing untagged manifests needs the embedded registry or Berth's metadata index (a --database), which this Berth runs without.")
	}
	// A list this caller had within moments that is already past the bound answers at once:
	// the repository page asks on every visit, and listing 10,000 tags again to refuse costs.
	// Berth's authorizer has allowed the caller above; the registry answered them this list
	// within a minute. At worst a repository cut below the bound behind Berth's back is
	// refused for that minute: a refusal, never a listing or a delete.
	if names, ok := s.recentTagNames(ctx, repository); ok && len(names) > maxUntaggedTags {
		return page, tooManyTags(len(names))
	}
	names, err := s.reg.Tags(ctx, repository)
	if err != nil && !httperr.Is(err, api.CodeNotFound) {
		return page, err // the registry's word on access comes first
	}
	if len(names) > maxUntaggedTags {
		return page, tooManyTags(len(names))
	}
	var candidates []string
	if s.lister != nil {
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
	} else {
		page.Source = api.UntaggedSeen
		seen, err := s.idx.RepositoryManifests(ctx, repository, maxUntaggedScan+1)
		if err != nil {
			return page, storeDown(err)
		}
		if len(seen) > maxUntaggedScan {
			seen, page.More = seen[:maxUntaggedScan], true
		}
		candidates = seen
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	// Short of every manifest, an index not scanned could list any of the candidates.
	uncertain := page.Source == api.UntaggedSeen || page.More

	roots, err := s.resolveTags(ctx, repository, names)
	if err != nil {
		return page, err
	}
	// kept holds what must stay: tagged manifests and, transitively, their children.
	kept := map[string]bool{}
	if err := s.keepChildren(ctx, repository, roots, kept); err != nil {
		return page, err
	}

	var rest []string
	for _, d := range candidates {
		if !kept[d] {
			rest = append(rest, d)
		}
	}
	// Read each remaining one: confirmed to exist and with its kind, size, subject and
	// children. Where the candidates are only what Berth saw, the registry is asked about each
	// first, since the cache and the index answer for manifests deleted behind Berth's back.
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
			if page.Source == api.UntaggedSeen {
				if _, err := s.reg.Head(gctx, repository, d); httperr.Is(err, api.CodeNotFound) {
					return nil // deleted since Berth saw it
				} else if err != nil {
					return err
				}
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
	// present: confirmed in the repository; absent: confirmed gone (asked just now).
	present, absent := map[string]bool{}, map[string]bool{}
	for d := range kept {
		present[d] = true
	}
	for i, d := range rest {
		if sums[i].present {
			present[d] = true
		} else {
			absent[d] = true
		}
	}
	// Children of an untagged index stay with it: deleting the index lists them next.
	children := map[string]bool{}
	for i, d := range rest {
		if sums[i].present {
			for _, c := range sums[i].sum.m.Manifests {
				if c.Digest.String() != d {
					children[c.Digest.String()] = true
				}
			}
		}
	}
	var listable []int
	for i, d := range rest {
		if sums[i].present && !children[d] {
			listable = append(listable, i)
		}
	}

	// Where an index outside the scan could list a candidate: only one with evidence that it
	// stood alone, and no index Berth recorded listing it still there.
	heads := headBudget{left: maxUntaggedHeads}
	if uncertain {
		var hist map[string]store.ManifestHistory
		if s.idx != nil {
			ds := make([]string, len(listable))
			for j, i := range listable {
				ds[j] = rest[i]
			}
			if hist, err = s.idx.ManifestHistory(ctx, repository, ds); err != nil {
				return page, storeDown(err)
			}
		}
		var parents []string
		for _, i := range listable {
			parents = append(parents, hist[rest[i]].Parents...)
		}
		gone, err := s.gone(ctx, repository, parents, present, absent, &heads)
		if err != nil {
			return page, err
		}
		listable = slices.DeleteFunc(listable, func(i int) bool {
			d, sum := rest[i], sums[i].sum
			alone := hist[d].Tagged || len(sum.m.Manifests) > 0 || sum.m.Subject != nil
			for _, p := range hist[d].Parents {
				if present[p] {
					return true // goes with its index, like any child
				}
				if !gone[p] {
					alone = false // an index that may still be there lists it
				}
			}
			if !alone {
				page.Withheld++
			}
			return !alone
		})
	}

	// Referrers go with their subject while it is there.
	var subjects []string
	for _, i := range listable {
		if subj := sums[i].sum.m.Subject; subj != nil {
			subjects = append(subjects, subj.Digest.String())
		}
	}
	gone, err := s.gone(ctx, repository, subjects, present, absent, &heads)
	if err != nil {
		return page, err
	}
	for _, i := range listable {
		d, f := rest[i], sums[i]
		if subj := f.sum.m.Subject; subj != nil && !gone[subj.Digest.String()] {
			if !present[subj.Digest.String()] {
				page.Withheld++ // its subject could not be confirmed either way
			}
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

// resolveTags resolves every tag with a HEAD at the registry (no cache: a tag moved a moment
// ago must keep its new manifest), at the client's concurrency. A tag deleted since the list
// was read is left out: what it pointed to is as untagged as it looks.
func (s *Service) resolveTags(ctx context.Context, repository string, names []string) ([]string, error) {
	digests := make([]string, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.reg.Concurrency())
	for i, t := range names {
		g.Go(func() error {
			d, err := s.reg.Head(gctx, repository, t)
			switch {
			case httperr.Is(err, api.CodeNotFound):
			case err != nil:
				return err
			default:
				digests[i] = d.Digest.String()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(digests, func(d string) bool { return d == "" }), nil
}

// keepChildren marks roots and, through index manifests, every manifest they include. A
// child the registry no longer has is simply absent (platform-filtered mirrors keep only
// some); the walk is bounded in manifests read and in depth.
func (s *Service) keepChildren(ctx context.Context, repository string, roots []string, kept map[string]bool) error {
	var mu sync.Mutex
	read := 0
	for depth := 0; len(roots) > 0; depth++ {
		var next []string
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.reg.Concurrency())
		for _, d := range roots {
			if kept[d] {
				continue
			}
			kept[d] = true
			if depth > maxKeepDepth || read == maxKeepWalk {
				return httperr.New(api.CodeTooLarge, fmt.Sprintf("The tagged manifests include more than %d manifests, or indexes nested deeper than %d; untagged manifests are not listed.", maxKeepWalk, maxKeepDepth))
			}
			read++
			g.Go(func() error {
				h, err := v1.NewHash(d)
				if err != nil {
					return nil
				}
				raw, err := s.manifest(gctx, repository, h)
				if httperr.Is(err, api.CodeNotFound) {
					return nil
				}
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

// headBudget bounds the HEADs one listing sends for subjects and parent indexes.
type headBudget struct{ left int }

// gone asks the registry, at the client's concurrency and within the budget, about each of
// digests that is neither known present nor known absent, and returns those confirmed
// absent (404). Any other answer, and a digest past the budget, counts as possibly there.
func (s *Service) gone(ctx context.Context, repository string, digests []string, present, absent map[string]bool, b *headBudget) (map[string]bool, error) {
	out, asked := map[string]bool{}, map[string]bool{}
	var ask []string
	for _, d := range digests {
		switch {
		case absent[d]:
			out[d] = true
		case present[d] || asked[d]:
		case b.left == 0: // past the budget: possibly there
		default:
			b.left--
			asked[d] = true
			ask = append(ask, d)
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.reg.Concurrency())
	for _, d := range ask {
		g.Go(func() error {
			_, err := s.reg.Head(gctx, repository, d)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case httperr.Is(err, api.CodeNotFound):
				out[d], absent[d] = true, true
			case err == nil:
				present[d] = true
			}
			return gctx.Err()
		})
	}
	return out, g.Wait()
}
