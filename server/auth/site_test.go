package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// berthAPI is Berth's /api/v1 with access control over a token-auth embedded registry, wired
// as serve.go wires it: users read and write with their own tokens, the catalog is read with
// Berth's service tokens and filtered, sign-in checks local accounts, jobs are guarded.
func berthAPI(t *testing.T, f *fixture, host string) *httptest.Server {
	t.Helper()
	reg, err := registry.New(registry.Options{URL: "http://" + host, PerUser: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	own, err := f.c.Connect(registry.Options{URL: "http://" + host, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	authz := f.c.Authorizer(own.Catalog)
	cat := newCatalog(catalog.Options{Registry: reg, Own: own, Authorizer: authz})
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ops.NewManager(t.Context(), ops.Options{Registry: reg, Authorizer: authz, Invalidate: cat.Invalidate, Store: st, Secret: []byte("auth site test secret")})
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = jobs.Shutdown(ctx)
		_ = st.Close()
	})
	mux := http.NewServeMux()
	site.API(mux, site.Services{
		Registry: reg, Catalog: cat, Jobs: jobs, Access: f.c, Authenticator: f.c.Accounts,
		Sessions: session.New(time.Hour, f.c.Accounts.CheckSignIn, cat.Forget, nil),
	}, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, method, path, user, secret string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestJobsAndCatalog: a viewer cannot start a delete job (403, audited); a maintainer can,
// and the registry deletes with the maintainer's token. The repository list is filtered.
func TestJobsAndCatalog(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	ctx := t.Context()
	for _, r := range []string{"web/app:1", "web/app:2", "pub/base:1", "eve/tool:1"} {
		if err := push(ctx, t, host, r, basic("root", pw)); err != nil {
			t.Fatal(err)
		}
	}
	srv := berthAPI(t, f, host)

	// The repository list: each sees what they may pull.
	for user, want := range map[string][]string{
		"":     {"pub/base"},
		"vic":  {"pub/base", "web/app"},
		"eve":  {"eve/tool", "pub/base"},
		"root": {"eve/tool", "pub/base", "web/app"},
	} {
		var page api.RepositoryPage
		if code := call(t, srv, "GET", "/api/v1/repositories", user, pw, nil, &page); code != 200 {
			t.Fatalf("%s: repositories %d", user, code)
		}
		var got []string
		for _, r := range page.Repositories {
			got = append(got, r.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q sees %v, want %v", user, got, want)
		}
	}

	del := api.JobRequest{Kind: api.JobDelete, Repository: "web/app", References: []string{"2"}}
	var e api.ErrorBody
	if code := call(t, srv, "POST", "/api/v1/jobs", "vic", pw, del, &e); code != http.StatusForbidden || e.Error.Code != api.CodeDenied {
		t.Fatalf("viewer's delete job: %d %+v, want 403 DENIED", code, e)
	}
	if code := call(t, srv, "POST", "/api/v1/jobs", "", "", del, &e); code != http.StatusUnauthorized {
		t.Fatalf("anonymous delete job: %d, want 401", code)
	}
	entries, err := f.st.Audit(ctx, store.AuditFilter{Action: auth.AuditDenied})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[1].Actor != "vic" || entries[1].Target != "web/app" || entries[1].Granted != "pull" || entries[1].OK {
		t.Fatalf("audit of denied jobs: %+v", entries)
	}
	if err := pull(ctx, t, host, "web/app:2", basic("root", pw)); err != nil {
		t.Fatalf("web/app:2 went although the job was refused: %v", err)
	}

	var started api.JobStarted
	if code := call(t, srv, "POST", "/api/v1/jobs", "max", pw, del, &started); code != http.StatusAccepted {
		t.Fatalf("maintainer's delete job: %d", code)
	}
	var job api.Job
	deadline := time.Now().Add(time.Minute)
	for job.State == "" || job.State == api.JobRunning {
		if time.Now().After(deadline) {
			t.Fatalf("job did not end: %+v", job)
		}
		call(t, srv, "GET", "/api/v1/jobs/"+started.ID, "max", pw, nil, &job)
		if job.State == api.JobRunning {
			time.Sleep(20 * time.Millisecond) // polling for the job's end, not asserting after a sleep
		}
	}
	if job.State != api.JobSucceeded {
		t.Fatalf("job: %+v", job)
	}
	if _, err := remote.Head(ref(t, host, "web/app:2"), remote.WithAuth(basic("root", pw))); err == nil {
		t.Error("web/app:2 still there after the maintainer's delete job")
	}
}

// TestSignInAndDisable: sign-in checks local accounts and is audited; disabling a user ends
// their session at the next request.
func TestSignInAndDisable(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	if err := push(t.Context(), t, host, "web/app:1", basic("root", pw)); err != nil {
		t.Fatal(err)
	}
	srv := berthAPI(t, f, host)
	signIn := func(user, password string) (*http.Cookie, int) {
		b, _ := json.Marshal(api.SignIn{Username: user, Password: password})
		resp, err := http.Post(srv.URL+"/api/v1/session", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == session.CookieName {
				return c, resp.StatusCode
			}
		}
		return nil, resp.StatusCode
	}
	if _, code := signIn("vic", "wrong password"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	cookie, code := signIn("vic", pw)
	if code != 200 || cookie == nil {
		t.Fatalf("sign-in: %d", code)
	}
	tags := func() int {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/repositories/web/app/tags?details=false", nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := tags(); code != 200 {
		t.Fatalf("vic reads web/app tags: %d", code)
	}
	off := true
	if err := f.c.Accounts.UpdateUser(t.Context(), "root", "vic", auth.UserChange{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
	if code := tags(); code != http.StatusUnauthorized {
		t.Fatalf("disabled vic's session reads web/app tags: %d, want 401", code)
	}
	entries, _ := f.st.Audit(t.Context(), store.AuditFilter{Action: auth.AuditSignIn})
	if len(entries) != 2 || entries[0].OK != true || entries[1].OK != false || entries[1].Addr == "" {
		t.Fatalf("sign-in audit: %+v", entries)
	}
	// The audit endpoint is the administrators'.
	var page api.AuditPage
	if code := call(t, srv, "GET", "/api/v1/audit?user=vic&action=signin&since=1h&limit=5", "root", pw, nil, &page); code != 200 || len(page.Entries) != 2 {
		t.Fatalf("audit API: %d %+v", code, page)
	}
	if code := call(t, srv, "GET", "/api/v1/audit", "dev", pw, nil, nil); code != http.StatusForbidden {
		t.Fatalf("audit API for a developer: %d", code)
	}
}
