package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/store"
)

// opWorker runs a write job on whichever replica River hands it to.
type opWorker struct {
	river.WorkerDefaults[opArgs]
	m *Manager
}

// Work runs the job with its owner's credentials and persists its events. A failure is
// final (a retry would fail the same way); an interruption is not: a replica stopping, or
// killed (River's rescuer hands its job on once its lease lapsed: lease.go), and
// the job starts over on another one, which is safe since copies, retags and deletes write
// by digest and move the tag last, and a resumed one reads what the attempt before recorded
// (see recorded) so as not to undo what others changed after the crash. An import starts over too when its archive is on a
// volume the replicas share, and fails saying so when it is not.
func (w *opWorker) Work(ctx context.Context, job *river.Job[opArgs]) error {
	m, args := w.m, job.Args
	ctx, end := m.withLease(ctx, job)
	defer end()
	log, err := openEventLog(ctx, m.store, job.ID)
	if err != nil {
		return err // the store is down: River retries
	}
	if log.ended {
		// A run before this one wrote the outcome but its replica stopped before River
		// heard: nothing to do again.
		return nil
	}
	started := time.Now()
	logger := slog.With("job", job.ID, "kind", args.Request.Kind, "summary", args.Summary, "user", args.User, "attempt", job.Attempt)
	logger.InfoContext(ctx, "job started", "replica", m.replica)
	if job.Attempt > 1 {
		log.add(api.JobEvent{Type: api.EventMessage, Message: resumed(job.JobRow)})
		logger.InfoContext(ctx, "job resumed", "replica", m.replica, "after", lastError(job.JobRow))
	}
	res, err := w.run(ctx, job, log)
	var final api.JobEvent
	switch {
	case err == nil:
		final = api.JobEvent{Type: api.EventResult, State: api.JobSucceeded, Result: res}
	case errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely):
		final = api.JobEvent{Type: api.EventError, State: api.JobCancelled, Error: "cancelled", Result: res}
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		final = api.JobEvent{Type: api.EventError, State: api.JobFailed, Error: fmt.Sprintf("the job ran longer than %s (--job-timeout)", m.opts.JobTimeout), Result: res}
	case ctx.Err() != nil:
		// This replica is stopping: the job is not over.
		log.add(api.JobEvent{Type: api.EventMessage, Message: "Interrupted: the replica running the job is stopping; another one takes it over."})
		log.close(context.WithoutCancel(ctx))
		logger.InfoContext(ctx, "job interrupted", "took", time.Since(started).Round(time.Millisecond))
		return ctx.Err()
	default:
		final = api.JobEvent{Type: api.EventError, State: api.JobFailed, Error: message(err), Result: res}
	}
	if err := log.finish(context.WithoutCancel(ctx), final); err != nil {
		return err // River retries; the outcome is written by the next run
	}
	m.release(context.WithoutCancel(ctx), args)
	level := slog.LevelInfo
	if final.State == api.JobFailed {
		level = slog.LevelWarn
	}
	logger.Log(ctx, level, "job ended", "state", final.State, "err", err, "took", time.Since(started).Round(time.Millisecond))
	if final.State == api.JobFailed {
		m.failed(context.WithoutCancel(ctx), job, final.Error)
		return river.JobCancel(errors.New(final.Error))
	}
	return nil
}

// run opens the job's credentials and runs its operation.
func (w *opWorker) run(ctx context.Context, job *river.Job[opArgs], log *eventLog) (*api.JobResult, error) {
	report := Report(log.add)
	m, args := w.m, job.Args
	req := args.Request
	if args.Secret != "" {
		creds, err := m.credentials(ctx, args.Secret)
		if err != nil {
			return nil, err
		}
		req.SourcePassword, req.DestinationPassword = creds.SourcePassword, creds.DestinationPassword
		if creds.Auth != nil {
			ctx = access.With(ctx, access.Identity{Kind: access.User, Name: args.User, Key: "job:" + args.Secret, Auth: authn.FromConfig(*creds.Auth)})
			defer m.opts.Registry.Forget("job:" + args.Secret)
		}
	}
	at := attempt{resume: job.Attempt > 1, durable: log.flush}
	if at.resume {
		var err error
		if at.prior, err = recorded(ctx, m.store, job.ID); err != nil {
			return nil, err
		}
	}
	r, err := m.prepare(m.opts.Registry, args.User, req, at)
	if err != nil {
		return nil, err
	}
	return r.exec(ctx, report)
}

// recorded returns what the attempts before this one of a job recorded about the references
// they worked on: their events carrying Refs or a Step, in order.
func recorded(ctx context.Context, st store.Store, job int64) ([]api.JobEvent, error) {
	var out []api.JobEvent
	for after := 0; ; {
		rows, err := st.JobEvents(ctx, job, after, 500)
		if err != nil {
			return nil, fmt.Errorf("the events of the attempt before: %w", err)
		}
		for _, r := range rows {
			after = r.Seq
			var e api.JobEvent
			if json.Unmarshal(r.Data, &e) == nil && (len(e.Refs) > 0 || e.Step != "") {
				out = append(out, e)
			}
		}
		if len(rows) < 500 {
			return out, nil
		}
	}
}

// rescuedError is the error River's rescuer records on a job whose replica stopped
// answering (killed, crashed, cut off) while running it.
const rescuedError = "Stuck job rescued by JobRescuer"

// lastError is the error River recorded for a job's previous attempt, "" when none.
func lastError(row *rivertype.JobRow) string {
	if n := len(row.Errors); n > 0 {
		return row.Errors[n-1].Error
	}
	return ""
}

// resumed says why a job runs again, for its event stream.
func resumed(row *rivertype.JobRow) string {
	attempt := fmt.Sprintf("attempt %d of %d", row.Attempt, row.MaxAttempts)
	switch e := lastError(row); {
	case e == rescuedError:
		return "Resumed on another replica after a crash (" + attempt + "): the replica running the job stopped answering; starting over, skipping what is done already."
	case strings.Contains(e, context.Canceled.Error()):
		return "Resumed on another replica (" + attempt + "): the replica running the job shut down, so the job starts over."
	}
	return "Retrying (" + attempt + "): the job store failed on the attempt before."
}

var errNoCredentials = errors.New("the job's credentials are gone (it ended, or its sealed secret was removed)")

// credentials opens a job's sealed credentials.
func (m *Manager) credentials(ctx context.Context, id string) (credentials, error) {
	sealed, ok, err := m.store.JobSecret(ctx, id)
	if err != nil {
		return credentials{}, err
	}
	if !ok {
		return credentials{}, errNoCredentials
	}
	plain, err := m.sealer.Open(id, sealed)
	if err != nil {
		return credentials{}, err
	}
	var c credentials
	if err := json.Unmarshal(plain, &c); err != nil {
		return credentials{}, fmt.Errorf("sealed credentials: %w", err)
	}
	return c, nil
}

// release drops what an ended job kept: its sealed credentials and an import's archive.
func (m *Manager) release(ctx context.Context, args opArgs) {
	m.removeArchive(ctx, args.Request)
	if args.Secret != "" {
		if err := m.store.DeleteJobSecrets(ctx, []string{args.Secret}); err != nil {
			slog.WarnContext(ctx, "dropping a job's credentials failed; the cleanup job retries", "err", err)
		}
	}
}

// maxEvents bounds a job's stored events; past it, progress events are dropped (phases,
// messages and the final event always stay).
const maxEvents = 5000

// progressEvery is how often one blob's progress is stored at most.
const progressEvery = 100 * time.Millisecond

// flushEvery is how often buffered events are written to the store.
const flushEvery = 50 * time.Millisecond

// eventLog persists a running job's events, numbering them after those already stored (a
// job resumed on another replica continues the sequence). Progress is throttled per blob
// and events are written in batches, off the operation's goroutines.
type eventLog struct {
	st  store.Store
	job int64

	// flushing keeps writes in order: when flush returns nil, every event added before the
	// call is durable.
	flushing sync.Mutex
	mu       sync.Mutex
	seq      int
	ended    bool
	pending  []store.JobEvent
	blobs    map[string][2]int64
	lastShow map[string]time.Time
	done     int64
	total    int64
	stop     chan struct{}
	stopped  chan struct{}
}

func openEventLog(ctx context.Context, st store.Store, job int64) (*eventLog, error) {
	last, err := st.LastJobEvents(ctx, []int64{job})
	if err != nil {
		return nil, err
	}
	l := &eventLog{st: st, job: job, seq: last[job].Seq, ended: last[job].Final,
		blobs: map[string][2]int64{}, lastShow: map[string]time.Time{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go l.flushLoop()
	return l, nil
}

func (l *eventLog) flushLoop() {
	defer close(l.stopped)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			_ = l.flush(context.Background())
		}
	}
}

// flush writes the pending events; on failure they stay pending for the next try.
func (l *eventLog) flush(ctx context.Context) error {
	l.flushing.Lock()
	defer l.flushing.Unlock()
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.st.AddJobEvents(ctx, batch); err != nil {
		l.mu.Lock()
		l.pending = append(batch, l.pending...)
		l.mu.Unlock()
		slog.Warn("storing job events failed", "job", l.job, "err", err)
		return err
	}
	return nil
}

// add records an event, throttling progress events per blob.
func (l *eventLog) add(e api.JobEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return // late progress from a goroutine still draining
	}
	now := time.Now()
	if e.Type == api.EventProgress {
		l.blobs[e.Blob] = [2]int64{e.Done, e.Total}
		var done, total int64
		for _, b := range l.blobs {
			done += b[0]
			total += b[1]
		}
		l.done, l.total = done, total
		finished := e.Done >= e.Total
		if l.seq >= maxEvents || (!finished && now.Sub(l.lastShow[e.Blob]) < progressEvery) {
			return
		}
		l.lastShow[e.Blob] = now
	}
	l.appendLocked(e, now)
}

func (l *eventLog) appendLocked(e api.JobEvent, now time.Time) {
	l.seq++
	e.Seq = l.seq
	e.Time = now.UTC()
	data, _ := json.Marshal(e)
	l.pending = append(l.pending, store.JobEvent{JobID: l.job, Seq: e.Seq, Time: e.Time, Done: l.done, Total: l.total, Final: e.Final(), Data: data})
}

// close stops the flushing and writes what is pending.
func (l *eventLog) close(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.stopped
	return l.flush(ctx)
}

// finish records the job's outcome as its final event and writes everything.
func (l *eventLog) finish(ctx context.Context, final api.JobEvent) error {
	l.mu.Lock()
	if !l.ended {
		l.appendLocked(final, time.Now())
		l.ended = true
	}
	l.mu.Unlock()
	return l.close(ctx)
}

// periodicWorker runs the Periodic task a periodic job names.
type periodicWorker struct {
	river.WorkerDefaults[periodicArgs]
	m *Manager
}

// Work runs the task; a failure is logged and waits for the next period.
func (w *periodicWorker) Work(ctx context.Context, job *river.Job[periodicArgs]) error {
	for _, p := range w.m.periodic() {
		if p.Name == job.Args.Name {
			started := time.Now()
			err := p.Run(ctx)
			if err != nil {
				slog.WarnContext(ctx, "periodic task failed", "task", p.Name, "err", err)
				return river.JobCancel(err)
			}
			slog.DebugContext(ctx, "periodic task done", "task", p.Name, "replica", w.m.replica, "took", time.Since(started).Round(time.Millisecond))
			return nil
		}
	}
	return river.JobCancel(fmt.Errorf("no periodic task %q on this replica", job.Args.Name))
}
