package replication

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// maxShown bounds the items a run keeps in its history.
const maxShown = 1000

// runArgs are a replication run's River arguments.
type runArgs struct {
	Rule    string `json:"rule"`
	Run     string `json:"run"`
	Trigger string `json:"trigger"`
	DryRun  bool   `json:"dryRun,omitempty"`
	// Repository and Tag narrow a push-triggered run to one artifact; Deleted marks a
	// deletion at the source.
	Repository string `json:"repository,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Deleted    bool   `json:"deleted,omitempty"`
}

// KindRun is the River job kind of a replication run.
const KindRun = "berth_replication"

// Kind implements river.JobArgs.
func (runArgs) Kind() string { return KindRun }

// recorder keeps a run's record current in the store as it goes.
type recorder struct {
	s   *Service
	mu  sync.Mutex
	run api.ReplicationRun
}

func (r *recorder) save(ctx context.Context) {
	r.mu.Lock()
	data, _ := json.Marshal(r.run)
	row := store.ReplicationRun{ID: r.run.ID, Rule: r.run.Rule, State: r.run.State, Started: r.run.Started, Data: data}
	r.mu.Unlock()
	if err := r.s.st.PutRun(context.WithoutCancel(ctx), row); err != nil {
		slog.WarnContext(ctx, "replication run not recorded", "run", row.ID, "err", err)
	}
}

// execute runs args: plans, then (unless a dry run) copies and deletes, recording as it goes.
func (s *Service) execute(ctx context.Context, args runArgs) api.ReplicationRun {
	rec := &recorder{s: s, run: api.ReplicationRun{ID: args.Run, Rule: args.Rule, Trigger: args.Trigger, DryRun: args.DryRun, State: api.RunRunning, Started: time.Now().UTC()}}
	if old, ok, err := s.st.Run(ctx, args.Run); err == nil && ok {
		rec.run.Started = old.Started.UTC() // resumed: the run started back then
	}
	rec.save(ctx)
	var items []item
	p, err := s.prepare(ctx, args)
	if err == nil {
		items, err = p.plan(ctx)
	}
	if err == nil && !args.DryRun {
		s.apply(ctx, rec, p, items)
	}
	rec.mu.Lock()
	r := &rec.run
	if args.DryRun {
		for _, it := range items {
			tally(r, it.Action)
		}
	}
	r.Items = r.Items[:0]
	for i, it := range items {
		if i == maxShown {
			break
		}
		r.Items = append(r.Items, it.ReplicationItem)
	}
	r.Ended = time.Now().UTC()
	r.DurationMS = r.Ended.Sub(r.Started).Milliseconds()
	switch {
	case err != nil:
		r.State, r.Error = api.RunFailed, registry.Describe(err)
	case r.Failed > 0 && r.Copied+r.Deleted == 0:
		r.State = api.RunFailed
	case r.Failed > 0:
		r.State = api.RunPartial
	default:
		r.State = api.RunSucceeded
	}
	out := *r
	rec.mu.Unlock()
	rec.save(ctx)
	s.opts.Metrics.runs.WithLabelValues(out.State, out.Trigger).Inc()
	s.opts.Metrics.duration.Observe(time.Duration(out.DurationMS * int64(time.Millisecond)).Seconds())
	slog.InfoContext(ctx, "replication run ended", "rule", out.Rule, "run", out.ID, "state", out.State, "copied", out.Copied,
		"skipped", out.Skipped, "deleted", out.Deleted, "failed", out.Failed, "bytes", out.Bytes, "dry_run", out.DryRun)
	if s.opts.OnRun != nil && !out.DryRun && ctx.Err() == nil {
		rule := api.ReplicationRule{ID: args.Rule}
		if p != nil {
			rule = p.f.rule
		}
		out.Items = nil
		s.opts.OnRun(context.WithoutCancel(ctx), out, rule, args.Repository)
	}
	return out
}

// tally counts one artifact's outcome.
func tally(r *api.ReplicationRun, action string) {
	switch action {
	case api.ItemCopy:
		r.Copied++
	case api.ItemDelete:
		r.Deleted++
	default:
		r.Skipped++
	}
}

// prepare returns the planner of args's run: its rule and endpoints' clients.
func (s *Service) prepare(ctx context.Context, args runArgs) (*planner, error) {
	rule, err := s.Rule(ctx, args.Rule)
	if err != nil {
		return nil, err
	}
	f, err := compile(rule)
	if err != nil {
		return nil, err
	}
	p := &planner{f: f, args: args}
	if p.srcE, err = s.endpoint(ctx, rule.Source); err != nil {
		return nil, err
	}
	dstE, err := s.endpoint(ctx, rule.Destination)
	if err != nil {
		return nil, err
	}
	if p.src, err = s.client(p.srcE); err != nil {
		return nil, err
	}
	if p.dst, err = s.client(dstE); err != nil {
		return nil, err
	}
	return p, nil
}

// apply copies and deletes the planned items, Concurrency at once, each tried Attempts
// times with a doubling backoff; a failing item is recorded and the others go on.
func (s *Service) apply(ctx context.Context, rec *recorder, p *planner, items []item) {
	eg := errgroup.Group{}
	eg.SetLimit(s.opts.Concurrency)
	for i := range items {
		it := &items[i]
		if it.Action == api.ItemSkip {
			rec.mu.Lock()
			rec.run.Skipped++
			rec.mu.Unlock()
			s.opts.Metrics.artifacts.WithLabelValues("skipped").Inc()
			continue
		}
		eg.Go(func() error {
			bytes, err := s.attempts(ctx, it, func() (int64, error) { return s.do(ctx, p, it) })
			rec.mu.Lock()
			if err != nil {
				it.Error = registry.Describe(err)
				rec.run.Failed++
			} else {
				it.Done = true
				rec.run.Bytes += bytes
				tally(&rec.run, it.Action)
			}
			rec.mu.Unlock()
			result := it.Action
			if err != nil {
				result = "failed"
			}
			s.opts.Metrics.artifacts.WithLabelValues(result).Inc()
			s.opts.Metrics.bytes.Add(float64(bytes))
			rec.save(ctx)
			return nil
		})
	}
	_ = eg.Wait()
}

// attempts runs do until it succeeds, Attempts times at most, waiting Backoff, then twice
// that, between tries.
func (s *Service) attempts(ctx context.Context, it *item, do func() (int64, error)) (int64, error) {
	wait := s.opts.Backoff
	var err error
	for it.Attempts = 1; ; it.Attempts++ {
		var n int64
		if n, err = do(); err == nil || it.Attempts >= s.opts.Attempts || ctx.Err() != nil {
			return n, err
		}
		s.opts.Metrics.retries.Inc()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// do copies or deletes one item and returns the blob bytes it moved.
func (s *Service) do(ctx context.Context, p *planner, it *item) (int64, error) {
	src, dst := p.src, p.dst
	if it.Action == api.ItemDelete {
		w, err := dst.Writer(ctx)
		if err != nil {
			return 0, err
		}
		if _, err := w.Delete(ctx, it.dstRepo, it.tag); err != nil && !notFound(err) {
			return 0, err
		}
		return 0, nil
	}
	// By digest first: the source tag may have moved since the plan.
	ref := it.tag
	if it.Digest != "" {
		ref = it.Digest
	}
	sep := ":"
	if it.Digest != "" {
		sep = "@"
	}
	c, err := ops.NewCopy(ops.Endpoint{Registry: src, Ref: it.srcRepo + sep + ref}, ops.Endpoint{Registry: dst, Ref: it.dstRepo + ":" + it.tag})
	if err != nil {
		return 0, err
	}
	c.SkipReferrers, c.Placed = p.f.rule.NoReferrers, &p.placed
	res, err := c.Run(ctx, func(api.JobEvent) {})
	if err != nil {
		return 0, err
	}
	return res.Bytes, nil
}
