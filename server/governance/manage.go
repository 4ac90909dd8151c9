package governance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Changes to the policies, each recorded in the audit log as actor's; the API checks who
// may make them, the command line is the operator's.

// AddRule stores an immutable rule of patterns in ns.
func (s *Service) AddRule(ctx context.Context, actor, ns string, patterns []string) (store.ImmutableRule, error) {
	if err := api.CheckPatterns(patterns); err != nil {
		return store.ImmutableRule{}, httperr.New(api.CodeBadRequest, err.Error())
	}
	rule := store.ImmutableRule{Namespace: ns, Patterns: patterns, CreatedBy: actor, Created: s.o.Now()}
	id, err := s.o.Store.AddImmutableRule(ctx, rule)
	if errors.Is(err, store.ErrNotFound) {
		return rule, httperr.New(api.CodeNotFound, "Namespace "+ns+" does not exist.")
	}
	if err != nil {
		return rule, storeErr(err)
	}
	rule.ID = id
	s.audit(ctx, actor, AuditImmutableCreate, ns, fmt.Sprintf("rule %d: %s", id, strings.Join(patterns, " ")))
	return rule, nil
}

// LiftRule lifts (or, lifted false, restores) rule id of ns.
func (s *Service) LiftRule(ctx context.Context, actor, ns string, id int64, lifted bool) error {
	if err := s.o.Store.SetRuleLifted(ctx, ns, id, lifted); err != nil {
		return notFound(err, id)
	}
	action := AuditImmutableArm
	if lifted {
		action = AuditImmutableLift
	}
	s.audit(ctx, actor, action, ns, fmt.Sprintf("rule %d", id))
	return nil
}

// DeleteRule deletes rule id of ns.
func (s *Service) DeleteRule(ctx context.Context, actor, ns string, id int64) error {
	if err := s.o.Store.DeleteImmutableRule(ctx, ns, id); err != nil {
		return notFound(err, id)
	}
	s.audit(ctx, actor, AuditImmutableDelete, ns, fmt.Sprintf("rule %d", id))
	return nil
}

func notFound(err error, id int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return httperr.New(api.CodeNotFound, fmt.Sprintf("The namespace has no rule %d.", id))
	}
	return storeErr(err)
}

// SetQuota sets ns's limits: storage a size such as "10GB" or "512MiB" ("" or "0": none),
// tags a count (0: none).
func (s *Service) SetQuota(ctx context.Context, actor, ns, storage string, tags int64) error {
	var limit uint64
	if strings.TrimSpace(storage) != "" && storage != "0" {
		var err error
		if limit, err = humanize.ParseBytes(storage); err != nil || limit > 1<<62 {
			return httperr.New(api.CodeBadRequest, fmt.Sprintf("storageLimit %q is not a size such as 10GB or 512MiB", storage))
		}
	}
	if tags < 0 {
		return httperr.New(api.CodeBadRequest, "tagLimit must be 0 (no limit) or more")
	}
	err := s.o.Store.SetQuota(ctx, store.Quota{Namespace: ns, StorageLimit: int64(limit), TagLimit: tags, Updated: s.o.Now()})
	if errors.Is(err, store.ErrNotFound) {
		return httperr.New(api.CodeNotFound, "Namespace "+ns+" does not exist.")
	}
	if err != nil {
		return storeErr(err)
	}
	s.audit(ctx, actor, AuditQuotaSet, ns, fmt.Sprintf("storage=%d tags=%d", limit, tags))
	return nil
}

// Rules returns ns's immutable rules.
func (s *Service) Rules(ctx context.Context, ns string) ([]api.ImmutableRule, error) {
	rules, err := s.o.Store.ImmutableRules(ctx, ns)
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]api.ImmutableRule, 0, len(rules))
	for _, x := range rules {
		out = append(out, ruleJSON(x))
	}
	return out, nil
}

func (s *Service) audit(ctx context.Context, actor, action, ns, detail string) {
	s.o.Audit(ctx, store.AuditEntry{Actor: actor, Action: action, Target: ns, Detail: detail, OK: true})
}
