package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// actionTagsChanged tells the repository page a job changed its tags, so it reloads them.
const actionTagsChanged = "berth.tags-changed"

// writable reports whether the UI may offer write operations: Berth is not --read-only, and
// its server answered the last request (offline, pages show stored data and nothing changes).
func writable() bool {
	return app.Getenv(EnvReadOnly) != "true" && !client.Status().Offline && browsed() == "" // other endpoints are only read
}

// jobStatus is a job as the UI follows it, built from its events.
type jobStatus struct {
	id      string
	state   string
	phase   string
	message string
	err     string
	blobs   map[string][2]int64
	result  *api.JobResult
}

func (s *jobStatus) reset(id string) {
	*s = jobStatus{id: id, state: api.JobRunning, blobs: map[string][2]int64{}}
}

// apply folds one event of the stream into the status.
func (s *jobStatus) apply(e api.JobEvent) {
	switch e.Type {
	case api.EventPhase:
		s.phase, s.message = e.Phase, e.Message
	case api.EventMessage:
		s.message = e.Message
	case api.EventProgress:
		if s.blobs == nil {
			s.blobs = map[string][2]int64{}
		}
		s.blobs[e.Blob] = [2]int64{e.Done, e.Total}
	case api.EventResult, api.EventError:
		s.state, s.err, s.result = e.State, e.Error, e.Result
	}
}

// applyJob takes a polled job's state, when the stream is not available.
func (s *jobStatus) applyJob(j api.Job) {
	s.state, s.err, s.result = j.State, j.Error, j.Result
	s.blobs = map[string][2]int64{"all": {j.Done, j.Total}}
}

func (s *jobStatus) bytes() (done, total int64) {
	for _, b := range s.blobs {
		done += b[0]
		total += b[1]
	}
	return done, total
}

// streams are the job streams a component follows; stop (called from OnDismount) ends them,
// so that a dismounted component leaves no request open behind it.
type streams struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// context is the parent of the component's job requests.
func (s *streams) context() context.Context {
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
	return s.ctx
}

// stop cancels every stream and request started from context.
func (s *streams) stop() {
	if s.cancel != nil {
		s.cancel()
		s.ctx, s.cancel = nil, nil
	}
}

// start starts the job req and follows its events into st, under parent (a component's
// streams). alive says whether the answer still matters (the component has not started
// something else since); started, when set, runs once the job has an id, and ended when it
// ends.
func start(ctx app.Context, parent context.Context, req api.JobRequest, st *jobStatus, alive func() bool, started func(ctx app.Context, id string), ended func(ctx app.Context)) {
	st.reset("")
	ctx.Async(func() {
		c, cancel := context.WithTimeout(parent, 30*time.Second)
		defer cancel()
		id, err := apiClient().StartJob(c, req)
		ctx.Dispatch(func(ctx app.Context) {
			if !alive() {
				return
			}
			if err != nil {
				st.state, st.err = api.JobFailed, err.Error()
				return
			}
			st.id = id
			if started != nil {
				started(ctx, id)
			}
			follow(ctx, parent, id, st, alive, ended)
		})
	})
}

// follow reads job id's event stream into *st until the job ends or parent is cancelled;
// where the stream cannot be read, it polls the job every 500 ms instead. alive says whether
// the component still shows that job.
func follow(ctx app.Context, parent context.Context, id string, st *jobStatus, alive func() bool, ended func(ctx app.Context)) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(parent, 6*time.Hour)
		defer cancel()
		// A stream that stays open after its job ended (a proxy buffering it, a lost final
		// line) must not leave the dialog waiting: a slow poll ends it.
		stream, stopStream := context.WithCancel(c)
		defer stopStream()
		go watchJob(stream, id, stopStream)
		last, err := apiClient().FollowJob(stream, id, func(e api.JobEvent) {
			ctx.Dispatch(func(ctx app.Context) {
				if alive() {
					st.apply(e)
				}
			})
		})
		if c.Err() != nil {
			return // dismounted or timed out: nobody shows this job any more
		}
		if err == nil {
			ctx.Dispatch(func(ctx app.Context) {
				if alive() && last.Final() && ended != nil {
					ended(ctx)
				}
			})
			return
		}
		for {
			j, err := apiClient().Job(c, id)
			done := err != nil || j.State != api.JobRunning
			ctx.Dispatch(func(ctx app.Context) {
				if !alive() {
					return
				}
				if err != nil {
					st.state, st.err = api.JobFailed, err.Error()
				} else {
					st.applyJob(j)
				}
				if done && ended != nil {
					ended(ctx)
				}
			})
			if done {
				return
			}
			select {
			case <-c.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
}

// jobWatch is how often a followed job's state is checked besides its stream.
const jobWatch = 2 * time.Second

// watchJob calls stop once job id is no longer running, until ctx ends.
func watchJob(ctx context.Context, id string, stop func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(jobWatch):
		}
		if j, err := apiClient().Job(ctx, id); err == nil && j.State != api.JobRunning {
			stop()
			return
		}
	}
}

// jobView shows a job's progress bar, phase and outcome.
func jobView(id string, st *jobStatus, onCancel app.EventHandler) app.UI {
	done, total := st.bytes()
	label := st.state
	if st.state == api.JobRunning && st.phase != "" {
		label = "running: " + st.phase
	}
	return app.Div().Class("job").ID(id).DataSet("state", st.state).Body(
		app.Div().Class("job-head").Body(
			app.Span().Class("job-state chip "+st.state).Role("status").Aria("live", "polite").Text(label),
			app.If(total > 0, func() app.UI {
				return app.Span().Class("job-bytes muted").Text(humanSize(done) + " of " + humanSize(total))
			}),
			app.If(st.state == api.JobRunning && onCancel != nil, func() app.UI {
				return app.Button().Class("button small").Text("Cancel").OnClick(onCancel)
			}),
		),
		app.If(st.state == api.JobRunning, func() app.UI {
			if total == 0 {
				return app.Progress().Class("job-bar").Aria("label", "Progress")
			}
			return app.Progress().Class("job-bar").Aria("label", "Progress").Max(total).Value(done)
		}),
		app.If(st.message != "" && st.state == api.JobRunning, func() app.UI {
			return app.P().Class("hint job-message").Text(st.message)
		}),
		app.If(st.err != "", func() app.UI {
			return app.P().Class("error-message").Role("alert").Text(st.err)
		}),
		app.If(st.result != nil && st.state == api.JobSucceeded, func() app.UI {
			return app.P().Class("hint job-result").Text(resultLabel(st.result))
		}),
		app.If(st.result != nil && st.result.Note != "", func() app.UI {
			return app.P().Class("hint job-note").Text(st.result.Note)
		}),
	)
}

func resultLabel(r *api.JobResult) string {
	switch {
	case len(r.Tags) > 0: // an import: every tag it wrote, not just the first
		return "Imported " + strings.Join(r.Tags, ", ") + "."
	case r.Destination != "":
		return fmt.Sprintf("Wrote %s (%s): %s, %s.", r.Destination, shortDigest(r.Digest), plural(r.Manifests, "manifest"), plural(r.Blobs, "blob"))
	case len(r.Deleted) > 0:
		return "Deleted " + strings.Join(r.Deleted, ", ") + "."
	}
	return "Nothing to do."
}

func cancelJob(id string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		ctx.Async(func() {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = apiClient().CancelJob(c, id)
		})
	}
}
