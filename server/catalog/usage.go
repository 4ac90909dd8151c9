package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Usage reports what a repository stores with shared blobs counted once and, when del names
// a manifest digest, what deleting that manifest would free: the blobs and manifests that no
// other tag reaches. Deleting a tag alone frees nothing, and nothing is freed before the
// registry's garbage collection runs.
func (s *Service) Usage(ctx context.Context, repository, del string) (api.Usage, error) {
	if err := s.authorize(ctx, repository); err != nil {
		return api.Usage{}, err
	}
	defer s.reval.answering(repository, false)() // as tag answers, but not ahead of them (revalidate.go)
	var delHash v1.Hash
	if del != "" {
		if err := registry.ValidateDigest(del); err != nil {
			return api.Usage{}, err
		}
		// Asked of the registry as this principal before anything cached is used: the
		// answer must not tell someone the registry refuses that the manifest exists.
		d, err := s.reg.Head(ctx, repository, del)
		if err != nil {
			return api.Usage{}, err
		}
		delHash = d.Digest
	}
	names, err := s.tagNames(ctx, repository)
	if err != nil {
		return api.Usage{}, err
	}
	out := api.Usage{Repository: repository, Tags: len(names), Delete: del}

	// Resolve every tag (from the index where it can), then walk each distinct manifest once.
	// What a delete would free rests on where the tags point now: rows past the TTL are
	// asked of the registry then. A plain usage takes them as they are, unless one names a
	// manifest gone since.
	digests, err := s.tagDigests(ctx, repository, names, del != "")
	if err != nil {
		return out, err
	}
	memoKey, mapping := principalOf(ctx)+"\x00"+repository, mappingSum(digests)
	if u, ok := s.usageMemo.get(memoKey, mapping); ok && del == "" {
		return u, nil // the tags point where they did: the same answer (usage_memo.go)
	}
	reach, err := s.reaches(ctx, repository, digests)
	if httperr.Is(err, api.CodeNotFound) && del == "" {
		if digests, err = s.tagDigests(ctx, repository, names, true); err != nil {
			return out, err
		}
		mapping = mappingSum(digests)
		reach, err = s.reaches(ctx, repository, digests)
	}
	if err != nil {
		return out, err
	}
	all, kept := map[string]int64{}, map[string]int64{}
	for _, h := range digests {
		for d, n := range reach[h] {
			all[d] = n
			out.Listed += n
			if del == "" || h != delHash {
				kept[d] = n
			}
		}
	}
	for _, n := range all {
		out.Stored += n
	}
	if del == "" {
		s.usageMemo.put(memoKey, mapping, out)
		return out, nil
	}
	// The manifest may be untagged already; what it reaches is still what it would free.
	target := map[string]int64{}
	if err := s.walk(ctx, repository, delHash, target); err != nil {
		return out, fmt.Errorf("manifest %s@%s: %w", repository, del, err)
	}
	for d, n := range target {
		if _, ok := kept[d]; !ok {
			out.Frees += n
		}
	}
	return out, nil
}

// tagDigests resolves names to the digests they point to: from the metadata index where it
// has a row, as tag pages do (a row older than the TTL is used and confirmed in the
// background, so a repository of 10,000 tags costs no storm of HEADs), else from the
// registry. With current, a row older than the TTL is asked of the registry instead.
func (s *Service) tagDigests(ctx context.Context, repository string, names []string, current bool) ([]v1.Hash, error) {
	var order []store.TagOrder
	var byName map[string]int
	if s.idx != nil {
		var err error
		order, byName, err = s.tagOrder(ctx, repository, len(names)) // the narrow read: digests suffice
		if err != nil && ctx.Err() == nil {
			slog.Warn("index: read tags", "repository", repository, "err", err)
		}
	}
	digests := make([]v1.Hash, len(names))
	errs := make([]error, len(names))
	var stale []string
	var wg errgroup.Group
	wg.SetLimit(describeWorkers) // as tag pages: bounded, whatever the tag count
	for i, t := range names {
		if at, ok := byName[t]; ok && (!current || s.fresh(order[at].Checked)) {
			row := order[at]
			if h, err := v1.NewHash(row.Digest); err == nil {
				digests[i] = h
				if !s.fresh(row.Checked) {
					stale = append(stale, t)
				}
				continue
			}
		}
		wg.Go(func() error {
			desc, err := s.head(ctx, repository, t)
			digests[i], errs[i] = desc.Digest, err
			return nil
		})
	}
	_ = wg.Wait() // failures are in errs
	if len(stale) > 0 {
		s.revalidate(ctx, repository, stale)
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("tag %s:%s: %w", repository, names[i], err)
		}
	}
	return digests, nil
}

// reaches walks each distinct digest once, a bounded number at a time, and returns what each
// reaches.
func (s *Service) reaches(ctx context.Context, repository string, digests []v1.Hash) (map[v1.Hash]map[string]int64, error) {
	distinct := slices.Clone(digests)
	slices.SortFunc(distinct, func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) })
	distinct = slices.Compact(distinct)
	reach := make(map[v1.Hash]map[string]int64, len(distinct))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	holdBack := time.Now().Add(maxHoldBack)
	for _, h := range distinct {
		s.reval.behindAnswers(gctx, repository, holdBack)
		g.Go(func() error {
			seen := map[string]int64{}
			if err := s.walk(gctx, repository, h, seen); err != nil {
				return fmt.Errorf("manifest %s@%s: %w", repository, h, err)
			}
			mu.Lock()
			reach[h] = seen
			mu.Unlock()
			return nil
		})
	}
	return reach, g.Wait()
}

// maxHoldBack is how long one storage answer waits in all for pages being built meanwhile.
const maxHoldBack = 300 * time.Millisecond

// maxWalk bounds the manifests and blobs one walk visits; a real image has tens.
const maxWalk = 100_000

// walk adds to seen every manifest and blob a manifest reaches, with their sizes: an index
// reaches its manifests and what they reach, an image its config and layers. A manifest
// already seen is not walked again, so an index listing one child many times, nested, costs
// what its distinct nodes cost, not their product; the walk stops past maxWalk nodes.
func (s *Service) walk(ctx context.Context, repository string, digest v1.Hash, seen map[string]int64) error {
	if _, ok := seen[digest.String()]; ok {
		return nil
	}
	if len(seen) >= maxWalk {
		return httperr.New(api.CodeTooLarge, fmt.Sprintf("The repository references more than %d manifests and blobs; its usage is not computed.", maxWalk))
	}
	raw, err := s.manifest(ctx, repository, digest)
	if err != nil {
		return err
	}
	seen[digest.String()] = int64(len(raw))
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest %s is not valid JSON: %w", digest, err)
	}
	if m.Config.Digest.Hex != "" {
		seen[m.Config.Digest.String()] = m.Config.Size
	}
	for _, l := range m.Layers {
		seen[l.Digest.String()] = l.Size
	}
	for _, child := range m.Manifests {
		if err := s.walk(ctx, repository, child.Digest, seen); err != nil {
			return err
		}
	}
	return nil
}
