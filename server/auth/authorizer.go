package auth

import (
	"context"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/store"
)

// Authorizer is access.Authorizer when Berth's policy decides (--access-control): every
// answer comes from the policy, with no registry round trip, before anything of a repository
// is read, cached, indexed or written. A refused write is recorded in the audit log.
type Authorizer struct {
	policy *Policy
	acc    *Accounts
	// list reads every repository name with Berth's own access; Repositories filters it.
	list func(context.Context) ([]string, error)
}

// Authorizer returns the policy's authorizer; list reads the whole catalog as Berth itself
// (its own service tokens), which the policy filters per caller.
func (c *Control) Authorizer(list func(context.Context) ([]string, error)) *Authorizer {
	return &Authorizer{policy: c.Policy, acc: c.Accounts, list: list}
}

// Authorize implements access.Authorizer.
func (z *Authorizer) Authorize(ctx context.Context, repository string, want access.Actions) error {
	id := access.From(ctx)
	held, err := z.policy.Decide(ctx, id, repository)
	if err != nil {
		return storeErr(err, "The account")
	}
	if held.Has(want) {
		return nil
	}
	if want&^Pull != 0 {
		z.acc.Audit(ctx, store.AuditEntry{Actor: id.Name, Action: AuditDenied, Target: repository,
			Scope: "repository:" + repository + ":" + want.String(), Granted: held.String(), Detail: "refused", OK: false})
	}
	return access.Refuse(id, repository, want, held)
}

// Repositories implements access.Authorizer: the whole catalog, cut to what the caller may
// pull.
func (z *Authorizer) Repositories(ctx context.Context) ([]string, error) {
	names, err := z.list(ctx)
	if err != nil {
		return nil, err
	}
	out, err := z.policy.Filter(ctx, access.From(ctx), names)
	return out, storeErr(err, "The account")
}

// Everything implements access.Authorizer: Berth itself and administrators see every
// repository.
func (z *Authorizer) Everything(ctx context.Context) (bool, error) {
	ok, err := z.policy.Catalog(ctx, access.From(ctx))
	return ok, storeErr(err, "The account")
}
