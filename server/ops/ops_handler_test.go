package ops

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

func TestEventsStreamLiveInOrderToTheEnd(t *testing.T) {
	release := make(chan struct{})
	var blocked atomic.Bool
	// The source holds every blob download until released, so the job is mid-way while the
	// test reads its first events.
	a := serveRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
				blocked.Store(true)
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	b := registrytest.Open(t)
	pushDated(t, a, "team/app", time.Now(), "v1")
	m := newManager(t, options(t, a))
	srv := httptest.NewServer(jobsHandler(m))
	defer srv.Close()
	var started api.JobStarted
	jobJSON(t, http.MethodPost, srv.URL+"/api/v1/jobs", api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1", Destination: "team/app:v1", DestinationRegistry: b}, &started)
	id := started.ID

	resp, err := http.Get(srv.URL + "/api/v1/jobs/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var events []api.JobEvent
	next := func() api.JobEvent {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("stream ended early: %v (after %+v)", sc.Err(), events)
		}
		var e api.JobEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
		return e
	}
	for e := next(); !(e.Type == api.EventPhase && e.Phase == "blobs"); e = next() {
	}
	// Events arrived while the job still runs: the source holds its blobs.
	var job api.Job
	jobJSON(t, http.MethodGet, srv.URL+"/api/v1/jobs/"+id, nil, &job)
	if job.State != api.JobRunning {
		t.Fatalf("job while blocked: %+v", job)
	}
	close(release)
	last := events[len(events)-1]
	for !last.Final() {
		last = next()
	}
	if sc.Scan() {
		t.Errorf("a line after the final event: %s", sc.Text())
	}
	if last.Type != api.EventResult || last.State != api.JobSucceeded {
		t.Fatalf("final event %+v", last)
	}
	for i, e := range events {
		if e.Seq != i+1 {
			t.Fatalf("event %d has seq %d: %+v", i, e.Seq, events)
		}
	}
	if !blocked.Load() {
		t.Error("the source never blocked a blob download")
	}
	var progress bool
	for _, e := range events {
		progress = progress || (e.Type == api.EventProgress && e.Done == e.Total && e.Total > 0)
	}
	if !progress {
		t.Errorf("no completed blob progress in %+v", events)
	}

	// A second reader gets the same events replayed, and the list shows the outcome.
	var replay []api.JobEvent
	again, err := http.Get(srv.URL + "/api/v1/jobs/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Body.Close()
	if _, err := api.ReadJobEvents(again.Body, func(e api.JobEvent) { replay = append(replay, e) }); err != nil {
		t.Fatal(err)
	}
	if len(replay) != len(events) {
		t.Errorf("replay has %d events, live had %d", len(replay), len(events))
	}
	var list api.JobList
	jobJSON(t, http.MethodGet, srv.URL+"/api/v1/jobs", nil, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].State != api.JobSucceeded {
		t.Errorf("jobs %+v", list)
	}
}

// jobJSON sends a request to the jobs API, with body as JSON when not nil, and decodes its
// successful answer into into.
func jobJSON(t *testing.T, method, url string, body, into any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
}

func TestReadOnlyRefusesEveryWrite(t *testing.T) {
	a := registrytest.Open(t)
	m := newManager(t, func() Options { o := options(t, a); o.ReadOnly = true; return o }())
	srv := httptest.NewServer(jobsHandler(m))
	defer srv.Close()
	rule := &api.CleanupRule{Repository: "team/app", KeepLast: 1}
	for _, req := range []api.JobRequest{
		{Kind: api.JobDelete, Repository: "team/app", References: []string{"v1"}},
		{Kind: api.JobCopy, Source: "team/app:v1", Destination: "x/y:v1"},
		{Kind: api.JobRetag, Repository: "team/app", Source: "v1", Destination: "v2"},
		{Kind: api.JobCleanup, Rule: rule},
		{Kind: api.JobCleanup, Rule: rule, DryRun: true},
	} {
		b, _ := json.Marshal(req)
		resp, err := http.Post(srv.URL+"/api/v1/jobs", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		var body api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || body.Error.Code != api.CodeReadOnly {
			t.Errorf("%s: %d %+v, want 403 READ_ONLY", req.Kind, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/api/v1/jobs/abc", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cancel: %d, want 403", resp.StatusCode)
	}
}

func TestHandlerRejectsBadRequests(t *testing.T) {
	m := newManager(t, options(t, "http://127.0.0.1:1"))
	srv := httptest.NewServer(jobsHandler(m))
	defer srv.Close()
	for body, want := range map[string]int{
		`{"kind":"explode"}`: http.StatusBadRequest,
		`{"kind":"copy","source":"UPPER:v1","destination":"x:y"}`: http.StatusBadRequest,
		`{"kind":"delete","repository":"a/b"}`:                    http.StatusBadRequest,
		`{"kind":"copy","sourcePasword":"typo"}`:                  http.StatusBadRequest,
		`not json`:                                                http.StatusBadRequest,
	} {
		resp, err := http.Post(srv.URL+"/api/v1/jobs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", body, resp.StatusCode, want)
		}
	}
	resp, err := http.Get(srv.URL + "/api/v1/jobs/nope/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown job: %d", resp.StatusCode)
	}
}

// TestHugeJobRequestIsRefused checks that an oversized job body gets 413 and starts nothing.
func TestHugeJobRequestIsRefused(t *testing.T) {
	m := newManager(t, options(t, registrytest.Open(t)))
	srv := httptest.NewServer(jobsHandler(m))
	defer srv.Close()
	body := `{"kind":"delete","repository":"a/b","references":["` + strings.Repeat("x", 2<<20) + `"]}`
	resp, err := http.Post(srv.URL+"/api/v1/jobs", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != api.CodeTooLarge {
		t.Fatalf("status %d, %+v, %v; want 413 TOO_LARGE", resp.StatusCode, e, err)
	}
	list, err := http.Get(srv.URL + "/api/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer list.Body.Close()
	var jobs struct{ Jobs []json.RawMessage }
	if err := json.NewDecoder(list.Body).Decode(&jobs); err != nil || len(jobs.Jobs) != 0 {
		t.Fatalf("jobs after a refused request: %d, %v", len(jobs.Jobs), err)
	}
}

// jobsHandler routes the jobs API the way site does.
func jobsHandler(m *Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/jobs", m.ServeStart)
	mux.HandleFunc("GET /api/v1/jobs", m.ServeList)
	mux.HandleFunc("GET /api/v1/jobs/{id}", m.ServeJob)
	mux.HandleFunc("GET /api/v1/jobs/{id}/events", m.ServeEvents)
	mux.HandleFunc("DELETE /api/v1/jobs/{id}", m.ServeCancel)
	return mux
}

// registryAuthorizer is the registry deciding, as without --access-control.
func registryAuthorizer(c *registry.Client) access.Authorizer { return registry.NewAuthorizer(c, 0) }
