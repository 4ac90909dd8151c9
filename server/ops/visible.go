package ops

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
)

// Who sees which jobs: everyone their own (a robot its own, a personal access token its
// user's), an administrator everyone's. Anonymous callers have jobs only where anonymous
// writes are on; elsewhere they are asked to sign in. A read-only token sees but cancels
// nothing.

// viewer is who asks about jobs.
type viewer struct {
	name     string
	admin    bool // sees and cancels every user's jobs
	readOnly bool // a read-only token: cancels nothing
}

var (
	errSignInJobs  = httperr.New(api.CodeUnauthorized, "Sign in to see your jobs.")
	errReadOnlyPAT = httperr.New(api.CodeDenied, "A read-only token cannot cancel jobs.")
)

// viewerOf is the caller in ctx. An administrator is a user the authorizer lets see
// everything (Berth's policy: an administrator, not through a read-only token; the registry
// deciding has none).
func (m *Manager) viewerOf(ctx context.Context) (viewer, error) {
	id := access.From(ctx)
	if !id.Signed() && !m.opts.Registry.CanWrite(ctx) {
		return viewer{}, errSignInJobs
	}
	v := viewer{name: id.Name, readOnly: id.ReadOnly}
	if id.Kind == access.User {
		all, err := m.opts.Authorizer.Everything(ctx)
		if err != nil {
			return viewer{}, err
		}
		v.admin = all
	}
	return v, nil
}

// sees reports whether v may see a job of kind a describes: one Berth itself queued
// (User "" on a kind other than a write's) is an administrator's only.
func (v viewer) sees(kind string, a About) bool {
	return v.admin || (a.User == v.name && (a.User != "" || kind == kindOp))
}

// row returns job id if the caller may see it, or nil: nobody learns of another user's
// jobs, not even whether they exist.
func (m *Manager) row(ctx context.Context, id string) (*rivertype.JobRow, About, error) {
	v, err := m.viewerOf(ctx)
	if err != nil {
		return nil, About{}, err
	}
	return m.rowFor(ctx, v, id)
}

func (m *Manager) rowFor(ctx context.Context, v viewer, id string) (*rivertype.JobRow, About, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return nil, About{}, nil
	}
	row, err := m.queue.JobGet(ctx, n)
	if errors.Is(err, river.ErrNotFound) {
		return nil, About{}, nil
	}
	if err != nil {
		return nil, About{}, storeError(err)
	}
	a, ok := m.describe(row)
	if !ok || !v.sees(row.Kind, a) {
		return nil, About{}, nil
	}
	return row, a, nil
}

// Get returns a job the caller may see; ok is false when there is none of that id.
func (m *Manager) Get(ctx context.Context, id string) (job api.Job, ok bool, err error) {
	v, err := m.viewerOf(ctx)
	if err != nil {
		return api.Job{}, false, err
	}
	return m.getFor(ctx, v, id)
}

func (m *Manager) getFor(ctx context.Context, v viewer, id string) (api.Job, bool, error) {
	row, a, err := m.rowFor(ctx, v, id)
	if err != nil || row == nil {
		return api.Job{}, false, err
	}
	last, err := m.store.LastJobEvents(ctx, []int64{row.ID})
	if err != nil {
		return api.Job{}, false, storeError(err)
	}
	return v.shown(info(row, a, last)), true, nil
}

// shown marks whether v may cancel j.
func (v viewer) shown(j api.Job) api.Job {
	j.MayCancel = j.State == api.JobRunning && !v.readOnly && (v.admin || j.User == v.name)
	return j
}

// List returns the jobs kept (see Retention) that the caller may see and q selects, newest
// first, at most 100: a user's own, an administrator's everyone's (or q.User's).
func (m *Manager) List(ctx context.Context, q api.JobQuery) (api.JobList, error) {
	v, err := m.viewerOf(ctx)
	if err != nil {
		return api.JobList{}, err
	}
	user, all := v.name, v.admin
	switch {
	case q.User != "" && !v.admin && q.User != v.name:
		return api.JobList{}, httperr.New(api.CodeDenied, "Only administrators see other users' jobs.")
	case q.User != "":
		user, all = q.User, false
	}
	params := river.NewJobListParams().Kinds(m.shownKinds()...).OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(100)
	if !all {
		params = params.TagsAny(userTag(user))
	}
	switch q.State {
	case "":
	case api.JobsRunning:
		params = params.States(unfinished...)
	case api.JobsFinished:
		params = params.States(finished...)
	default:
		return api.JobList{}, badRequest("state is running or finished")
	}
	res, err := m.queue.JobList(ctx, params)
	if err != nil {
		return api.JobList{}, storeError(err)
	}
	ids := make([]int64, len(res.Jobs))
	for i, row := range res.Jobs {
		ids[i] = row.ID
	}
	last, err := m.store.LastJobEvents(ctx, ids)
	if err != nil {
		return api.JobList{}, storeError(err)
	}
	out := api.JobList{Jobs: make([]api.Job, 0, len(res.Jobs)), All: v.admin}
	for _, row := range res.Jobs {
		a, ok := m.describe(row)
		if !ok || (!all && (a.User != user || !v.sees(row.Kind, a))) {
			continue // another user's whose tag hashes alike
		}
		out.Jobs = append(out.Jobs, v.shown(info(row, a, last)))
	}
	return out, nil
}

// Cancel cancels a job the caller may cancel (their own, or any for an administrator) on
// whichever replica runs it; ok reports whether that job exists for the caller.
func (m *Manager) Cancel(ctx context.Context, id string) (job api.Job, ok bool, err error) {
	v, err := m.viewerOf(ctx)
	if err != nil {
		return api.Job{}, false, err
	}
	row, _, err := m.rowFor(ctx, v, id)
	if err != nil || row == nil {
		return api.Job{}, false, err
	}
	if v.readOnly {
		return api.Job{}, false, errReadOnlyPAT
	}
	cur, err := m.queue.JobCancel(ctx, row.ID)
	if err != nil && !errors.Is(err, river.ErrNotFound) {
		return api.Job{}, false, storeError(err)
	}
	if cur != nil && cur.State == rivertype.JobStateCancelled && cur.Kind == kindOp {
		// Cancelled before any replica ran it: no worker will drop what it kept.
		var args opArgs
		if json.Unmarshal(cur.EncodedArgs, &args) == nil {
			m.release(ctx, args)
		}
	}
	return m.getFor(ctx, v, id)
}

// touches lists what req reads or writes in Berth's registry (api.Job.Touches).
func touches(req api.JobRequest) []string {
	var out []string
	add := func(s string) {
		if s != "" && len(out) < api.MaxTouches {
			out = append(out, s)
		}
	}
	switch req.Kind {
	case api.JobDelete:
		for _, r := range req.References {
			add(joinRef(req.Repository, r))
		}
		if len(req.References) == 0 {
			add(req.Repository)
		}
	case api.JobRetag:
		add(joinRef(req.Repository, req.Source))
		add(joinRef(req.Repository, req.Destination))
	case api.JobCopy:
		if req.SourceRegistry == "" {
			add(req.Source)
		}
		if req.DestinationRegistry == "" {
			add(req.Destination)
		}
	case api.JobImport:
		add(joinRef(req.Repository, req.Tag))
	case api.JobCleanup:
		if req.Rule != nil {
			add(req.Rule.Repository)
		}
	}
	return out
}

// joinRef is repository:tag or repository@digest (a digest holds ':'); repository alone for "".
func joinRef(repository, ref string) string {
	switch {
	case repository == "" || ref == "":
		return repository
	case strings.Contains(ref, ":"):
		return repository + "@" + ref
	}
	return repository + ":" + ref
}
