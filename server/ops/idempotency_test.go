package ops

import (
	"context"
	"encoding/json"
	"github.com/berth-registry/berth/server/access"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// TestIdempotencyKeyStartsOneJob runs two replicas on one store: the same key and request
// from the same user start one job whichever replica takes them, at once or after it ended;
// another request under the key is a conflict; another user's key is theirs.
func TestIdempotencyKeyStartsOneJob(t *testing.T) {
	a := registrytest.Open(t)
	pushIndex(t, a, "team/app:v1")
	path := filepath.Join(t.TempDir(), "berth.db")
	var replicas []*httptest.Server
	var managers []*Manager
	for range 2 {
		st, err := store.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		opts := options(t, a)
		opts.Store = st
		m := newManager(t, opts)
		managers = append(managers, m)
		srv := httptest.NewServer(jobsHandler(m))
		t.Cleanup(srv.Close)
		replicas = append(replicas, srv)
	}
	retag := `{"kind":"retag","repository":"team/app","source":"v1","destination":"stable"}`
	start := func(replica int, key, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, replicas[replica].URL+"/api/v1/jobs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set(IdempotencyHeader, key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		var started api.JobStarted
		_ = json.NewDecoder(resp.Body).Decode(&started)
		return resp.StatusCode, started.ID
	}

	// Both replicas at once, twice each: one job.
	ids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			code, id := start(i%2, "key-1", retag)
			if code != http.StatusAccepted || id == "" {
				t.Errorf("start %d: %d", i, code)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("start %d answered job %s, start 0 job %s", i, id, ids[0])
		}
	}
	// After the job ended too.
	if j := wait(t, managers[0], ids[0]); j.State != api.JobSucceeded {
		t.Fatalf("the job: %s %s", j.State, j.Error)
	}
	if code, id := start(1, "key-1", retag); code != http.StatusAccepted || id != ids[0] {
		t.Errorf("retry after the end: %d job %s, want 202 job %s", code, id, ids[0])
	}
	if code, _ := start(0, "key-1", strings.Replace(retag, "stable", "other", 1)); code != http.StatusConflict {
		t.Errorf("another request under the key: %d, want 409", code)
	}
	if code, id := start(0, "key-2", retag); code != http.StatusAccepted || id == ids[0] {
		t.Errorf("a new key: %d job %s, want a new job", code, id)
	}
	if code, id := start(0, "", retag); code != http.StatusAccepted || id == ids[0] {
		t.Errorf("no key: %d job %s, want a new job", code, id)
	}
	if code, _ := start(0, strings.Repeat("k", 256), retag); code != http.StatusBadRequest {
		t.Errorf("a 256-character key: %d, want 400", code)
	}
}

// TestIdempotencyKeyIsPerUser: two users sending the same key start a job each.
func TestIdempotencyKeyIsPerUser(t *testing.T) {
	a := registrytest.Open(t)
	pushIndex(t, a, "team/app:v1")
	m := newManager(t, options(t, a))
	req := api.JobRequest{Kind: api.JobRetag, Repository: "team/app", Source: "v1", Destination: "stable"}
	as := func(user string) context.Context {
		return access.With(context.Background(), access.Identity{Kind: access.User, Key: user, Name: user, Auth: authn.Anonymous})
	}
	alice, err := m.SubmitOnce(as("alice"), req, "same")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := m.SubmitOnce(as("bob"), req, "same")
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.SubmitOnce(as("alice"), req, "same")
	if err != nil || alice == bob || again != alice {
		t.Errorf("alice %s, bob %s, alice again %s (%v): want one job each", alice, bob, again, err)
	}
}
