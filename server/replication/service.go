package replication

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/time/rate"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Options configures a Service.
type Options struct {
	// Store keeps endpoints, rules, runs and the audit log. Required.
	Store store.Store
	// Main is Berth's own client of the registry it fronts, allowed to write: rules run
	// with their endpoints' credentials, not a user's. Required.
	Main *registry.Client
	// Secret is the cluster secret endpoint passwords are sealed with. Required.
	Secret []byte
	// Flags are the endpoints of --extra-registry (name=URL).
	Flags []string
	// Timeout bounds one registry operation; 0 means 30 s.
	Timeout time.Duration
	// Concurrency bounds the artifacts one run copies at once; 0 means 4.
	Concurrency int
	// Bandwidth bounds the bytes per second all runs on this replica read; 0: no limit.
	// Limiter, if set, is the limiter doing so, shared with the main registry's client.
	Bandwidth int64
	Limiter   Limiter
	// Attempts is how often a failing artifact is tried in a run; 0 means 3. Backoff is the
	// wait before the second attempt, doubled each time; 0 means 2 s.
	Attempts int
	Backoff  time.Duration
	// Metrics receives berth_replication_*; nil registers nowhere.
	Metrics *Metrics
	// OnRun, if set, is told about every run that ended (not dry runs, not interrupted
	// ones), with its rule (only its ID when it could not be read) and the repository a
	// push-triggered run is about ("" for others).
	OnRun func(ctx context.Context, run api.ReplicationRun, rule api.ReplicationRule, repository string)
}

// Queue inserts River jobs: the ops.Manager's client, which runs the workers Register adds.
type Queue interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Service manages endpoints and rules and runs replications.
type Service struct {
	opts    Options
	st      store.Replications
	audits  store.Accounts
	sealer  *ops.Sealer
	flags   []api.RegistryEndpoint
	limiter Limiter
	queue   Queue
	lease   func(ctx context.Context, id int64, attempt int) (context.Context, func())
	// leaseTerm is River's deadline for a leased run.
	leaseTerm time.Duration
	events    chan []store.Event
}

// New checks opts and returns the Service; SetQueue connects it to the job queue.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Main == nil {
		return nil, errors.New("replication: no store or main registry")
	}
	st, err := store.ReplicationsOf(opts.Store)
	if err != nil {
		return nil, err
	}
	audits, err := store.AccountsOf(opts.Store)
	if err != nil {
		return nil, err
	}
	sealer, err := ops.NewSealer(opts.Secret)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	s := &Service{opts: opts, st: st, audits: audits, sealer: sealer, events: make(chan []store.Event, 256)}
	seen := map[string]bool{}
	for _, f := range opts.Flags {
		e, err := ParseFlag(f)
		if err != nil {
			return nil, err
		}
		if seen[e.Name] {
			return nil, errors.New("--extra-registry: the name " + e.Name + " is given twice")
		}
		seen[e.Name] = true
		s.flags = append(s.flags, e)
	}
	s.limiter = opts.Limiter
	if s.limiter == nil && opts.Bandwidth > 0 {
		s.limiter = NewLimiter(opts.Bandwidth)
	}
	return s, nil
}

// SetQueue connects the service to the job queue and its leases, so a run on a replica that
// dies is taken over by another.
func (s *Service) SetQueue(m *ops.Manager) {
	s.queue, s.lease, s.leaseTerm = m, m.Lease, m.LeaseTerm()
}

// admin refuses anyone but an administrator (or Berth itself): endpoints hold credentials
// and rules write anywhere.
func admin(ctx context.Context) error {
	id := access.From(ctx)
	switch {
	case id.Kind == access.Service, id.Kind == access.User && id.Admin:
		return nil
	case !id.Signed():
		return httperr.New(api.CodeUnauthorized, "Sign in as an administrator to manage registry endpoints and replication.")
	}
	return httperr.New(api.CodeDenied, "Only administrators manage registry endpoints and replication (with --access-control; else use the berth CLI).")
}

// audit records who changed what; a failure is logged, the change stands.
func (s *Service) audit(ctx context.Context, action, target, detail string) {
	actor := access.From(ctx).Name
	if actor == "" {
		actor = "berth"
	}
	err := s.audits.AddAudit(context.WithoutCancel(ctx), store.AuditEntry{Actor: actor, Action: action, Target: target, Detail: detail, OK: true})
	if err != nil {
		slog.WarnContext(ctx, "audit entry not stored", "action", action, "target", target, "err", err)
	}
}

func storeError(err error) error {
	return httperr.Wrap(api.CodeStoreUnavailable, "The store failed; try again shortly.", err)
}

// NewLimiter paces reads to bytesPerSecond.
func NewLimiter(bytesPerSecond int64) Limiter {
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(min(bytesPerSecond, 1<<20)))
}

// Limiter paces the bytes replication reads.
type Limiter interface {
	WaitN(ctx context.Context, n int) error
	Burst() int
}

// limited is a transport whose response bodies read at the limiter's pace.
type limited struct {
	base http.RoundTripper
	lim  Limiter
}

func (l limited) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err == nil && resp.Body != nil {
		resp.Body = &paced{ReadCloser: resp.Body, ctx: req.Context(), lim: l.lim}
	}
	return resp, err
}

type paced struct {
	io.ReadCloser
	ctx context.Context
	lim Limiter
}

func (p *paced) Read(b []byte) (int, error) {
	if len(b) > p.lim.Burst() {
		b = b[:p.lim.Burst()]
	}
	n, err := p.ReadCloser.Read(b)
	if n > 0 {
		if werr := p.lim.WaitN(p.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}
