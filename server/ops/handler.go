package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// maxRequest bounds a job request; a bulk delete of thousands of tags is still far below.
const maxRequest = 1 << 20

// Handler serves the jobs API:
//
//	POST   /api/v1/jobs              start a job: 202 {"id"}; a cleanup with dryRun: 200 plan
//	GET    /api/v1/jobs              recent jobs, newest first
//	GET    /api/v1/jobs/{id}         one job
//	GET    /api/v1/jobs/{id}/events  NDJSON: the events so far, then live ones until the end
//	DELETE /api/v1/jobs/{id}         cancel
//
// With ReadOnly, POST and DELETE answer 403.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/jobs", m.start)
	mux.HandleFunc("GET /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		httperr.WriteJSON(w, http.StatusOK, api.JobList{Jobs: m.List()})
	})
	mux.HandleFunc("GET /api/v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		j := m.Get(r.PathValue("id"))
		if j == nil {
			httperr.Write(w, r, unknownJob(r.PathValue("id")))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httperr.WriteJSON(w, http.StatusOK, j.Info())
	})
	mux.HandleFunc("GET /api/v1/jobs/{id}/events", m.stream)
	mux.HandleFunc("DELETE /api/v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		if m.opts.ReadOnly {
			httperr.Write(w, r, ErrReadOnly)
			return
		}
		id := r.PathValue("id")
		if !m.Cancel(id) {
			httperr.Write(w, r, unknownJob(id))
			return
		}
		httperr.WriteJSON(w, http.StatusAccepted, m.Get(id).Info())
	})
	mux.HandleFunc("/api/v1/jobs/", func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, r, httperr.New(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method+" is not allowed here"))
	})
	return mux
}

func unknownJob(id string) error {
	return httperr.New(http.StatusNotFound, "JOB_UNKNOWN", "There is no job "+id+" (jobs are kept in memory until Berth restarts).")
}

func (m *Manager) start(w http.ResponseWriter, r *http.Request) {
	if m.opts.ReadOnly {
		httperr.Write(w, r, ErrReadOnly)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		httperr.Write(w, r, httperr.New(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "send the job as application/json"))
		return
	}
	var req api.JobRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			httperr.Write(w, r, httperr.New(http.StatusRequestEntityTooLarge, "TOO_LARGE", fmt.Sprintf("The job request is larger than %d bytes.", maxRequest)))
			return
		}
		httperr.Write(w, r, httperr.Wrap(http.StatusBadRequest, "INVALID_REQUEST", "The job request is not valid JSON: "+httperr.JSONProblem(err), err))
		return
	}
	if req.Kind == api.JobCleanup && req.DryRun {
		if req.Rule == nil {
			httperr.Write(w, r, badRequest("a cleanup needs a rule"))
			return
		}
		plan, err := m.Preview(r.Context(), *req.Rule)
		if err != nil {
			httperr.Write(w, r, asHTTP(err))
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

// asHTTP keeps *httperr.Error as is and reports registry errors as 502 with their sentence.
func asHTTP(err error) error {
	var he *httperr.Error
	if errors.As(err, &he) {
		return err
	}
	return httperr.Wrap(http.StatusBadGateway, "REGISTRY_ERROR", err.Error(), err)
}

// stream writes the job's events as NDJSON, one flushed line per event: those so far, then
// live ones, ending with the job's final event.
func (m *Manager) stream(w http.ResponseWriter, r *http.Request) {
	j := m.Get(r.PathValue("id"))
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
