package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// runWorker runs a replication run on whichever replica River hands it to; one that dies
// mid-run has it taken over once its lease lapses, and the new attempt plans again, finding
// what was copied already up to date (everything is written by digest, tags last).
type runWorker struct {
	river.WorkerDefaults[runArgs]
	s *Service
}

// Timeout is the lease term: the run itself goes on while its lease is renewed.
func (w *runWorker) Timeout(*river.Job[runArgs]) time.Duration {
	if w.s.leaseTerm > 0 {
		return w.s.leaseTerm
	}
	return time.Hour
}

// Work runs the job.
func (w *runWorker) Work(ctx context.Context, job *river.Job[runArgs]) error {
	if w.s.lease != nil {
		var end func()
		ctx, end = w.s.lease(ctx, job.ID, job.Attempt)
		defer end()
	}
	w.s.execute(ctx, job.Args)
	return ctx.Err() // interrupted: another attempt finishes the run
}

// Register adds the replication worker to River's (ops.Options.Workers).
func (s *Service) Register(w *river.Workers) {
	river.AddWorker(w, &runWorker{s: s})
}

// enqueue records a queued run and inserts its job; a duplicate (a scheduled run another
// replica queued) answers the run queued first.
func (s *Service) enqueue(ctx context.Context, args runArgs, unique bool) (api.ReplicationRun, error) {
	if s.queue == nil {
		return api.ReplicationRun{}, httperr.New(api.CodeNotAvailable, "Replication runs need the job queue, which is not running.")
	}
	run := api.ReplicationRun{ID: args.Run, Rule: args.Rule, Trigger: args.Trigger, DryRun: args.DryRun, State: api.RunQueued, Started: time.Now().UTC()}
	opts := &river.InsertOpts{MaxAttempts: 5}
	if unique {
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true}
	} else {
		data, _ := json.Marshal(run)
		if err := s.st.PutRun(ctx, store.ReplicationRun{ID: run.ID, Rule: run.Rule, State: run.State, Started: run.Started, Data: data}); err != nil {
			return run, storeError(err)
		}
	}
	res, err := s.queue.Insert(ctx, args, opts)
	if err != nil {
		return run, storeError(err)
	}
	if unique && !res.UniqueSkippedAsDuplicate {
		data, _ := json.Marshal(run)
		if err := s.st.PutRun(ctx, store.ReplicationRun{ID: run.ID, Rule: run.Rule, State: run.State, Started: run.Started, Data: data}); err != nil {
			return run, storeError(err)
		}
	}
	return run, nil
}

// Start queues a run of the rule named by key, now.
func (s *Service) Start(ctx context.Context, key string, dryRun bool) (api.ReplicationRun, error) {
	rule, err := s.Rule(ctx, key)
	if err != nil {
		return api.ReplicationRun{}, err
	}
	run, err := s.enqueue(ctx, runArgs{Rule: rule.ID, Run: newID(), Trigger: api.TriggerManual, DryRun: dryRun}, false)
	if err == nil {
		s.audit(ctx, "replication.run", rule.Name, fmt.Sprintf("run %s dry_run=%v", run.ID, dryRun))
	}
	return run, err
}

// Runs returns a rule's runs, newest first, at most 50.
func (s *Service) Runs(ctx context.Context, key string) ([]api.ReplicationRun, error) {
	rule, err := s.Rule(ctx, key)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.Runs(ctx, rule.ID, 50)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]api.ReplicationRun, 0, len(rows))
	for _, row := range rows {
		var r api.ReplicationRun
		if json.Unmarshal(row.Data, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// Wait returns run id once it has ended, or ctx's error.
func (s *Service) Wait(ctx context.Context, id string) (api.ReplicationRun, error) {
	for {
		row, ok, err := s.st.Run(ctx, id)
		if err != nil {
			return api.ReplicationRun{}, storeError(err)
		}
		var r api.ReplicationRun
		if ok && json.Unmarshal(row.Data, &r) == nil && r.State != api.RunQueued && r.State != api.RunRunning {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ScheduleEvery is how often scheduled rules are looked at (ScheduleName's interval).
const ScheduleEvery = time.Minute

// ScheduleName is the periodic task queuing scheduled runs.
const ScheduleName = "replication-schedule"

// Schedule queues the runs of scheduled rules due within the last two periods of every:
// run by one replica per period (an ops.Periodic); a run due is queued once, however many
// ticks see it, since its id is the rule's and the due time's.
func (s *Service) Schedule(ctx context.Context, now time.Time, every time.Duration) error {
	rules, err := s.Rules(ctx)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.Trigger != api.TriggerSchedule {
			continue
		}
		f, err := compile(r)
		if err != nil {
			continue
		}
		due := f.cron.Next(now.Add(-2 * every))
		if due.After(now) {
			continue
		}
		id := fmt.Sprintf("%s-%d", r.ID, due.Unix())
		if _, err := s.enqueue(ctx, runArgs{Rule: r.ID, Run: id, Trigger: api.TriggerSchedule}, true); err != nil {
			return err
		}
	}
	return nil
}

// OnEvents takes the main registry's committed events (events.Webhook.OnCommit) and queues
// the runs of push-triggered rules they concern. It never blocks the webhook's writer: a
// batch arriving while the queue is full is dropped, and the next scheduled or manual run
// catches up.
func (s *Service) OnEvents(evs []store.Event) {
	select {
	case s.events <- evs:
	default:
		slog.Warn("replication: events dropped, too many waiting", "events", len(evs))
	}
}

// Listen queues runs for the events OnEvents takes, until ctx is done.
func (s *Service) Listen(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case evs := <-s.events:
			s.pushed(ctx, evs)
		}
	}
}

// pushed queues one run per push-triggered rule and tag pushed or deleted.
func (s *Service) pushed(ctx context.Context, evs []store.Event) {
	var rules []*filter
	all, err := s.Rules(ctx)
	if err != nil {
		slog.WarnContext(ctx, "replication: rules not read for events", "err", err)
		return
	}
	for _, r := range all {
		if r.Trigger == api.TriggerPush && r.Source == api.MainRegistry {
			if f, err := compile(r); err == nil {
				rules = append(rules, f)
			}
		}
	}
	if len(rules) == 0 {
		return
	}
	for _, e := range evs {
		if e.Tag == "" || (e.Action != store.ActionPush && e.Action != store.ActionDelete) {
			continue
		}
		for _, f := range rules {
			if !f.repository(e.Repository) || (!f.tag(e.Tag) && !cosignTag.MatchString(e.Tag)) {
				continue
			}
			args := runArgs{Rule: f.rule.ID, Run: newID(), Trigger: api.TriggerPush, Repository: e.Repository, Tag: e.Tag, Deleted: e.Action == store.ActionDelete}
			if _, err := s.enqueue(ctx, args, false); err != nil {
				slog.WarnContext(ctx, "replication: run not queued", "rule", f.rule.Name, "err", err)
			}
		}
	}
}

// RunHere runs the rule named by key in this process (the berth CLI), recorded in its
// history like a queued run.
func (s *Service) RunHere(ctx context.Context, key string, dryRun bool) (api.ReplicationRun, error) {
	if err := admin(ctx); err != nil {
		return api.ReplicationRun{}, err
	}
	rule, err := s.Rule(ctx, key)
	if err != nil {
		return api.ReplicationRun{}, err
	}
	s.audit(ctx, "replication.run", rule.Name, fmt.Sprintf("here, dry_run=%v", dryRun))
	return s.execute(ctx, runArgs{Rule: rule.ID, Run: newID(), Trigger: api.TriggerManual, DryRun: dryRun}), nil
}
