package replication

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// TestAPIAdminsOnlyAndSecretsStayIn drives /api/v1/registries and /api/v1/replications over
// real HTTP: only administrators get in, a password goes in sealed and never comes out, a
// dry run is queued and recorded, and every change is audited.
func TestAPIAdminsOnlyAndSecretsStayIn(t *testing.T) {
	h := newHarness(t)
	second := registrytest.Distribution3(t)
	pushImage(t, h.main, "lib/a:1")
	mux := http.NewServeMux()
	for pattern, handler := range h.s.Routes() {
		mux.Handle(pattern, handler)
	}
	// The identity the one authenticator would set, chosen by the test per request.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Test-User") {
		case "root":
			r = r.WithContext(access.With(r.Context(), access.Identity{Kind: access.User, Name: "root", Admin: true}))
		case "dev":
			r = r.WithContext(access.With(r.Context(), access.Identity{Kind: access.User, Name: "dev"}))
		case "root-readonly": // a read-only token of an administrator
			r = r.WithContext(access.With(r.Context(), access.Identity{Kind: access.User, Name: "root", Admin: true, ReadOnly: true, Via: access.ViaToken}))
		}
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	call := func(user, method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-Test-User", user)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s as %q: %d %s, want %d", method, path, user, resp.StatusCode, b, want)
		}
		return b
	}
	call("", "GET", "/api/v1/registries", "", http.StatusUnauthorized)
	call("dev", "POST", "/api/v1/registries", `{"name":"x","url":"http://127.0.0.1:9"}`, http.StatusForbidden)
	call("root-readonly", "POST", "/api/v1/registries", `{"name":"x","url":"http://127.0.0.1:9"}`, http.StatusForbidden)
	call("root-readonly", "GET", "/api/v1/registries", "", http.StatusOK)
	call("root", "POST", "/api/v1/registries", `{"name":"Bad Name","url":"http://127.0.0.1:9"}`, http.StatusBadRequest)
	// The endpoint's own list of repositories (the UI's "Repositories to list"): every name checked.
	call("root", "POST", "/api/v1/registries", `{"name":"x","url":"http://127.0.0.1:9","repositories":["ok/name","../etc"]}`, http.StatusBadRequest)
	call("root", "POST", "/api/v1/registries", `{"name":"x","url":"http://127.0.0.1:9","repositories":["Upper/Case"]}`, http.StatusBadRequest)
	call("root", "POST", "/api/v1/registries", `{"name":"x","url":"http://127.0.0.1:9","repositories":["a/\u0000b"]}`, http.StatusBadRequest)
	call("root", "POST", "/api/v1/registries", `{"name":"x","url":"http://127.0.0.1:9","repositories":["`+strings.Repeat("a", 300)+`"]}`, http.StatusBadRequest)
	body := call("root", "POST", "/api/v1/registries", `{"name":"second","url":"`+second.URL+`","username":"robot","password":"hunter2-secret"}`, http.StatusCreated)
	list := call("root", "GET", "/api/v1/registries", "", http.StatusOK)
	for _, b := range [][]byte{body, list} {
		if bytes.Contains(b, []byte("hunter2")) || !bytes.Contains(b, []byte(`"hasPassword":true`)) {
			t.Errorf("answer shows the password or not that one is kept: %s", b)
		}
	}
	rows, err := h.s.st.Endpoints(t.Context())
	if err != nil || len(rows) != 1 || len(rows[0].Secret) == 0 || bytes.Contains(rows[0].Secret, []byte("hunter2")) {
		t.Fatalf("stored endpoint: %v %v", rows, err)
	}
	call("root", "POST", "/api/v1/registries/second/test", "", http.StatusOK) // open registry: credentials unused
	// Replaced without a password: kept for the same registry, dropped for another.
	if b := call("root", "POST", "/api/v1/registries", `{"name":"second","url":"`+second.URL+`","username":"robot"}`, http.StatusCreated); !bytes.Contains(b, []byte(`"hasPassword":true`)) {
		t.Errorf("the password was not kept: %s", b)
	}
	if b := call("root", "POST", "/api/v1/registries", `{"name":"elsewhere","url":"http://127.0.0.1:9","username":"robot"}`, http.StatusCreated); bytes.Contains(b, []byte(`hasPassword`)) {
		t.Errorf("a new endpoint has a password: %s", b)
	}
	if b := call("root", "POST", "/api/v1/registries", `{"name":"second","url":"http://127.0.0.1:9","username":"robot"}`, http.StatusCreated); bytes.Contains(b, []byte(`hasPassword`)) {
		t.Errorf("the password followed the endpoint to another registry: %s", b)
	}
	call("root", "POST", "/api/v1/registries", `{"name":"second","url":"`+second.URL+`"}`, http.StatusCreated)
	call("root", "DELETE", "/api/v1/registries/elsewhere", "", http.StatusNoContent)

	call("root", "POST", "/api/v1/replications", `{"name":"r","source":"main","destination":"second","tags":"[","trigger":"manual"}`, http.StatusBadRequest)
	call("root", "POST", "/api/v1/replications", `{"name":"r","source":"main","destination":"nowhere","trigger":"manual"}`, http.StatusNotFound)
	var rule api.ReplicationRule
	_ = json.Unmarshal(call("root", "POST", "/api/v1/replications", `{"name":"r","source":"main","destination":"second","repositories":"lib/**","trigger":"schedule","schedule":"@hourly"}`, http.StatusCreated), &rule)
	call("root", "POST", "/api/v1/replications", `{"name":"r","source":"main","destination":"second","trigger":"manual"}`, http.StatusConflict)
	call("dev", "POST", "/api/v1/replications/"+rule.ID+"/run?dry_run=1", "", http.StatusForbidden)
	var run api.ReplicationRun
	_ = json.Unmarshal(call("root", "POST", "/api/v1/replications/"+rule.ID+"/run?dry_run=1", "", http.StatusAccepted), &run)
	if done := h.wait(t, run.ID); !done.DryRun || done.Copied != 1 || done.State != api.RunSucceeded {
		t.Errorf("dry run: %+v", done)
	}
	var runs []api.ReplicationRun
	_ = json.Unmarshal(call("root", "GET", "/api/v1/replications/r/runs", "", http.StatusOK), &runs)
	if len(runs) != 1 || runs[0].ID != run.ID {
		t.Errorf("runs: %+v", runs)
	}
	if tags := tagsOf(t, second.URL, "lib/a"); len(tags) != 0 {
		t.Errorf("the dry run wrote %v", tags)
	}
	call("root", "DELETE", "/api/v1/replications/"+rule.ID, "", http.StatusNoContent)
	call("root", "DELETE", "/api/v1/registries/second", "", http.StatusNoContent)
	call("root", "DELETE", "/api/v1/registries/second", "", http.StatusNotFound)
	audit, err := h.s.audits.Audit(t.Context(), store.AuditFilter{Actor: "root"})
	if err != nil || len(audit) < 5 {
		t.Errorf("audit: %d entries, %v", len(audit), err)
	}
}
