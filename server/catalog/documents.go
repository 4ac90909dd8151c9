package catalog

import (
	"context"
	"log/slog"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/server/registry"
)

// manifest returns the raw manifest with the given digest, from the cache or the registry.
// Callers reach a digest only through an answer the registry gave their principal (a tag's
// HEAD, a manifest it listed), so the shared cache never answers for someone the registry
// would refuse.
func (s *Service) manifest(ctx context.Context, repository string, digest v1.Hash) ([]byte, error) {
	return s.document(ctx, "manifest/"+digest.String(), func(ctx context.Context) ([]byte, error) {
		// Get by digest verifies the bytes against the digest, so caching them forever is safe.
		m, err := s.client(ctx).Get(ctx, repository, digest.String())
		return m.Raw, err
	})
}

// blob returns a small blob (an image config) by digest, from the cache or the registry.
func (s *Service) blob(ctx context.Context, repository string, digest v1.Hash) ([]byte, error) {
	return s.document(ctx, "blob/"+digest.String(), func(ctx context.Context) ([]byte, error) {
		return s.client(ctx).ReadBlob(ctx, repository, digest.String(), registry.MaxDocument)
	})
}

// document returns the content-addressed document under key from the cache, then the index,
// or fetches it once however many requests of the same principal want it at the same moment.
// The fetch outlives the caller who started it (bounded by the registry client's timeout):
// the others waiting on it must not get that caller's cancellation.
func (s *Service) document(ctx context.Context, key string, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	if b, ok := s.cache.Get(ctx, key); ok {
		return b, nil
	}
	v, err, _ := s.flight.Do(flightKey(ctx)+"/"+key, func() (any, error) {
		ctx := context.WithoutCancel(ctx)
		if s.idx != nil {
			if b, ok, err := s.idx.Document(ctx, key); err == nil && ok {
				s.cache.Set(ctx, key, b)
				return b, nil
			}
		}
		b, err := fetch(ctx)
		if err != nil {
			return nil, err
		}
		s.cache.Set(ctx, key, b)
		if w, _ := ctx.Value(writesKey{}).(*writes); w != nil {
			w.doc(key, b)
		} else if s.idx != nil {
			if err := s.idx.PutDocuments(context.WithoutCancel(ctx), map[string][]byte{key: b}); err != nil {
				slog.Warn("index: store document", "key", key, "err", err)
			}
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}
