package ops

// Turning a job request into the operation that runs it, and recording what it wrote.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

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

// run is an operation ready to start: everything it needs has been checked.
type run struct {
	kind, summary string
	exec          func(ctx context.Context, report Report) (*api.JobResult, error)
}

// attempt is what one run of a job knows of its log.
type attempt struct {
	// resume is set when an attempt before this one may have done part of the job; prior is
	// what those attempts recorded about the references they worked on (see recorded).
	resume bool
	prior  []api.JobEvent
	// durable makes the events reported so far durable; nil outside a job.
	durable func(context.Context) error
}

// prepare validates req and binds it to an operation run as at says.
func (m *Manager) prepare(reg *registry.Client, user string, req api.JobRequest, at attempt) (run, error) {
	rec := recorder{record: m.opts.Record, invalidate: m.opts.Invalidate, user: user}
	resume := at.resume
	switch req.Kind {
	case api.JobDelete:
		d, err := NewDelete(reg, req.Repository, req.References)
		if err != nil {
			return run{}, err
		}
		d.Resume, d.Prior, d.Durable = resume, at.prior, at.durable
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
		c.Resume, c.Prior, c.Durable = resume, at.prior, at.durable
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
	case api.JobImport:
		return run{kind: req.Kind, exec: func(ctx context.Context, report Report) (*api.JobResult, error) {
			res, err := m.runImport(ctx, reg, req, resume, report)
			if res != nil {
				for _, ref := range res.Tags {
					rec.copied(ctx, api.JobImport, ref, &api.JobResult{Digest: res.Digest})
				}
			}
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
