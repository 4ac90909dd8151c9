package governance

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// policies is what governs one namespace now.
type policies struct {
	namespace string
	rules     []store.ImmutableRule // the rules not lifted
	quota     store.Quota
	hasQuota  bool
}

func (s *Service) policies(ctx context.Context, namespace string) (policies, error) {
	p := policies{namespace: namespace}
	rules, err := s.o.Store.ImmutableRules(ctx, namespace)
	if err != nil {
		return p, storeErr(err)
	}
	for _, r := range rules {
		if !r.Lifted {
			p.rules = append(p.rules, r)
		}
	}
	p.quota, p.hasQuota, err = s.o.Store.Quota(ctx, namespace)
	return p, storeErr(err)
}

// protects returns the pattern of the first rule in force that protects tag.
func (p policies) protects(tag string) (string, bool) {
	for _, r := range p.rules {
		if pat, ok := api.MatchPatterns(r.Patterns, tag); ok {
			return pat, true
		}
	}
	return "", false
}

// Check implements registry.WriteGuard: a tag an immutable rule protects is neither moved
// nor deleted once it exists, and a put must fit the namespace's quota.
func (s *Service) Check(ctx context.Context, ch registry.Change) error {
	ns := auth.NamespaceOf(ch.Repository)
	if ns == "" {
		return nil
	}
	p, err := s.policies(ctx, ns)
	if err != nil || (len(p.rules) == 0 && !p.hasQuota) {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	if ch.Delete {
		err = s.checkDelete(ctx, reg, p, ch)
	} else {
		err = s.checkPut(ctx, reg, p, ch)
	}
	if err != nil {
		if he, ok := err.(*httperr.Error); ok && he.Code == api.CodeDenied {
			s.o.Audit(ctx, store.AuditEntry{Action: AuditGuardRefused, Target: ch.Repository + refSep(ch.Ref) + ch.Ref, Detail: he.Message, OK: false})
		}
	}
	return err
}

func refSep(ref string) string {
	if registry.IsDigest(ref) {
		return "@"
	}
	return ":"
}

// current is the digest tag points at now; "" when there is no such tag.
func current(ctx context.Context, reg *registry.Client, repository, tag string) (string, error) {
	d, err := reg.Head(ctx, repository, tag)
	if httperr.Is(err, api.CodeNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return d.Digest.String(), nil
}

// Immutable is the refusal for changing a protected tag.
func immutable(ns, tag, pattern string) error {
	return httperr.New(api.CodeDenied, fmt.Sprintf("tag %s is immutable in namespace %s (rule %s)", tag, ns, pattern))
}

func (s *Service) checkDelete(ctx context.Context, reg *registry.Client, p policies, ch registry.Change) error {
	if len(p.rules) == 0 {
		return nil
	}
	if !registry.IsDigest(ch.Ref) {
		pat, ok := p.protects(ch.Ref)
		if !ok {
			return nil
		}
		if cur, err := current(ctx, reg, ch.Repository, ch.Ref); err != nil || cur == "" {
			return err
		}
		return immutable(p.namespace, ch.Ref, pat)
	}
	// Deleting a manifest deletes every tag on it: refused when one of them is protected.
	tags, err := reg.Tags(ctx, ch.Repository)
	if httperr.Is(err, api.CodeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var protected []string
	for _, t := range tags {
		if _, ok := p.protects(t); ok {
			protected = append(protected, t)
		}
	}
	if len(protected) == 0 {
		return nil
	}
	heads, err := reg.HeadAll(ctx, ch.Repository, protected)
	if err != nil {
		return err
	}
	for _, t := range protected {
		if d, ok := heads[t]; ok && d.Digest.String() == ch.Ref {
			pat, _ := p.protects(t)
			return httperr.New(api.CodeDenied, fmt.Sprintf("manifest %s carries tag %s, which is immutable in namespace %s (rule %s)", ch.Ref, t, p.namespace, pat))
		}
	}
	return nil
}

func (s *Service) checkPut(ctx context.Context, reg *registry.Client, p policies, ch registry.Change) error {
	isTag := !registry.IsDigest(ch.Ref)
	cur := ""
	if isTag {
		var err error
		if cur, err = current(ctx, reg, ch.Repository, ch.Ref); err != nil {
			return err
		}
		if pat, ok := p.protects(ch.Ref); ok && cur != "" && cur != ch.Digest {
			return immutable(p.namespace, ch.Ref, pat)
		}
	}
	if !p.hasQuota || (isTag && cur == ch.Digest) {
		return nil
	}
	return s.checkQuota(ctx, reg, p, ch, isTag && cur == "")
}

// Protected implements registry.TagProtector: the tags an immutable rule in force protects.
func (s *Service) Protected(ctx context.Context, repository string, tags []string) (map[string]string, error) {
	ns := auth.NamespaceOf(repository)
	if ns == "" {
		return nil, nil
	}
	p, err := s.policies(ctx, ns)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, t := range tags {
		if pat, ok := p.protects(t); ok {
			out[t] = fmt.Sprintf("immutable in namespace %s (rule %s)", ns, pat)
		}
	}
	return out, nil
}
