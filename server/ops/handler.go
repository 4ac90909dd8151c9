package ops

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// maxRequest bounds a job request; a bulk delete of thousands of tags is still far below.
const maxRequest = 1 << 20

// The jobs API (routed by site):
//
//	POST   /api/v1/jobs              start a job: 202 {"id"}; a cleanup with dryRun: 200 plan
//	GET    /api/v1/jobs              recent jobs, newest first (?user=, ?state=running|finished)
//	GET    /api/v1/jobs/{id}         one job
//	GET    /api/v1/jobs/{id}/events  NDJSON: the events so far, then live ones until the end
//	DELETE /api/v1/jobs/{id}         cancel
//
// With ReadOnly, POST and DELETE answer 403.

// ServeList answers GET /api/v1/jobs.
func (m *Manager) ServeList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	list, err := m.List(r.Context(), api.JobQuery{User: q.Get("user"), State: q.Get("state")})
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, list)
}

// ServeJob answers GET /api/v1/jobs/{id}.
func (m *Manager) ServeJob(w http.ResponseWriter, r *http.Request) {
	j, ok, err := m.Get(r.Context(), r.PathValue("id"))
	if err == nil && !ok {
		err = UnknownJob(r.PathValue("id"))
	}
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, j)
}

// ServeCancel answers DELETE /api/v1/jobs/{id}.
func (m *Manager) ServeCancel(w http.ResponseWriter, r *http.Request) {
	if m.opts.ReadOnly {
		httperr.Write(w, r, ErrReadOnly)
		return
	}
	id := r.PathValue("id")
	j, ok, err := m.Cancel(r.Context(), id)
	if err == nil && !ok {
		err = UnknownJob(id)
	}
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusAccepted, j)
}

// UnknownJob is the error for a job id the caller has no job of. An id that is not a job
// number (any text from the path) is not repeated back.
func UnknownJob(id string) error {
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
		return httperr.New(api.CodeJobUnknown, "There is no job of that id: job ids are numbers.")
	}
	return httperr.New(api.CodeJobUnknown, "There is no job "+id+" (finished jobs are kept for --jobs-retention).")
}

// ServeStart answers POST /api/v1/jobs.
func (m *Manager) ServeStart(w http.ResponseWriter, r *http.Request) {
	if m.opts.ReadOnly {
		httperr.Write(w, r, ErrReadOnly)
		return
	}
	var req api.JobRequest
	if err := httperr.DecodeJSON(w, r, maxRequest, "the job request", &req); err != nil {
		httperr.Write(w, r, err)
		return
	}
	if req.Kind == api.JobCleanup && req.DryRun {
		if req.Rule == nil {
			httperr.Write(w, r, badRequest("a cleanup needs a rule"))
			return
		}
		if err := m.authorize(r.Context(), req); err != nil {
			httperr.Write(w, r, err)
			return
		}
		plan, err := m.Preview(r.Context(), *req.Rule)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httperr.WriteJSON(w, http.StatusOK, plan)
		return
	}
	id, err := m.SubmitOnce(r.Context(), req, r.Header.Get(IdempotencyHeader))
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/jobs/"+id)
	httperr.WriteJSON(w, http.StatusAccepted, api.JobStarted{ID: id})
}

// ServeEvents answers GET /api/v1/jobs/{id}/events: the job's events as NDJSON, one flushed
// line per event, from the database whichever replica runs the job: those so far, then live
// ones, ending with the job's final event.
func (m *Manager) ServeEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	row, _, err := m.row(ctx, r.PathValue("id"))
	if err == nil && row == nil {
		err = UnknownJob(r.PathValue("id"))
	}
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	// Tells nginx and similar proxies not to buffer the stream.
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	next := 0
	var checked time.Time
	for {
		events, err := m.store.JobEvents(ctx, row.ID, next, 500)
		if err != nil {
			if ctx.Err() == nil {
				slog.WarnContext(ctx, "reading job events failed", "job", row.ID, "err", err)
			}
			return
		}
		for _, e := range events {
			if _, err := w.Write(append(e.Data, '\n')); err != nil {
				return
			}
			next = e.Seq
			if e.Final {
				_ = rc.Flush()
				return
			}
		}
		if len(events) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
			if len(events) == 500 {
				continue
			}
		}
		// Caught up. A job River ended without its worker writing the outcome (cancelled
		// before it ran, given up after its replicas stopped) gets its final event here.
		if time.Since(checked) >= time.Second {
			checked = time.Now()
			cur, err := m.queue.JobGet(ctx, row.ID)
			if err != nil {
				return
			}
			if fe, final := outcome(cur); final {
				fe.Seq = next + 1
				data, _ := json.Marshal(fe)
				// Whoever wrote seq next+1 first wins; the loop reads what was stored.
				if err := m.store.AddJobEvents(ctx, []store.JobEvent{{JobID: row.ID, Seq: fe.Seq, Time: fe.Time, Final: true, Data: data}}); err != nil {
					return
				}
				continue
			}
		}
		m.follow.wait(ctx, row.ID)
		if ctx.Err() != nil {
			return
		}
	}
}
