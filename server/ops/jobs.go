package ops

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

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
	// Authorizer decides whether the caller may start a job (required): every repository a
	// job reads or writes in Registry is authorized before it is queued.
	Authorizer access.Authorizer
	// Remote returns a client for another registry named in a copy, with the credentials the
	// request gave; nil means copies stay within Registry. It refuses registries the operator
	// did not allow.
	Remote func(url, username, password string) (*registry.Client, error)
	// Invalidate, if set, is told about every tag a job changed (catalog.Service.Invalidate).
	Invalidate func(repository, tag string)
	// Record, if set, stores an audit event for every reference a job wrote or deleted.
	Record func(ctx context.Context, events []store.Event) error
	// Store keeps the jobs: River's tables, the jobs' events and sealed credentials, all in
	// the store's database. Required.
	Store store.Store
	// Secret is the cluster secret every replica shares; job credentials are sealed with a
	// key derived from it. Required.
	Secret []byte
	// Retention is how long finished jobs are kept; 0 means 7 days.
	Retention time.Duration
	// JobTimeout bounds one run of a job. 0 means 1 hour. A replica that dies mid-job has
	// its jobs taken over once their leases lapse (lease.go), whatever this is.
	JobTimeout time.Duration
	// ReadOnly refuses every job.
	ReadOnly bool
	// MaxRunning bounds the jobs running at once, over all replicas; MaxPerUser those of one
	// user (anonymous callers count as one user). 0 means 16 and 4.
	MaxRunning, MaxPerUser int
	// Periodic is work done every so often on one replica at a time.
	Periodic []Periodic
	// ImportDir holds uploaded archives until their import job ends; every replica must see
	// the same directory (a shared volume). "" turns imports off.
	ImportDir string
	// MaxImportSize bounds an uploaded archive, uncompressed; 0 means 2 GiB.
	MaxImportSize int64
	// Workers, if set, adds the workers of other packages' job kinds (Kinds) to River's;
	// they insert their jobs with Insert.
	Workers func(*river.Workers)
	// Kinds are those job kinds: their finished jobs are pruned after Retention too.
	Kinds []string

	// Queues are other packages' job kinds that run each in its own River queue, with its
	// own bound (scans: server/scan); their finished jobs are pruned too.
	Queues []Kind
	// OnFailed, if set, is told about every write job that failed (webhooks' job.failed).
	OnFailed func(ctx context.Context, f FailedJob)

	lease time.Duration // a job's lease term; 0 means leaseTerm (tests shorten it)
}

// Kind is a job kind of another package: its workers, and the River queue they run in with
// at most MaxWorkers jobs at once on each replica.
type Kind struct {
	// Name is the River kind, whose finished jobs are pruned after Retention like the others.
	Name       string
	Queue      string
	MaxWorkers int
	Register   func(*river.Workers)
	// About, if set, describes a job of the kind from its encoded arguments to the jobs API,
	// which then lists it (shown.go); ok false hides it.
	About func(encodedArgs []byte) (a About, ok bool)
}

// Periodic is a task run every Interval by one replica of the cluster at a time.
type Periodic struct {
	// Name identifies it (letters, digits, '-' and '_').
	Name     string
	Interval time.Duration
	// RunOnStart runs it when a replica becomes the cluster's leader, not only a period later.
	RunOnStart bool
	Run        func(ctx context.Context) error
}

// Manager runs write operations as durable jobs on River: any replica can start, run,
// follow and cancel any job, and a job survives the replica that started or ran it.
type Manager struct {
	opts    Options
	store   store.Store
	sealer  *Sealer
	queue   queue
	replica string
	follow  *followers
	stop    context.CancelFunc
}

// Kinds of River jobs.
const (
	kindOp       = "berth_op"
	kindPeriodic = "berth_periodic"
)

// opArgs are a write job's River arguments: the request without its passwords, and where
// the sealed credentials are.
type opArgs struct {
	Request api.JobRequest `json:"request"`
	Summary string         `json:"summary"`
	User    string         `json:"user,omitempty"`
	// Secret names the job's sealed credentials in the store; "" when it has none.
	Secret string `json:"secret,omitempty"`
	// Key is the job's idempotency key tag (keyTag), the one argument it is unique by; ""
	// when it was started without a key.
	Key string `json:"key,omitempty" river:"unique"`
}

func (opArgs) Kind() string { return kindOp }

// periodicArgs names a Periodic task.
type periodicArgs struct {
	Name string `json:"name"`
}

func (periodicArgs) Kind() string { return kindPeriodic }

// credentials are what a job's sealed secret holds.
type credentials struct {
	// Auth is the signed-in user's registry credentials; nil for service writes.
	Auth *authn.AuthConfig `json:"auth,omitempty"`
	// SourcePassword and DestinationPassword are for other registries a copy names.
	SourcePassword      string `json:"sourcePassword,omitempty"`
	DestinationPassword string `json:"destinationPassword,omitempty"`
}

// NewManager migrates River's tables in the store's database (once, however many replicas
// start at the same time) and returns a Manager; Start starts working jobs.
func NewManager(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("jobs: no store")
	}
	if opts.Authorizer == nil {
		return nil, errors.New("jobs: no authorizer")
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.JobTimeout <= 0 {
		opts.JobTimeout = time.Hour
	}
	if opts.MaxRunning <= 0 {
		opts.MaxRunning = 16
	}
	if opts.MaxPerUser <= 0 {
		opts.MaxPerUser = 4
	}
	if opts.MaxImportSize <= 0 {
		opts.MaxImportSize = DefaultMaxImportSize
	}
	if opts.lease <= 0 {
		opts.lease = leaseTerm
	}
	sealer, err := NewSealer(opts.Secret)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	m := &Manager{opts: opts, store: opts.Store, sealer: sealer, replica: hex.EncodeToString(b[:])}
	m.follow = newFollowers(opts.Store)

	workers := river.NewWorkers()
	river.AddWorker(workers, &opWorker{m: m})
	river.AddWorker(workers, &periodicWorker{m: m})
	if opts.Workers != nil {
		opts.Workers(workers)
	}
	var periodic []*river.PeriodicJob
	for _, p := range opts.Periodic {
		// Unique by name and period: however many leaders a cluster has had within a period,
		// the task is enqueued once in it.
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(p.Interval),
			func() (river.JobArgs, *river.InsertOpts) {
				return periodicArgs{Name: p.Name}, &river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: p.Interval}}
			}, &river.PeriodicJobOpts{ID: p.Name, RunOnStart: p.RunOnStart}))
	}
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.MaxRunning}}
	for _, k := range opts.Queues {
		k.Register(workers)
		queues[k.Queue] = river.QueueConfig{MaxWorkers: max(k.MaxWorkers, 1)}
	}
	cfg := &river.Config{
		ID:           "berth-" + m.replica,
		Logger:       slog.Default().With("component", "river"),
		Queues:       queues,
		Workers:      workers,
		PeriodicJobs: periodic,
		// A write job's replica renews its lease (lease.go); one not renewed for leaseTerm
		// belongs to a replica that died: River's rescuer (every 30 s) hands it to another.
		JobTimeout:           opts.lease,
		RescueStuckJobsAfter: opts.lease,
		// Jobs run past River's deadline on purpose; only one past --job-timeout is stuck.
		JobStuckThreshold: opts.JobTimeout,
		// Berth deletes finished jobs itself after --jobs-retention, with their events.
		CompletedJobRetentionPeriod: -1, CancelledJobRetentionPeriod: -1, DiscardedJobRetentionPeriod: -1,
		MaxAttempts: 3,
	}
	if opts.Store.Backend().SQLite != nil {
		cfg.FetchPollInterval = 100 * time.Millisecond
	}
	q, err := newQueue(ctx, opts.Store.Backend(), cfg)
	if err != nil {
		return nil, err
	}
	m.queue = q
	return m, nil
}

// InsertJob queues a job of one of Options.Queues' kinds; dup says an equal unique job was
// queued already. Other packages decide who may queue what before they call it.
func (m *Manager) InsertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (id int64, dup bool, err error) {
	res, err := m.queue.Insert(ctx, args, opts)
	if err != nil {
		return 0, false, storeError(err)
	}
	return res.Job.ID, res.UniqueSkippedAsDuplicate, nil
}

// JobState returns where a job of any kind stands; ok is false when it is gone.
func (m *Manager) JobState(ctx context.Context, id int64) (state rivertype.JobState, ok bool, err error) {
	row, err := m.queue.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, storeError(err)
	}
	return row.State, true, nil
}

// Unfinished are River's states of a job that has not ended, for unique options.
func Unfinished() []rivertype.JobState { return slices.Clone(unfinished) }

// Start starts working jobs until Shutdown.
func (m *Manager) Start(ctx context.Context) error {
	ctx, m.stop = context.WithCancel(context.WithoutCancel(ctx))
	m.follow.listen(ctx)
	return m.queue.Start(ctx)
}

// Shutdown stops working jobs: running ones are interrupted and resume on another replica
// (or this one, restarted) from the start, which is safe since every operation is
// idempotent by digest.
func (m *Manager) Shutdown(ctx context.Context) error {
	if m.stop != nil {
		defer m.stop()
	}
	return m.queue.StopAndCancel(ctx)
}

// ErrReadOnly is returned for every write while Berth runs with --read-only.
var ErrReadOnly = httperr.New(api.CodeReadOnly, "Berth runs read-only (--read-only): write operations are disabled.")

var errSignIn = httperr.New(api.CodeUnauthorized, "Sign in to make changes: Berth does not write with its own registry credentials.")

// Submit checks req and enqueues it as a job with the credentials of the principal in ctx
// (or Berth's own), returning its id. Bad requests fail here, before any job exists.
func (m *Manager) Submit(ctx context.Context, req api.JobRequest) (string, error) {
	return m.SubmitOnce(ctx, req, "")
}

// SubmitOnce is Submit with an idempotency key: while the job a user started with key is kept
// (--jobs-retention), the same request with it answers that job's id on any replica, and
// another request with it is a conflict. "" starts a new job every time.
func (m *Manager) SubmitOnce(ctx context.Context, req api.JobRequest, key string) (string, error) {
	if m.opts.ReadOnly {
		return "", ErrReadOnly
	}
	if req.Kind == api.JobImport {
		return "", badRequest("Imports start by uploading the archive: POST /api/v1/imports?repository=…&tag=….")
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	// Nobody signed in, and no anonymous writes: refused before anything else, by the
	// authorizer (which records it) or as a sign-in to make.
	if !m.opts.Registry.CanWrite(ctx) {
		if err := m.authorize(ctx, req); err != nil {
			return "", err
		}
		return "", errSignIn
	}
	user := access.From(ctx).Name
	var tag string
	if key != "" {
		// A retry is answered before the limits: its job is counted already.
		tag = keyTag(user, key)
		if id, ok, err := m.keyed(ctx, tag, req); err != nil || ok {
			return id, err
		}
	}
	r, err := m.prepare(m.opts.Registry, user, req, attempt{}) // checks the request; reads nothing
	if err != nil {
		return "", err
	}
	// The caller may do what the request, as decoded and checked, does: before anything is
	// read or queued.
	if err := m.authorize(ctx, req); err != nil {
		return "", err
	}
	if err := m.admit(ctx, user); err != nil {
		return "", err
	}
	return m.enqueue(ctx, user, req, r.summary, tag)
}

// enqueue inserts an admitted job, sealing the credentials of the principal in ctx and any
// the request carries for other registries. With a key tag (keyTag) the job is unique by it:
// of two replicas inserting one at once, the second answers the first's job.
func (m *Manager) enqueue(ctx context.Context, user string, req api.JobRequest, summary, tag string) (string, error) {
	args := opArgs{Request: withoutPasswords(req), Summary: summary, User: user, Key: tag}
	creds := credentials{SourcePassword: req.SourcePassword, DestinationPassword: req.DestinationPassword}
	if id := access.From(ctx); id.Auth != nil {
		a, err := id.Auth.Authorization()
		if err != nil {
			return "", fmt.Errorf("jobs: the user's credentials: %w", err)
		}
		creds.Auth = a
	}
	if creds.Auth != nil || creds.SourcePassword != "" || creds.DestinationPassword != "" {
		args.Secret = randomID()
		plain, _ := json.Marshal(creds)
		if err := m.store.PutJobSecret(ctx, args.Secret, m.sealer.Seal(args.Secret, plain)); err != nil {
			return "", storeError(err)
		}
	}
	opts := &river.InsertOpts{Tags: []string{userTag(user)}}
	if tag != "" {
		opts.Tags = append(opts.Tags, tag)
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true, ByState: allStates}
	}
	res, err := m.queue.Insert(ctx, args, opts)
	if err != nil || res.UniqueSkippedAsDuplicate {
		if args.Secret != "" {
			_ = m.store.DeleteJobSecrets(context.WithoutCancel(ctx), []string{args.Secret})
		}
		if err != nil {
			return "", storeError(err)
		}
		return sameRequest(res.Job, req)
	}
	id := strconv.FormatInt(res.Job.ID, 10)
	slog.InfoContext(ctx, "job queued", "job", id, "kind", req.Kind, "summary", summary, "user", user)
	return id, nil
}

func storeError(err error) error {
	return httperr.Wrap(api.CodeStoreUnavailable, "The job store failed; try again shortly.", err)
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// userTag tags a user's jobs in River (tags allow only a few characters, names more).
func userTag(user string) string {
	h := sha256.Sum256([]byte(user))
	return "u_" + hex.EncodeToString(h[:12])
}

// unfinished are River's states of a job that has not ended.
var unfinished = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStatePending}

// admit refuses a new job past the limits on unfinished jobs, in total and per user, over
// every replica. Two replicas admitting at the same instant may let one job more through.
func (m *Manager) admit(ctx context.Context, user string) error {
	mine, err := m.queue.JobList(ctx, river.NewJobListParams().Kinds(kindOp).States(unfinished...).TagsAny(userTag(user)).First(m.opts.MaxPerUser))
	if err != nil {
		return storeError(err)
	}
	if n := len(mine.Jobs); n >= m.opts.MaxPerUser {
		return httperr.New(api.CodeTooManyRequests, fmt.Sprintf("You have %d jobs running, the most allowed; wait for one to end.", n))
	}
	all, err := m.queue.JobList(ctx, river.NewJobListParams().Kinds(kindOp).States(unfinished...).First(m.opts.MaxRunning))
	if err != nil {
		return storeError(err)
	}
	if n := len(all.Jobs); n >= m.opts.MaxRunning {
		return httperr.New(api.CodeTooManyRequests, fmt.Sprintf("%d jobs are running, the most allowed; try again shortly.", n))
	}
	return nil
}

// info is a job as the API shows it: River's row says where it stands, the last persisted
// event its progress and, once written, its outcome.
func info(row *rivertype.JobRow, a About, last map[int64]store.JobEvent) api.Job {
	j := api.Job{
		ID: strconv.FormatInt(row.ID, 10), Kind: a.Kind, Summary: a.Summary, User: a.User,
		State: api.JobRunning, Created: row.CreatedAt.UTC(), Touches: a.Touches,
	}
	e, ok := last[row.ID]
	if ok {
		j.Done, j.Total = e.Done, e.Total
	}
	if ok && e.Final {
		var fe api.JobEvent
		if json.Unmarshal(e.Data, &fe) == nil {
			j.State, j.Error, j.Result, j.Ended = fe.State, fe.Error, fe.Result, fe.Time
			return j
		}
	}
	if fe, final := outcome(row); final {
		j.State, j.Error, j.Ended = fe.State, fe.Error, fe.Time
	}
	return j
}

// outcome is the final event of a job River finished without the worker writing one: one
// cancelled before it started, or given up after the replicas running it stopped.
func outcome(row *rivertype.JobRow) (api.JobEvent, bool) {
	e := api.JobEvent{Type: api.EventError, Time: time.Now().UTC()}
	if row.FinalizedAt != nil {
		e.Time = row.FinalizedAt.UTC()
	}
	switch row.State {
	case rivertype.JobStateCancelled:
		e.State, e.Error = api.JobCancelled, "cancelled"
	case rivertype.JobStateDiscarded:
		e.State, e.Error = api.JobFailed, "the replica running the job stopped"
		if n := len(row.Errors); n > 0 && row.Errors[n-1].Error != "" {
			e.Error += " (" + row.Errors[n-1].Error + ")"
		}
		if row.Attempt > 1 {
			e.Error += fmt.Sprintf(" after %d attempts", row.Attempt)
		}
	case rivertype.JobStateCompleted:
		e.Type, e.State = api.EventResult, api.JobSucceeded
	default:
		return api.JobEvent{}, false
	}
	return e, true
}

// Wait waits for the caller's job to end and returns it.
func (m *Manager) Wait(ctx context.Context, id string) (api.Job, error) {
	for {
		j, ok, err := m.Get(ctx, id)
		if err != nil {
			return api.Job{}, err
		}
		if !ok {
			return api.Job{}, UnknownJob(id)
		}
		if j.State != api.JobRunning {
			return j, nil
		}
		n, _ := strconv.ParseInt(id, 10, 64)
		m.follow.wait(ctx, n)
		if err := ctx.Err(); err != nil {
			return j, err
		}
	}
}
