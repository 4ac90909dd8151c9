package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

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
	t.Run("scan jobs", func(t *testing.T) { testScanJobs(t, b, who) })
}

// testScanJobs: a scan dev asks for is dev's job in /api/v1/jobs, followed to its end
// through its events; eve learns nothing of it; the scan Berth queues itself on a push is
// an administrator's to see.
func testScanJobs(t *testing.T, b *tableBerth, who map[string]who) {
	code, body := b.do(t, who["developer dev"], "POST", "/api/v1/scans", "application/json",
		strings.NewReader(`{"repository":"web/app","reference":"v1"}`))
	var queued api.ScanReport
	if code != http.StatusAccepted || json.Unmarshal(body, &queued) != nil || queued.Job == "" {
		t.Fatalf("dev's scan: %d %s", code, body)
	}
	code, body = b.do(t, who["developer dev"], "GET", "/api/v1/jobs/"+queued.Job+"/events", "", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"phase":"queued"`) || !strings.Contains(string(body), `"phase":"scanning"`) {
		t.Errorf("the scan's events: %d %s", code, body)
	}
	var j api.Job
	code, body = b.do(t, who["developer dev"], "GET", "/api/v1/jobs/"+queued.Job, "", nil)
	if code != http.StatusOK || json.Unmarshal(body, &j) != nil {
		t.Fatalf("dev's scan job: %d %s", code, body)
	}
	ref := "web/app@" + queued.Digest
	if j.Kind != api.JobScan || j.User != "dev" || j.Summary != "scan "+ref || len(j.Touches) != 1 || j.Touches[0] != ref ||
		!(j.State == api.JobSucceeded || j.State == api.JobFailed && j.Error != "") {
		t.Errorf("dev's scan job: %+v", j)
	}
	listed := func(w string, match func(api.Job) bool) bool {
		_, body := b.do(t, who[w], "GET", "/api/v1/jobs", "", nil)
		var l api.JobList
		_ = json.Unmarshal(body, &l)
		return slices.ContainsFunc(l.Jobs, match)
	}
	mine := func(j api.Job) bool { return j.ID == queued.Job && j.State != api.JobRunning }
	if !listed("developer dev", mine) || listed("other eve", mine) {
		t.Errorf("dev's finished scan listed for dev %v, for eve %v", listed("developer dev", mine), listed("other eve", mine))
	}
	for _, c := range []struct {
		who, method string
		code        int
	}{{"other eve", "GET", 404}, {"other eve", "DELETE", 404}, {"read-only PAT", "DELETE", 403}, {"admin", "GET", 200}} {
		if code, body := b.do(t, who[c.who], c.method, "/api/v1/jobs/"+queued.Job, "", nil); code != c.code {
			t.Errorf("%s %s dev's scan job: %d %s, want %d", c.who, c.method, code, body, c.code)
		}
	}
	// The registry tells of a push: Berth scans it as its own job.
	push := fmt.Sprintf(`{"events":[{"id":"scan-jobs-push","timestamp":%q,"action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":%q,"repository":"web/app","tag":"v1"}}]}`,
		time.Now().UTC().Format(time.RFC3339Nano), queued.Digest)
	req, _ := http.NewRequest("POST", b.base+"/events", strings.NewReader(push))
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
	req.Header.Set("Authorization", "Bearer "+tableSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("push notification: %v %v", err, resp)
	}
	resp.Body.Close()
	berths := func(j api.Job) bool { return j.Kind == api.JobScan && j.User == "" && j.Touches[0] == ref }
	waitFor(t, "the push's scan job, for the administrator", 10*time.Second, func() bool { return listed("admin", berths) })
	if listed("developer dev", berths) {
		t.Error("dev sees scans Berth queued")
	}
}
