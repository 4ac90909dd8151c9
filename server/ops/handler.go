package ops

import (
	"encoding/json"
	"net/http"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// maxRequest bounds a job request; a bulk delete of thousands of tags is still far below.
const maxRequest = 1 << 20

// The jobs API (routed by site):
//
//	POST   /api/v1/jobs              start a job: 202 {"id"}; a cleanup with dryRun: 200 plan
//	GET    /api/v1/jobs              recent jobs, newest first
//	GET    /api/v1/jobs/{id}         one job
//	GET    /api/v1/jobs/{id}/events  NDJSON: the events so far, then live ones until the end
//	DELETE /api/v1/jobs/{id}         cancel
//
// With ReadOnly, POST and DELETE answer 403.

// ServeList answers GET /api/v1/jobs.
func (m *Manager) ServeList(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, api.JobList{Jobs: m.List(r.Context())})
}

// ServeJob answers GET /api/v1/jobs/{id}.
func (m *Manager) ServeJob(w http.ResponseWriter, r *http.Request) {
	j := m.Get(r.Context(), r.PathValue("id"))
	if j == nil {
		httperr.Write(w, r, unknownJob(r.PathValue("id")))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, j.Info())
}

// ServeCancel answers DELETE /api/v1/jobs/{id}.
func (m *Manager) ServeCancel(w http.ResponseWriter, r *http.Request) {
	if m.opts.ReadOnly {
		httperr.Write(w, r, ErrReadOnly)
		return
	}
	id := r.PathValue("id")
	if !m.Cancel(r.Context(), id) {
		httperr.Write(w, r, unknownJob(id))
		return
	}
	httperr.WriteJSON(w, http.StatusAccepted, m.Get(r.Context(), id).Info())
}

func unknownJob(id string) error {
	return httperr.New(api.CodeJobUnknown, "There is no job "+id+" (jobs are kept in memory until Berth restarts).")
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
		plan, err := m.Preview(r.Context(), *req.Rule)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httperr.WriteJSON(w, http.StatusOK, plan)
		return
	}
	j, err := m.Start(r.Context(), req)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/jobs/"+j.ID())
	httperr.WriteJSON(w, http.StatusAccepted, api.JobStarted{ID: j.ID()})
}

// ServeEvents answers GET /api/v1/jobs/{id}/events: the job's events as NDJSON, one flushed line per event: those so far, then
// live ones, ending with the job's final event.
func (m *Manager) ServeEvents(w http.ResponseWriter, r *http.Request) {
	j := m.Get(r.Context(), r.PathValue("id"))
	if j == nil {
		httperr.Write(w, r, unknownJob(r.PathValue("id")))
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	// Tells nginx and similar proxies not to buffer the stream.
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	next := 0
	for {
		events, ended, wake := j.Events(next)
		for _, e := range events {
			if err := enc.Encode(e); err != nil {
				return
			}
			next++
		}
		if len(events) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
		}
		if ended && len(events) == 0 {
			return
		}
		if ended {
			continue // pick up anything added between the read and the end
		}
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		}
	}
}
