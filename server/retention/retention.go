// Package retention runs cleanup rules on a schedule: a policy attaches a rule to the
// repositories of a namespace matching a glob and runs every so often, as a periodic job
// (once per period across replicas), each due run claimed by exactly one replica. Runs
// delete with Berth's own rights through the registry client whose guard keeps immutable
// tags; each run's deletions and freed bytes are kept.
package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Options configures a Service.
type Options struct {
	Store store.Retention
	// Registry deletes as Berth itself (service writes), with the governance guard.
	Registry *registry.Client
	// Usage, if set, is what a namespace stores now, to tell what a run freed.
	Usage func(ctx context.Context, namespace string) (int64, error)
	Audit func(ctx context.Context, e store.AuditEntry)
	Now   func() time.Time
}

// Service keeps and runs retention policies.
type Service struct{ o Options }

// New returns the service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Audit == nil {
		o.Audit = func(context.Context, store.AuditEntry) {}
	}
	return &Service{o: o}
}

// MinEvery is the shortest period a policy may have.
const MinEvery = time.Minute

// Create checks and stores a policy of ns, due at once.
func (s *Service) Create(ctx context.Context, actor, ns string, p api.RetentionPolicy) (api.RetentionPolicy, error) {
	if !strings.HasPrefix(p.Repositories, ns+"/") {
		return p, httperr.New(api.CodeBadRequest, "repositories is a glob of names in the namespace, such as "+ns+"/*")
	}
	if _, err := path.Match(p.Repositories, ""); err != nil {
		return p, httperr.New(api.CodeBadRequest, "repositories: "+err.Error())
	}
	every, err := api.ParseDuration(p.Every)
	if err != nil || every < MinEvery {
		return p, httperr.New(api.CodeBadRequest, "every is a period of at least 1m, such as 24h or 7d")
	}
	p.Rule.Repository = ns + "/check"
	if _, err := ops.NewCleanup(s.o.Registry, p.Rule); err != nil {
		return p, err
	}
	p.Rule.Repository = ""
	rule, _ := json.Marshal(p.Rule)
	var b [8]byte
	_, _ = rand.Read(b[:])
	now := s.o.Now()
	row := store.RetentionPolicy{ID: hex.EncodeToString(b[:]), Namespace: ns, Repositories: p.Repositories, Rule: string(rule), Every: every, NextRun: now, CreatedBy: actor, Created: now}
	if err := s.o.Store.AddRetentionPolicy(ctx, row); err != nil {
		return p, storeErr(err)
	}
	s.o.Audit(ctx, store.AuditEntry{Actor: actor, Action: "retention.create", Target: ns, Detail: row.ID + " " + p.Repositories + " every " + p.Every + " " + string(rule), OK: true})
	return policyJSON(row), nil
}

func storeErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return httperr.New(api.CodeNotFound, "There is no such retention policy (or namespace).")
	}
	if _, ok := errors.AsType[*httperr.Error](err); ok {
		return err
	}
	return httperr.Wrap(api.CodeStoreUnavailable, "The policy store failed; try again.", err)
}

func policyJSON(p store.RetentionPolicy) api.RetentionPolicy {
	var rule api.CleanupRule
	_ = json.Unmarshal([]byte(p.Rule), &rule)
	return api.RetentionPolicy{ID: p.ID, Namespace: p.Namespace, Repositories: p.Repositories, Rule: rule, Every: api.FormatDuration(p.Every),
		NextRun: p.NextRun, CreatedBy: p.CreatedBy, Created: p.Created}
}

// cleanups are the policy's rule bound to each repository it matches now.
func (s *Service) cleanups(ctx context.Context, p store.RetentionPolicy) ([]*ops.Cleanup, error) {
	names, err := s.o.Registry.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	var rule api.CleanupRule
	if err := json.Unmarshal([]byte(p.Rule), &rule); err != nil {
		return nil, err
	}
	var out []*ops.Cleanup
	for _, n := range names {
		if ok, _ := path.Match(p.Repositories, n); !ok || !strings.HasPrefix(n, p.Namespace+"/") {
			continue
		}
		rule.Repository = n
		c, err := ops.NewCleanup(s.o.Registry, rule)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Preview is what the policy would delete now: one plan per repository.
func (s *Service) Preview(ctx context.Context, p store.RetentionPolicy) ([]api.CleanupPlan, error) {
	cs, err := s.cleanups(ctx, p)
	if err != nil {
		return nil, err
	}
	plans := []api.CleanupPlan{}
	for _, c := range cs {
		plan, err := c.Plan(ctx)
		if err != nil {
			return nil, err
		}
		plans = append(plans, plan)
	}
	return plans, nil
}

// RunDue runs every policy that is due, each claimed by one replica: the periodic task.
func (s *Service) RunDue(ctx context.Context) error {
	policies, err := s.o.Store.RetentionPolicies(ctx, "")
	if err != nil {
		return err
	}
	now := s.o.Now()
	for _, p := range policies {
		if p.NextRun.After(now) {
			continue
		}
		next := p.NextRun.Add(p.Every)
		for !next.After(now) {
			next = next.Add(p.Every)
		}
		if ok, err := s.o.Store.ClaimRetentionRun(ctx, p.ID, p.NextRun, next); err != nil || !ok {
			if err != nil {
				return err
			}
			continue // another replica runs it
		}
		s.run(ctx, p)
	}
	return nil
}

// run runs p once and records what it did.
func (s *Service) run(ctx context.Context, p store.RetentionPolicy) {
	r := store.RetentionRun{Policy: p.ID, Started: s.o.Now(), Deleted: []string{}}
	before, uerr := s.usage(ctx, p.Namespace)
	cs, err := s.cleanups(ctx, p)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range cs {
		res, err := c.Run(ctx, nil)
		if res != nil && res.Plan != nil {
			for _, t := range res.Deleted {
				r.Deleted = append(r.Deleted, res.Plan.Repository+":"+t)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	slices.Sort(r.Deleted)
	if after, err := s.usage(ctx, p.Namespace); uerr == nil && err == nil && before > after {
		r.Freed = before - after
	}
	if err := errors.Join(errs...); err != nil {
		r.Error = httperr.Reason(err)
	}
	r.Ended = s.o.Now()
	if err := s.o.Store.AddRetentionRun(context.WithoutCancel(ctx), r); err != nil {
		slog.WarnContext(ctx, "retention: run not recorded", "policy", p.ID, "err", err)
	}
	s.o.Audit(ctx, store.AuditEntry{Actor: "berth", Action: "retention.run", Target: p.Namespace, Detail: p.ID + ": deleted " + strings.Join(r.Deleted, " "), OK: r.Error == ""})
}

func (s *Service) usage(ctx context.Context, ns string) (int64, error) {
	if s.o.Usage == nil {
		return 0, errors.New("no usage")
	}
	return s.o.Usage(ctx, ns)
}
