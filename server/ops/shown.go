package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/app/api"
)

// Jobs of other packages' kinds (Options.Queues with About) are listed, followed and
// cancelled like write jobs, under the same rules: a user sees their own, an administrator
// everyone's. One queued by Berth itself (User "") is an administrator's to see.

// About is what the jobs API shows of a job of another package's kind.
type About struct {
	// Kind is api.Job.Kind, e.g. api.JobScan.
	Kind string
	// User is who asked for it; "" for Berth itself.
	User    string
	Summary string
	// Touches is api.Job.Touches: what the job reads or writes in Berth's registry.
	Touches []string
}

// describe is what the jobs API shows of row; ok is false for a kind it does not show.
func (m *Manager) describe(row *rivertype.JobRow) (a About, ok bool) {
	if row.Kind == kindOp {
		var args opArgs
		if json.Unmarshal(row.EncodedArgs, &args) != nil {
			return About{}, false
		}
		return About{Kind: args.Request.Kind, User: args.User, Summary: args.Summary, Touches: touches(args.Request)}, true
	}
	for _, k := range m.opts.Queues {
		if k.Name == row.Kind && k.About != nil {
			return k.About(row.EncodedArgs)
		}
	}
	return About{}, false
}

// shownKinds are the River kinds the jobs API lists.
func (m *Manager) shownKinds() []string {
	kinds := []string{kindOp}
	for _, k := range m.opts.Queues {
		if k.About != nil {
			kinds = append(kinds, k.Name)
		}
	}
	return kinds
}

// InsertFor queues a job of one of Options.Queues' kinds that user asked for ("" for Berth
// itself), tagged so the jobs API lists it as theirs, and records that it is queued; dup
// says an equal unique job was queued already (its id is returned). Other packages decide
// who may queue what before they call it.
func (m *Manager) InsertFor(ctx context.Context, user string, args river.JobArgs, opts *river.InsertOpts) (id int64, dup bool, err error) {
	o := *opts
	if user != "" {
		o.Tags = append(append([]string(nil), o.Tags...), userTag(user))
	}
	id, dup, err = m.InsertJob(ctx, args, &o)
	if err != nil || dup {
		return id, dup, err
	}
	log := &eventLog{st: m.store, job: id, blobs: map[string][2]int64{}, lastShow: map[string]time.Time{}}
	log.add(api.JobEvent{Type: api.EventPhase, Phase: "queued", Message: "Queued: waiting for its turn."})
	if err := log.flush(ctx); err != nil {
		slog.WarnContext(ctx, "job event not stored", "job", id, "err", err)
	}
	return id, false, nil
}

// Track runs a job of another package's kind with events like a write job's: a phase
// (e.g. "scanning", with message saying it in words), then its outcome, failed with the
// text run returns when that is not "". run's context is the job's lease (Lease), cancelled by the jobs API's cancel. An err
// from run is River's to retry; Track returns what the worker should.
func (m *Manager) Track(ctx context.Context, job *rivertype.JobRow, phase, message string, run func(ctx context.Context) (failure string, err error)) error {
	ctx, end := m.Lease(ctx, job.ID, job.Attempt)
	defer end()
	log, err := openEventLog(ctx, m.store, job.ID)
	if err != nil {
		return err
	}
	if log.ended {
		return nil // a run before this one wrote the outcome
	}
	if log.seq == 0 {
		log.seq = 1 // InsertFor's "queued", which may land after this run starts
	}
	log.add(api.JobEvent{Type: api.EventPhase, Phase: phase, Message: message})
	failure, err := run(ctx)
	var final api.JobEvent
	switch {
	case errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely):
		final = api.JobEvent{Type: api.EventError, State: api.JobCancelled, Error: "cancelled"}
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		final = api.JobEvent{Type: api.EventError, State: api.JobFailed, Error: fmt.Sprintf("the job ran longer than %s (--job-timeout)", m.opts.JobTimeout)}
	case ctx.Err() != nil || err != nil:
		// This replica is stopping, or the store failed: River runs the job again.
		_ = log.close(context.WithoutCancel(ctx))
		return errors.Join(ctx.Err(), err)
	case failure != "":
		final = api.JobEvent{Type: api.EventError, State: api.JobFailed, Error: failure}
	default:
		final = api.JobEvent{Type: api.EventResult, State: api.JobSucceeded}
	}
	if err := log.finish(context.WithoutCancel(ctx), final); err != nil {
		return err
	}
	if final.State == api.JobCancelled {
		return river.JobCancel(errors.New(final.Error))
	}
	return nil
}
