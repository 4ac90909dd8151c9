package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/webhooks"
)

// hookRelay hands scans, replication runs and failed jobs to webhooks. The services are
// built before the webhooks are, so they are given the relay, whose hooks are set later
// (before any job runs); with none (no access control) it drops everything.
type hookRelay struct{ hooks *webhooks.Service }

func (r *hookRelay) publish(ctx context.Context, ev webhooks.Event) {
	if r == nil || r.hooks == nil {
		return
	}
	r.hooks.Publish(ctx, ev)
}

// scanFinished publishes a stored scan report.
func (r *hookRelay) scanFinished(ctx context.Context, repository string, rep store.ScanReport) {
	msg := fmt.Sprintf("Scan of %s@%s: %d critical, %d high, %d medium, %d low, %d unknown", repository, rep.Digest,
		rep.Critical, rep.High, rep.Medium, rep.Low, rep.Unknown)
	if rep.Error != "" {
		msg = fmt.Sprintf("Scan of %s@%s failed: %s", repository, rep.Digest, rep.Error)
	}
	r.publish(ctx, webhooks.Event{Type: webhooks.EventScanFinished, Namespace: auth.NamespaceOf(repository), Repository: repository,
		Digest: rep.Digest, Message: msg, Data: map[string]any{
			"critical": rep.Critical, "high": rep.High, "medium": rep.Medium, "low": rep.Low, "unknown": rep.Unknown,
			"fixableCritical": rep.FixableCritical, "packages": rep.Packages, "error": rep.Error, "database": rep.DBVersion,
		}})
}

// replicationFinished publishes a replication run's end, in the namespace of the repository
// a push-triggered run was about, or of the rule's repositories when their first component
// is literal ("team/**"); others go to global webhooks only.
func (r *hookRelay) replicationFinished(ctx context.Context, run api.ReplicationRun, rule api.ReplicationRule, repository string) {
	ns := auth.NamespaceOf(repository)
	if repository == "" && !strings.ContainsAny(auth.NamespaceOf(rule.Repositories), "*?[{\\") {
		ns = auth.NamespaceOf(rule.Repositories)
	}
	name := cmp.Or(rule.Name, rule.ID)
	msg := fmt.Sprintf("Replication %s %s: %d copied, %d deleted, %d failed", name, run.State, run.Copied, run.Deleted, run.Failed)
	if run.Error != "" {
		msg += " (" + run.Error + ")"
	}
	r.publish(ctx, webhooks.Event{Type: webhooks.EventReplicationFinished, Namespace: ns, Repository: repository, Message: msg,
		Data: map[string]any{
			"rule": rule.ID, "ruleName": rule.Name, "run": run.ID, "trigger": run.Trigger, "state": run.State, "copied": run.Copied,
			"skipped": run.Skipped, "deleted": run.Deleted, "failed": run.Failed, "bytes": run.Bytes, "error": run.Error,
		}})
}

// jobFailed publishes a write job that failed.
func (r *hookRelay) jobFailed(ctx context.Context, f ops.FailedJob) {
	r.publish(ctx, webhooks.Event{Type: webhooks.EventJobFailed, Namespace: auth.NamespaceOf(f.Repository), Repository: f.Repository,
		Actor: f.User, Message: fmt.Sprintf("Job %s (%s) failed: %s", f.ID, f.Summary, f.Error),
		Data: map[string]any{"job": f.ID, "kind": f.Kind, "summary": f.Summary, "error": f.Error}})
}
