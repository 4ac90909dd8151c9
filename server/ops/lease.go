package ops

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// leaseTerm is how long a running write job's lease lasts unrenewed. The replica running the
// job renews it every third of that by moving River's attempted_at, by which River's rescuer
// (every 30 s, on the leader) finds stuck jobs: a replica that dies has its job handed on
// about leaseTerm after its last renewal, plus up to the rescuer's 30 s, whatever the job
// timeout.
const leaseTerm = 15 * time.Second

// Timeout is River's deadline for one run of a write job: the lease term, by which the
// rescuer measures a stuck job. The job itself runs until --job-timeout (withLease).
func (w *opWorker) Timeout(*river.Job[opArgs]) time.Duration { return w.m.opts.lease }

// Timeout is River's deadline for a periodic task: --job-timeout, as before leases; a
// periodic task is enqueued again next period anyway.
func (w *periodicWorker) Timeout(*river.Job[periodicArgs]) time.Duration {
	return w.m.opts.JobTimeout
}

// withLease returns the context a write job runs in: bounded by --job-timeout instead of
// River's deadline (the lease term), cancelled by whatever else cancels River's (a cancel
// from any replica, this replica stopping), and with the job's lease renewed until end is
// called.
func (m *Manager) withLease(ctx context.Context, job *river.Job[opArgs]) (jctx context.Context, end func()) {
	return m.Leased(ctx, job.ID, job.Attempt)
}

// LeaseTerm is the River deadline a worker of Options.Kinds answers from its Timeout, so that
// its runs are leased (Leased) like write jobs'.
func (m *Manager) LeaseTerm() time.Duration { return m.opts.lease }

// Leased is withLease for a job of any kind, by its id and attempt.
func (m *Manager) Leased(ctx context.Context, id int64, attempt int) (jctx context.Context, end func()) {
	base, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	jctx, stopTimer := context.WithTimeout(base, m.opts.JobTimeout)
	stopWatch := context.AfterFunc(ctx, func() {
		if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
			cancel(cause)
		}
	})
	done := make(chan struct{})
	go m.renew(jctx, id, attempt, done)
	return jctx, func() {
		close(done)
		stopWatch()
		stopTimer()
		cancel(nil)
	}
}

// renew keeps a running job's lease until done is closed or ctx ends. A lease that cannot be
// renewed (the database is down) or is lost (the rescuer handed the job on) is logged; the
// run goes on, since its writes are by digest and its final step checks what it recorded.
func (m *Manager) renew(ctx context.Context, id int64, attempt int, done <-chan struct{}) {
	renewal := m.opts.lease / 3
	t := time.NewTicker(renewal)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, renewal)
		ok, err := m.store.RenewJobLease(rctx, id, attempt)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			slog.Warn("job lease not renewed", "job", id, "err", err)
		case err == nil && !ok:
			slog.Warn("job lease lost: the job was handed to another replica", "job", id, "attempt", attempt)
			return
		}
	}
}
