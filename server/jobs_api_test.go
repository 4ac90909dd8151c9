package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// TestJobsVisibility: who sees, follows and cancels whose jobs through /api/v1/jobs, with
// Berth's policy deciding. dev starts a job; only dev (with a password or any of dev's
// tokens) and an administrator see it; a read-only token cancels nothing; nobody signed in
// is asked to sign in; everyone else learns nothing of it.
func TestJobsVisibility(t *testing.T) {
	b, who := policyBerth(t)
	code, body := b.do(t, who["developer dev"], "POST", "/api/v1/jobs", "application/json",
		strings.NewReader(`{"kind":"retag","repository":"web/app","source":"v1","destination":"jobs"}`))
	var started api.JobStarted
	if code != http.StatusAccepted || json.Unmarshal(body, &started) != nil || started.ID == "" {
		t.Fatalf("dev's job: %d %s", code, body)
	}
	id := started.ID
	lists := func(w string, query string) (int, api.JobList) {
		code, body := b.do(t, who[w], "GET", "/api/v1/jobs"+query, "", nil)
		var l api.JobList
		_ = json.Unmarshal(body, &l)
		return code, l
	}
	has := func(l api.JobList) bool {
		for _, j := range l.Jobs {
			if j.ID == id {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		who, query string
		code       int
		sees, all  bool
	}{
		{"anonymous", "", 401, false, false},
		{"developer dev", "", 200, true, false},
		{"developer dev", "?user=dev", 200, true, false},
		{"developer dev", "?user=admin", 403, false, false},
		{"developer dev", "?state=bogus", 400, false, false},
		{"PAT of dev", "", 200, true, false},
		{"read-only PAT", "", 200, true, false},
		{"other eve", "", 200, false, false},
		{"other eve", "?user=dev", 403, false, false},
		{"robot web", "", 200, false, false},
		{"admin", "", 200, true, true},
		{"admin", "?user=dev", 200, true, true},
		{"admin", "?user=eve", 200, false, true},
	} {
		code, l := lists(c.who, c.query)
		if code != c.code || has(l) != c.sees || l.All != c.all {
			t.Errorf("%s lists %q: %d, sees %v, all %v; want %d, %v, %v", c.who, c.query, code, has(l), l.All, c.code, c.sees, c.all)
		}
	}
	_, l := lists("developer dev", "")
	if len(l.Jobs) == 0 || !strings.Contains(strings.Join(l.Jobs[0].Touches, " "), "web/app:v1 web/app:jobs") {
		t.Errorf("dev's job touches %v, want web/app:v1 and web/app:jobs", l.Jobs)
	}
	for _, c := range []struct {
		who, method, path string
		code              int
	}{
		{"anonymous", "GET", "", 401},
		{"anonymous", "GET", "/events", 401},
		{"anonymous", "DELETE", "", 401},
		{"other eve", "GET", "", 404},
		{"other eve", "GET", "/events", 404},
		{"other eve", "DELETE", "", 404},
		{"robot web", "DELETE", "", 404},
		{"read-only PAT", "GET", "", 200},
		{"read-only PAT", "DELETE", "", 403},
		{"developer dev", "GET", "/events", 200},
		{"admin", "GET", "/events", 200},
		{"admin", "DELETE", "", 202},
		{"developer dev", "DELETE", "", 202},
	} {
		if code, body := b.do(t, who[c.who], c.method, "/api/v1/jobs/"+id+c.path, "", nil); code != c.code {
			t.Errorf("%s %s job%s: %d %s, want %d", c.who, c.method, c.path, code, body, c.code)
		}
	}
}
