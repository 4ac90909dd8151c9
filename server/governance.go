package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/retention"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/webhooks"
)

// newGovernance builds the per-namespace policies (immutable tags, quotas); nil without
// access control, which is where namespaces live.
func newGovernance(cfg config.Config, st store.Store, control *auth.Control) (*governance.Service, error) {
	if control == nil {
		return nil, nil
	}
	g, err := store.GovernanceOf(st)
	if err != nil {
		return nil, err
	}
	pulls, err := store.PullPoliciesOf(st)
	if err != nil {
		return nil, err
	}
	global, err := globalPull(cfg) // pullpolicy.go
	if err != nil {
		return nil, err
	}
	a, err := store.AccountsOf(st)
	if err != nil {
		return nil, err
	}
	return governance.New(governance.Options{Store: g, Accounts: a, Audit: control.Accounts.Audit, Grants: control.Issuer.Grants,
		Pulls: pulls, GlobalPull: global}), nil
}

// writeGuard is gov as the registry client's guard (none without governance).
func writeGuard(gov *governance.Service) registry.WriteGuard {
	if gov == nil {
		return nil
	}
	return gov
}

// guardV2 puts governance in front of a /v2 handler: the embedded registry's (every client
// and Berth's proxy reach it there), or the proxy to an external registry.
func guardV2(gov *governance.Service, h http.Handler) http.Handler {
	if gov == nil {
		return h
	}
	return gov.Middleware(gov.PullMiddleware(h))
}

// newWebhooks builds outbound webhooks (with access control, where namespaces live): their
// worker joins the job queue through register, registry events and quota warnings are
// published to them.
func newWebhooks(cfg config.Config, st store.Store, control *auth.Control, gov *governance.Service, secret []byte) (*webhooks.Service, error) {
	if control == nil {
		return nil, nil
	}
	ws, err := store.WebhooksOf(st)
	if err != nil {
		return nil, err
	}
	hooks, err := webhooks.New(webhooks.Options{Store: ws, Secret: secret, Hosts: cfg.WebhookHosts, Backoff: cfg.WebhookRetryWait, Source: cfg.PublicURL, Audit: control.Accounts.Audit})
	if err != nil {
		return nil, err
	}
	gov.OnEvent(func(ctx context.Context, e governance.Event) {
		hooks.Publish(ctx, webhooks.Event{Type: e.Type, Namespace: e.Namespace, Repository: e.Repository, Message: e.Message, Data: e.Data})
	})
	return hooks, nil
}

// registerWebhooks is hooks' worker registration for the job queue (none without webhooks).
func registerWebhooks(hooks *webhooks.Service) func(*river.Workers) {
	if hooks == nil {
		return nil
	}
	return hooks.Register
}

// otherKinds are the River job kinds besides write jobs: replication runs and webhook
// deliveries; their finished jobs are pruned like write jobs.
var otherKinds = []string{replication.KindRun, webhooks.KindDelivery}

// otherWorkers adds the workers of otherKinds to River's.
func otherWorkers(repl *replication.Service, hooks *webhooks.Service) func(*river.Workers) {
	return func(w *river.Workers) {
		repl.Register(w)
		if register := registerWebhooks(hooks); register != nil {
			register(w)
		}
	}
}

// insertInto is how webhooks queue their deliveries on the jobs' River client.
func insertInto(jobs *ops.Manager) func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	return func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
		_, err := jobs.Insert(ctx, args, opts)
		return err
	}
}

// publishRegistryEvents hands the registry's manifest pushes, deletes and pulls to webhooks.
func publishRegistryEvents(hooks *webhooks.Service) func([]store.Event) {
	return func(evs []store.Event) {
		for _, e := range evs {
			if !e.Manifest() || (e.Action != store.ActionPush && e.Action != store.ActionDelete && e.Action != store.ActionPull) {
				continue
			}
			msg := fmt.Sprintf("%s %s", e.Action, e.Repository)
			hooks.Publish(context.Background(), webhooks.Event{ID: e.ID, Type: e.Action, Time: e.Timestamp, Namespace: auth.NamespaceOf(e.Repository),
				Repository: e.Repository, Tag: e.Tag, Digest: e.Digest, Actor: e.Actor, Message: msg})
		}
	}
}

// RetentionCheck is how often due retention policies are looked for.
const RetentionCheck = time.Minute

// newRetention builds scheduled retention (with access control): runs delete as Berth
// itself, through a client whose guard keeps immutable tags. Its periodic task joins tasks.
func newRetention(cfg config.Config, upstream string, st store.Store, control *auth.Control, gov *governance.Service, tasks *[]ops.Periodic) (*retention.Service, error) {
	if control == nil {
		return nil, nil
	}
	rs, err := store.RetentionOf(st)
	if err != nil {
		return nil, err
	}
	writer, err := registry.New(registry.Options{
		URL: upstream, ServiceWrites: true, Guard: gov, Timeout: cfg.UpstreamTimeout, Concurrency: cfg.Concurrency,
		Transport: auth.NewServiceTransport(control.Issuer, registry.NewTransport(cfg.UpstreamTimeout, nil)),
	})
	if err != nil {
		return nil, err
	}
	ret := retention.New(retention.Options{Store: rs, Registry: writer, Audit: control.Accounts.Audit,
		Usage: func(ctx context.Context, ns string) (int64, error) {
			q, err := gov.Quota(ctx, ns)
			return q.Used, err
		}})
	*tasks = append(*tasks, ops.Periodic{Name: "retention", Interval: RetentionCheck, RunOnStart: true, Run: ret.RunDue})
	return ret, nil
}
