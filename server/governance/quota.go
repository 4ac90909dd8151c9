package governance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// maxWalk bounds the manifests and blobs one usage walk visits.
const maxWalk = 100_000

// usage is what a namespace stores: every manifest and blob its tags reach, each once.
type usage struct {
	seen         map[string]int64
	used         int64
	tags         int64
	repositories int
}

// usageOf walks every tag of every repository under namespace as Berth itself. Blobs shared
// between images or repositories of the namespace count once, as they are stored once.
func usageOf(ctx context.Context, reg *registry.Client, namespace string) (usage, error) {
	u := usage{seen: map[string]int64{}}
	names, err := reg.Catalog(ctx)
	if err != nil {
		return u, err
	}
	for _, repo := range names {
		if !strings.HasPrefix(repo, namespace+"/") {
			continue
		}
		u.repositories++
		tags, err := reg.TagDigests(ctx, repo)
		if httperr.Is(err, api.CodeNotFound) {
			continue // deleted since the catalog was read
		}
		if err != nil {
			return u, err
		}
		u.tags += int64(len(tags))
		for _, d := range tags {
			if err := walk(ctx, reg, repo, d.Digest.String(), nil, u.seen); err != nil {
				return u, err
			}
		}
	}
	for _, n := range u.seen {
		u.used += n
	}
	return u, nil
}

// manifestFields is the union of the image manifest and index fields a walk follows.
type manifestFields struct {
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
	Manifests []v1.Descriptor `json:"manifests"`
}

// walk adds to seen every manifest and blob digest reaches, with their sizes; raw, when set,
// is digest's manifest (not yet in the registry). Manifests seen already are not walked again.
func walk(ctx context.Context, reg *registry.Client, repo, digest string, raw []byte, seen map[string]int64) error {
	if _, ok := seen[digest]; ok {
		return nil
	}
	if len(seen) >= maxWalk {
		return httperr.New(api.CodeTooLarge, fmt.Sprintf("The namespace references more than %d manifests and blobs; its usage is not computed.", maxWalk))
	}
	if raw == nil {
		m, err := reg.Get(ctx, repo, digest)
		if err != nil {
			return err
		}
		raw = m.Raw
	}
	seen[digest] = int64(len(raw))
	var m manifestFields
	if err := json.Unmarshal(raw, &m); err != nil {
		return httperr.Wrap(api.CodeBadRequest, "manifest "+digest+" is not valid JSON", err)
	}
	if m.Config != nil && m.Config.Digest.Hex != "" {
		seen[m.Config.Digest.String()] = m.Config.Size
	}
	for _, l := range m.Layers {
		seen[l.Digest.String()] = l.Size
	}
	for _, c := range m.Manifests {
		if err := walk(ctx, reg, repo, c.Digest.String(), nil, seen); err != nil {
			return err
		}
	}
	return nil
}

// checkQuota refuses a put that takes the namespace past a limit: the bytes the manifest
// reaches that the namespace does not store yet, and a new tag. Passing 80 % of a limit
// gives one warning until usage goes below it again.
func (s *Service) checkQuota(ctx context.Context, reg *registry.Client, p policies, ch registry.Change, newTag bool) error {
	u, err := s.usage(ctx, reg, p.namespace) // usagecache.go
	if err != nil {
		return err
	}
	before := len(u.seen)
	adds := map[string]int64{}
	for d, n := range u.seen {
		adds[d] = n
	}
	if err := walk(ctx, reg, ch.Repository, ch.Digest, ch.Raw, adds); err != nil {
		return err
	}
	var added int64
	if len(adds) > before {
		for d, n := range adds {
			if _, ok := u.seen[d]; !ok {
				added += n
			}
		}
	}
	q := p.quota
	after := u.used + added
	if q.StorageLimit > 0 && after > q.StorageLimit {
		return httperr.New(api.CodeDenied, fmt.Sprintf("quota exceeded: pushing %s%s%s needs %s more, and namespace %s uses %s of its %s quota",
			ch.Repository, refSep(ch.Ref), ch.Ref, api.HumanSize(added), p.namespace, api.HumanSize(u.used), api.HumanSize(q.StorageLimit)))
	}
	tags := u.tags
	if newTag {
		tags++
	}
	if q.TagLimit > 0 && newTag && tags > q.TagLimit {
		return httperr.New(api.CodeDenied, fmt.Sprintf("quota exceeded: namespace %s has %d tags, its limit", p.namespace, u.tags))
	}
	s.warn(ctx, q, after, tags, ch.Repository)
	s.admitted(p.namespace, adds, after, newTag)
	return nil
}

// nearly reports whether n is at least 80 % of a set limit.
func nearly(n, limit int64) bool { return limit > 0 && n*5 >= limit*4 }

// warn records (once) that the namespace passed 80 % of a limit, and re-arms the warning
// when usage is below it again.
func (s *Service) warn(ctx context.Context, q store.Quota, used, tags int64, repository string) {
	over := nearly(used, q.StorageLimit) || nearly(tags, q.TagLimit)
	switch {
	case over && q.Warned.IsZero():
		msg := fmt.Sprintf("namespace %s uses %s of its %s quota and %d tags (limit %d)", q.Namespace, api.HumanSize(used), api.HumanSize(q.StorageLimit), tags, q.TagLimit)
		if err := s.o.Store.MarkQuotaWarned(ctx, q.Namespace, s.o.Now()); err != nil {
			return // warned next time instead
		}
		s.o.Audit(ctx, store.AuditEntry{Action: AuditQuotaWarning, Target: q.Namespace, Detail: msg, OK: true})
		if s.notify != nil {
			s.notify(ctx, Event{Type: "quota.warning", Namespace: q.Namespace, Repository: repository, Message: msg,
				Data: map[string]any{"used": used, "storageLimit": q.StorageLimit, "tags": tags, "tagLimit": q.TagLimit}})
		}
	case !over && !q.Warned.IsZero():
		_ = s.o.Store.MarkQuotaWarned(ctx, q.Namespace, timeZero)
	}
}
