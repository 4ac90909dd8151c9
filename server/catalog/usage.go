package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Usage reports what a repository stores with shared blobs counted once and, when del names
// a manifest digest, what deleting that manifest would free: the blobs and manifests that no
// other tag reaches. Deleting a tag alone frees nothing, and nothing is freed before the
// registry's garbage collection runs.
func (s *Service) Usage(ctx context.Context, repository, del string) (api.Usage, error) {
	repo, err := s.repository(repository)
	if err != nil {
		return api.Usage{}, err
	}
	var delHash v1.Hash
	if del != "" {
		if delHash, err = v1.NewHash(del); err != nil {
			return api.Usage{}, httperr.New(http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("%q is not a valid digest", del))
		}
	}
	names, err := s.tagNames(ctx, repo)
	if err != nil {
		return api.Usage{}, err
	}
	out := api.Usage{Repository: repository, Tags: len(names), Delete: del}

	// Resolve every tag and walk what it reaches, with the usual bounded fan-out.
	reach := make([]map[string]int64, len(names))
	digests := make([]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, t := range names {
		wg.Go(func() {
			desc, err := s.head(ctx, repo, t)
			if err != nil {
				errs[i] = err
				return
			}
			digests[i] = desc.Digest.String()
			reach[i] = map[string]int64{}
			errs[i] = s.walk(ctx, repo, v1.Descriptor{Digest: desc.Digest, Size: desc.Size, MediaType: desc.MediaType}, reach[i])
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return out, s.registryError(err, fmt.Sprintf("tag %s:%s", repository, names[i]))
		}
	}

	all, kept := map[string]int64{}, map[string]int64{}
	for i, r := range reach {
		for d, n := range r {
			all[d] = n
			out.Listed += n
			if del == "" || digests[i] != del {
				kept[d] = n
			}
		}
	}
	for _, n := range all {
		out.Stored += n
	}
	if del != "" {
		// The manifest may be untagged already; what it reaches is still what it would free.
		target := map[string]int64{}
		if err := s.walk(ctx, repo, v1.Descriptor{Digest: delHash}, target); err != nil {
			return out, s.registryError(err, fmt.Sprintf("manifest %s@%s", repository, del))
		}
		for d, n := range target {
			if _, ok := kept[d]; !ok {
				out.Frees += n
			}
		}
	}
	return out, nil
}

// walk adds to seen every manifest and blob a manifest reaches, with their sizes: an index
// reaches its manifests and what they reach, an image its config and layers.
func (s *Service) walk(ctx context.Context, repo name.Repository, d v1.Descriptor, seen map[string]int64) error {
	raw, err := s.manifest(ctx, repo, d.Digest)
	if err != nil {
		return err
	}
	seen[d.Digest.String()] = int64(len(raw))
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest %s is not valid JSON: %w", d.Digest, err)
	}
	if m.Config.Digest.Hex != "" {
		seen[m.Config.Digest.String()] = m.Config.Size
	}
	for _, l := range m.Layers {
		seen[l.Digest.String()] = l.Size
	}
	for _, child := range m.Manifests {
		if err := s.walk(ctx, repo, child, seen); err != nil {
			return err
		}
	}
	return nil
}
