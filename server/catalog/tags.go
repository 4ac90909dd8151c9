package catalog

import (
	"context"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// TagNames returns every tag of the repository, sorted, without details: the UI shows the
// rows at once and fills in details page by page.
func (s *Service) TagNames(ctx context.Context, repository string) (api.TagPage, error) {
	names, err := s.tagNames(ctx, repository)
	if err != nil {
		return api.TagPage{}, err
	}
	page := api.TagPage{Repository: repository, Total: len(names), Limit: len(names), PullHost: s.pullHost, Tags: make([]api.Tag, len(names))}
	for i, n := range names {
		page.Tags[i].Name = n
	}
	return page, nil
}

// CanRead answers nil when the principal in ctx may read the repository, as the registry
// decides (its tag list, cached per principal for TagTTL), or the registry's error.
// A repository the registry says is gone (404, as distribution answers once every tag was
// deleted) is readable: registries refuse access before they say whether something exists,
// and its history stays visible.
func (s *Service) CanRead(ctx context.Context, repository string) error {
	_, err := s.tagNames(ctx, repository)
	if httperr.Is(err, api.CodeNotFound) {
		return nil
	}
	return err
}

// tagNames lists a repository's tags, sorted, reusing a list younger than TagTTL.
func (s *Service) tagNames(ctx context.Context, repository string) ([]string, error) {
	if err := registry.ValidateRepository(repository); err != nil {
		return nil, err
	}
	st := s.state(ctx)
	st.cacheMu.Lock()
	e, ok := st.lists[repository]
	st.cacheMu.Unlock()
	if ok && time.Since(e.at) < s.tagTTL {
		return e.names, nil
	}
	v, err, _ := s.flight.Do("list/"+principalOf(ctx)+"/"+repository, func() (any, error) {
		names, err := s.reg.Tags(ctx, repository)
		if err != nil {
			return nil, err
		}
		st.cacheMu.Lock()
		if len(st.lists) > 10_000 {
			clear(st.lists)
		}
		st.lists[repository] = listEntry{names: names, at: time.Now()}
		st.cacheMu.Unlock()
		return names, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// head resolves a tag to its descriptor, trusting an answer younger than TagTTL. A tag seen
// before is revalidated with a HEAD; one never seen is fetched with a GET, which costs the same
// round trip and brings the manifest along, so a cold page makes one request less per tag.
func (s *Service) head(ctx context.Context, repository, tag string) (v1.Descriptor, error) {
	st := s.state(ctx)
	key := repository + ":" + tag
	st.cacheMu.Lock()
	e, ok := st.tags[key]
	st.cacheMu.Unlock()
	if ok && time.Since(e.at) < s.tagTTL {
		return e.desc, nil
	}
	var desc v1.Descriptor
	if ok {
		d, err := s.reg.Head(ctx, repository, tag)
		if err != nil {
			return desc, err
		}
		desc = d
	} else {
		m, err := s.reg.Get(ctx, repository, tag)
		if err != nil {
			return desc, err
		}
		desc = m.Descriptor
		// The registry client computed the digest from these very bytes, so they are safe to
		// keep by it.
		s.cache.Set(ctx, "manifest/"+desc.Digest.String(), m.Raw)
	}
	st.cacheMu.Lock()
	if len(st.tags) >= maxTagEntries {
		clear(st.tags)
	}
	st.tags[key] = tagEntry{desc: desc, at: time.Now()}
	st.cacheMu.Unlock()
	return desc, nil
}

// Tags returns a page of the repository's tags, sorted by name, with their details.
func (s *Service) Tags(ctx context.Context, repository string, offset, limit int) (api.TagPage, error) {
	names, err := s.tagNames(ctx, repository)
	if err != nil {
		return api.TagPage{}, err
	}
	page := api.TagPage{Repository: repository, Total: len(names), Offset: offset, Limit: limit, PullHost: s.pullHost}
	if offset < len(names) {
		names = names[offset:min(len(names), offset+limit)]
	} else {
		names = nil
	}
	page.Tags = make([]api.Tag, len(names))
	var wg sync.WaitGroup
	for i, t := range names {
		wg.Go(func() { page.Tags[i] = s.tag(ctx, repository, t) })
	}
	wg.Wait()
	return page, ctx.Err()
}

// tag resolves a tag to its digest and describes what it points to from the digest-keyed
// cache, fetching only what the cache lacks.
func (s *Service) tag(ctx context.Context, repository, tag string) api.Tag {
	t := api.Tag{Name: tag}
	desc, err := s.head(ctx, repository, tag)
	if err != nil {
		t.Error = registry.Describe(err)
		return t
	}
	t.Digest, t.MediaType = desc.Digest.String(), string(desc.MediaType)
	sum, err := s.summarize(ctx, repository, desc.Digest, t.MediaType)
	if err != nil {
		t.Error = registry.Describe(err)
	}
	t.Kind, t.Size, t.Created, t.Platforms, t.ArtifactType = sum.kind, sum.size, sum.created, sum.platforms, sum.artifactType
	t.Attestations = len(sum.attestations)
	if registry.IsReferrerTag(tag) {
		// cosign signatures and the OCI referrers fallback index are tagged after the digest
		// they describe; they are accessories, not releases.
		t.Kind, t.Platforms = "referrer", nil
	}
	return t
}
