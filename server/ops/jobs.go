package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// SourceBerth marks events Berth records for its own write operations.
const SourceBerth = "berth"

// Report receives a running operation's events. The operations call it from several
// goroutines at once.
type Report func(api.JobEvent)

func (r Report) phase(name, msg string) {
	if r != nil {
		r(api.JobEvent{Type: api.EventPhase, Phase: name, Message: msg})
	}
}

func (r Report) message(msg string) {
	if r != nil {
		r(api.JobEvent{Type: api.EventMessage, Message: msg})
	}
}

func (r Report) progress(blob string, done, total int64) {
	if r != nil {
		r(api.JobEvent{Type: api.EventProgress, Blob: blob, Done: done, Total: total})
	}
}

// Options configures a Manager.
type Options struct {
	// Registry is Berth's registry; every job runs with the credentials of the user who
	// started it.
	Registry *registry.Client
	// Remote returns a client for another registry named in a copy, with the credentials the
	// request gave; nil means copies stay within Registry. It refuses registries the operator
	// did not allow.
	Remote func(url, username, password string) (*registry.Client, error)
	// Invalidate, if set, is told about every tag a job changed (catalog.Service.Invalidate).
	Invalidate func(repository, tag string)
	// Record, if set, stores an audit event for every reference a job wrote or deleted.
	Record func(ctx context.Context, events []store.Event) error
	// Keep bounds the finished jobs remembered; 0 means 100.
	Keep int
	// ReadOnly refuses every job.
	ReadOnly bool
	// MaxRunning bounds the jobs running at once; MaxPerUser those of one user (anonymous
	// callers count as one user). 0 means 16 and 4.
	MaxRunning, MaxPerUser int
}

// Manager runs jobs and remembers the recent ones, in memory.
type Manager struct {
	opts Options

	mu   sync.Mutex
	jobs map[string]*Job
	ids  []string // in creation order
	wg   sync.WaitGroup
}

// NewManager returns a Manager.
func NewManager(opts Options) *Manager {
	if opts.Keep <= 0 {
		opts.Keep = 100
	}
	if opts.MaxRunning <= 0 {
		opts.MaxRunning = 16
	}
	if opts.MaxPerUser <= 0 {
		opts.MaxPerUser = 4
	}
	return &Manager{opts: opts, jobs: map[string]*Job{}}
}

// Job is one write operation under way or done.
type Job struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	info     api.Job
	events   []api.JobEvent
	wake     chan struct{} // closed and replaced whenever an event is added
	blobs    map[string][2]int64
	lastShow map[string]time.Time
}

// maxEvents bounds a job's stored events; past it, progress events are dropped (phases,
// messages and the final event always stay).
const maxEvents = 5000

// progressEvery is how often one blob's progress is stored at most.
const progressEvery = 100 * time.Millisecond

func newJob(kind, summary, user string, cancel context.CancelFunc) *Job {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Job{
		cancel: cancel,
		done:   make(chan struct{}),
		info: api.Job{
			ID: hex.EncodeToString(b[:]), Kind: kind, Summary: summary, User: user,
			State: api.JobRunning, Created: time.Now().UTC(),
		},
		wake:     make(chan struct{}),
		blobs:    map[string][2]int64{},
		lastShow: map[string]time.Time{},
	}
}

// ID is the job's id.
func (j *Job) ID() string { return j.info.ID }

// Info returns the job's current state.
func (j *Job) Info() api.Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.info
}

// Done is closed when the job has ended.
func (j *Job) Done() <-chan struct{} { return j.done }

// Events returns the events from index from on, whether the job has ended, and a channel
// closed when more arrive.
func (j *Job) Events(from int) ([]api.JobEvent, bool, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []api.JobEvent
	if from < len(j.events) {
		out = slices.Clone(j.events[from:])
	}
	return out, j.info.State != api.JobRunning, j.wake
}

// add stores an event, throttling progress events per blob.
func (j *Job) add(e api.JobEvent) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.info.State != api.JobRunning {
		return // late progress from a goroutine still draining
	}
	now := time.Now()
	if e.Type == api.EventProgress {
		j.blobs[e.Blob] = [2]int64{e.Done, e.Total}
		var done, total int64
		for _, b := range j.blobs {
			done += b[0]
			total += b[1]
		}
		j.info.Done, j.info.Total = done, total
		finished := e.Done >= e.Total
		if len(j.events) >= maxEvents || (!finished && now.Sub(j.lastShow[e.Blob]) < progressEvery) {
			return
		}
		j.lastShow[e.Blob] = now
	}
	e.Seq = len(j.events) + 1
	e.Time = now.UTC()
	j.events = append(j.events, e)
	close(j.wake)
	j.wake = make(chan struct{})
}

// finish records the job's outcome as its final event.
func (j *Job) finish(res *api.JobResult, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := api.JobEvent{Seq: len(j.events) + 1, Time: time.Now().UTC(), Result: res}
	switch {
	case err == nil:
		e.Type, e.State = api.EventResult, api.JobSucceeded
	case errors.Is(err, context.Canceled):
		e.Type, e.State, e.Error = api.EventError, api.JobCancelled, "cancelled"
	default:
		e.Type, e.State, e.Error = api.EventError, api.JobFailed, message(err)
	}
	j.info.State, j.info.Error, j.info.Result, j.info.Ended = e.State, e.Error, res, e.Time
	j.events = append(j.events, e)
	close(j.wake)
	j.wake = make(chan struct{})
}

// run is an operation ready to start: everything it needs has been checked.
type run struct {
	kind, summary string
	exec          func(ctx context.Context, report Report) (*api.JobResult, error)
}

// Start checks req and starts it as a job with the credentials of the principal in ctx (or
// Berth's own). Bad requests fail here, before any job exists.
func (m *Manager) Start(ctx context.Context, req api.JobRequest) (*Job, error) {
	if m.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	// A write never runs with more rights than the person asking has: without a signed-in
	// user it is refused before anything is checked, unless the operator allowed it.
	if !m.opts.Registry.CanWrite(ctx) {
		return nil, errSignIn
	}
	user := registry.UserFrom(ctx)
	r, err := m.prepare(m.opts.Registry, user, req)
	if err != nil {
		return nil, err
	}
	// The job outlives the request that started it, but keeps its values (request id).
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	j := newJob(r.kind, r.summary, user, cancel)
	m.mu.Lock()
	if err := m.admitLocked(user); err != nil {
		m.mu.Unlock()
		cancel()
		return nil, err
	}
	m.jobs[j.ID()] = j
	m.ids = append(m.ids, j.ID())
	m.pruneLocked()
	m.mu.Unlock()

	slog.InfoContext(ctx, "job started", "job", j.ID(), "kind", r.kind, "summary", r.summary, "user", user)
	m.wg.Go(func() {
		defer close(j.done)
		defer cancel()
		res, err := r.exec(jctx, j.add)
		j.finish(res, err)
		info := j.Info()
		level := slog.LevelInfo
		if info.State == api.JobFailed {
			level = slog.LevelWarn
		}
		slog.Log(jctx, level, "job ended", "job", info.ID, "kind", info.Kind, "summary", info.Summary, "user", user,
			"state", info.State, "err", err, "took", info.Ended.Sub(info.Created).Round(time.Millisecond))
	})
	return j, nil
}

// ErrReadOnly is returned for every write while Berth runs with --read-only.
var ErrReadOnly = httperr.New(api.CodeReadOnly, "Berth runs read-only (--read-only): write operations are disabled.")

// pruneLocked forgets the oldest finished jobs beyond Keep.
func (m *Manager) pruneLocked() {
	finished := 0
	for _, id := range m.ids {
		if m.jobs[id].Info().State != api.JobRunning {
			finished++
		}
	}
	kept := m.ids[:0]
	for _, id := range m.ids {
		if finished > m.opts.Keep && m.jobs[id].Info().State != api.JobRunning {
			delete(m.jobs, id)
			finished--
			continue
		}
		kept = append(kept, id)
	}
	m.ids = kept
}

var errSignIn = httperr.New(api.CodeUnauthorized, "Sign in to make changes: Berth does not write with its own registry credentials.")

// admitLocked refuses a new job past the limits on running jobs, in total and per user.
func (m *Manager) admitLocked(user string) error {
	total, mine := 0, 0
	for _, j := range m.jobs {
		info := j.Info()
		if info.State != api.JobRunning {
			continue
		}
		total++
		if info.User == user {
			mine++
		}
	}
	switch {
	case mine >= m.opts.MaxPerUser:
		return httperr.New(api.CodeTooManyRequests, fmt.Sprintf("You have %d jobs running, the most allowed; wait for one to end.", mine))
	case total >= m.opts.MaxRunning:
		return httperr.New(api.CodeTooManyRequests, fmt.Sprintf("%d jobs are running, the most allowed; try again shortly.", total))
	}
	return nil
}

// Get returns the job with the given id if the caller in ctx started it, or nil: nobody sees
// another user's jobs, not even whether they exist.
func (m *Manager) Get(ctx context.Context, id string) *Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.jobs[id]
	if j == nil || j.info.User != registry.UserFrom(ctx) {
		return nil
	}
	return j
}

// List returns the caller's remembered jobs, newest first.
func (m *Manager) List(ctx context.Context) []api.Job {
	user := registry.UserFrom(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.Job, 0, len(m.ids))
	for i := len(m.ids) - 1; i >= 0; i-- {
		if info := m.jobs[m.ids[i]].Info(); info.User == user {
			out = append(out, info)
		}
	}
	return out
}

// Cancel cancels a running job of the caller's; it reports whether that job exists.
func (m *Manager) Cancel(ctx context.Context, id string) bool {
	j := m.Get(ctx, id)
	if j == nil {
		return false
	}
	j.cancel()
	return true
}

// ErrRemoteNotAllowed is the error for a copy naming a registry the operator did not allow.
func ErrRemoteNotAllowed(url string, allowed []string) error {
	return httperr.New(api.CodeDenied, fmt.Sprintf("Berth does not copy to or from %q: the operator allows only %s (--remote-registries).", clipURL(url), strings.Join(allowed, ", ")))
}

func clipURL(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// Wait cancels nothing and waits for every job to end, for shutdown and tests.
func (m *Manager) Wait() { m.wg.Wait() }

// Shutdown cancels every running job and waits for them to end.
func (m *Manager) Shutdown() {
	m.mu.Lock()
	for _, j := range m.jobs {
		j.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// prepare validates req and binds it to an operation.
func (m *Manager) prepare(reg *registry.Client, user string, req api.JobRequest) (run, error) {
	rec := recorder{record: m.opts.Record, invalidate: m.opts.Invalidate, user: user}
	switch req.Kind {
	case api.JobDelete:
		d, err := NewDelete(reg, req.Repository, req.References)
		if err != nil {
			return run{}, err
		}
		return run{kind: req.Kind, summary: d.Summary(), exec: func(ctx context.Context, report Report) (*api.JobResult, error) {
			res, err := d.Run(ctx, report)
			rec.deleted(ctx, req.Repository, res)
			return res, err
		}}, nil
	case api.JobCopy, api.JobRetag:
		c, err := m.newCopy(reg, req)
		if err != nil {
			return run{}, err
		}
		return run{kind: req.Kind, summary: c.Summary(), exec: func(ctx context.Context, report Report) (*api.JobResult, error) {
			res, err := c.Run(ctx, report)
			if err == nil && c.Destination.Registry.Same(reg) {
				rec.copied(ctx, req.Kind, c.Destination.Ref, res)
			}
			return res, err
		}}, nil
	case api.JobCleanup:
		if req.Rule == nil {
			return run{}, badRequest("a cleanup needs a rule")
		}
		cl, err := NewCleanup(reg, *req.Rule)
		if err != nil {
			return run{}, err
		}
		return run{kind: req.Kind, summary: cl.Summary(), exec: func(ctx context.Context, report Report) (*api.JobResult, error) {
			res, err := cl.Run(ctx, report)
			rec.deleted(ctx, req.Rule.Repository, res)
			return res, err
		}}, nil
	case "":
		return run{}, badRequest("kind is missing: want delete, copy, retag or cleanup")
	}
	return run{}, badRequest(fmt.Sprintf("unknown kind %q: want delete, copy, retag or cleanup", req.Kind))
}

// Preview returns what a cleanup rule would delete, with the credentials of the principal
// in ctx.
func (m *Manager) Preview(ctx context.Context, rule api.CleanupRule) (api.CleanupPlan, error) {
	if m.opts.ReadOnly {
		return api.CleanupPlan{}, ErrReadOnly
	}
	cl, err := NewCleanup(m.opts.Registry, rule)
	if err != nil {
		return api.CleanupPlan{}, err
	}
	return cl.Plan(ctx)
}

// newCopy binds a copy or retag request to Berth's registry and any other registry it names.
func (m *Manager) newCopy(reg *registry.Client, req api.JobRequest) (*Copy, error) {
	src, dst := reg, reg
	var err error
	if req.SourceRegistry != "" {
		if src, err = m.remote(req.SourceRegistry, req.SourceUsername, req.SourcePassword); err != nil {
			return nil, err
		}
	}
	if req.DestinationRegistry != "" {
		if dst, err = m.remote(req.DestinationRegistry, req.DestinationUsername, req.DestinationPassword); err != nil {
			return nil, err
		}
	}
	source, destination := req.Source, req.Destination
	if req.Kind == api.JobRetag {
		if req.Repository == "" || req.Source == "" || req.Destination == "" {
			return nil, badRequest("a retag needs repository, source (tag or digest) and destination (the new tag)")
		}
		source = registry.JoinReference(req.Repository, req.Source)
		destination = req.Repository + ":" + req.Destination
	}
	return NewCopy(Endpoint{Registry: src, Ref: source}, Endpoint{Registry: dst, Ref: destination})
}

// remote returns the client for another registry a copy names.
func (m *Manager) remote(url, username, password string) (*registry.Client, error) {
	if m.opts.Remote == nil {
		return nil, httperr.New(api.CodeDenied, "Copies to or from other registries are not enabled (--remote-registries).")
	}
	return m.opts.Remote(url, username, password)
}

// recorder writes audit events and invalidates the catalog after a job's changes.
type recorder struct {
	record     func(ctx context.Context, events []store.Event) error
	invalidate func(repository, tag string)
	user       string
}

func (r recorder) deleted(ctx context.Context, repo string, res *api.JobResult) {
	if res == nil || len(res.Deleted) == 0 {
		return
	}
	var events []store.Event
	for _, ref := range res.Deleted {
		e := r.event(store.ActionDelete, repo)
		if len(ref) > 7 && ref[:7] == "sha256:" {
			e.Digest = ref
		} else {
			e.Tag = ref
		}
		events = append(events, e)
		if r.invalidate != nil {
			r.invalidate(repo, e.Tag)
		}
	}
	r.store(ctx, events)
}

func (r recorder) copied(ctx context.Context, kind, dst string, res *api.JobResult) {
	if res == nil {
		return
	}
	repo, tag, _ := registry.SplitReference(dst)
	if r.invalidate != nil {
		r.invalidate(repo, tag)
	}
	e := r.event(kind, repo)
	e.Digest = res.Digest
	if !strings.HasPrefix(tag, "sha256:") {
		e.Tag = tag
	}
	r.store(ctx, []store.Event{e})
}

func (r recorder) event(action, repo string) store.Event {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return store.Event{
		ID: "berth-" + hex.EncodeToString(b[:]), Timestamp: time.Now().UTC(), Action: action,
		Repository: repo, Actor: r.user, UserAgent: "berth", Source: SourceBerth,
	}
}

func (r recorder) store(ctx context.Context, events []store.Event) {
	if r.record == nil || len(events) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.record(ctx, events); err != nil {
		slog.WarnContext(ctx, "recording a write operation failed", "events", len(events), "err", err)
	}
}

// message is what a job's owner reads about err: the sentence of Berth's own errors (their
// causes, with registry URLs and bodies, go to the log only), each of several joined ones.
func message(err error) string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var parts []string
		for _, e := range j.Unwrap() {
			parts = append(parts, message(e))
		}
		return strings.Join(parts, "; ")
	}
	var he *httperr.Error
	if errors.As(err, &he) {
		return he.Message
	}
	return err.Error()
}
