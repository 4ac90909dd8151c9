package auth_test

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/store"
)

// The regression tests of an attacker pass over --access-control (each failed before its fix).

// TestNamespaceTakeover: a signed-in user cannot become owner of repositories that exist by
// naming a team after their namespace, nor re-create a deleted team's name over its
// repositories; an administrator can; a fresh name is anyone's.
func TestNamespaceTakeover(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	for _, r := range []string{"library/alpine:3.19", "web/app:1"} {
		if err := push(t.Context(), t, host, r, basic("root", pw)); err != nil {
			t.Fatal(err)
		}
	}
	srv := berthAPI(t, f, host)
	var e api.ErrorBody
	if code := call(t, srv, "POST", "/api/v1/teams", "eve", pw, api.Team{Name: "library"}, &e); code != http.StatusConflict || e.Error.Code != api.CodeConflict {
		t.Fatalf("eve's team over library/: %d %+v, want 409 CONFLICT", code, e)
	}
	del := api.JobRequest{Kind: api.JobDelete, Repository: "library/alpine", References: []string{"3.19"}}
	if code := call(t, srv, "POST", "/api/v1/jobs", "eve", pw, del, &e); code != http.StatusForbidden {
		t.Fatalf("eve deleting library/alpine:3.19: %d, want 403", code)
	}
	if err := pull(t.Context(), t, host, "library/alpine:3.19", basic("root", pw)); err != nil {
		t.Fatalf("library/alpine:3.19 is gone: %v", err)
	}
	// A deleted team's name does not pass its repositories to the next creator.
	if code := call(t, srv, "DELETE", "/api/v1/teams/web", "root", pw, nil, nil); code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("root deleting team web: %d", code)
	}
	if code := call(t, srv, "POST", "/api/v1/teams", "eve", pw, api.Team{Name: "web"}, &e); code != http.StatusConflict {
		t.Fatalf("eve re-creating team web over web/app: %d, want 409", code)
	}
	if code := call(t, srv, "POST", "/api/v1/teams", "eve", pw, api.Team{Name: "fresh"}, nil); code != http.StatusCreated {
		t.Fatalf("eve's team with a fresh name: %d, want 201", code)
	}
	if code := call(t, srv, "POST", "/api/v1/teams", "root", pw, api.Team{Name: "library"}, nil); code != http.StatusCreated {
		t.Fatalf("the administrator's team over library/: %d, want 201", code)
	}
}

// TestBasicCredentialsThrottled: Basic credentials on any /api/v1 route count toward the one
// throttle; after ten wrong guesses the right password is refused too (429), so it cannot
// be confirmed.
func TestBasicCredentialsThrottled(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	srv := berthAPI(t, f, host)
	for i := range 10 {
		var s api.Session
		if code := call(t, srv, "GET", "/api/v1/session", "vic", "guess"+strconv.Itoa(i), nil, &s); code != 200 || s.User != "" {
			t.Fatalf("wrong guess %d: %d %+v, want an anonymous answer", i, code, s)
		}
	}
	var e api.ErrorBody
	if code := call(t, srv, "GET", "/api/v1/session", "vic", pw, nil, &e); code != http.StatusTooManyRequests || e.Error.Code != api.CodeTooManyRequests {
		t.Fatalf("the right password after ten guesses: %d %+v, want 429", code, e)
	}
	if code := call(t, srv, "GET", "/api/v1/repositories", "vic", pw, nil, &e); code != http.StatusTooManyRequests {
		t.Fatalf("another route with the right password: %d, want 429", code)
	}
	// The token service and the sign-in form count in the same throttle.
	if code := call(t, srv, "POST", "/api/v1/session", "", "", api.SignIn{Username: "vic", Password: pw}, &e); code != http.StatusTooManyRequests {
		t.Fatalf("sign-in form after ten guesses over Basic: %d, want 429", code)
	}
	// Someone else is not locked out.
	var s api.Session
	if code := call(t, srv, "GET", "/api/v1/session", "dev", pw, nil, &s); code != 200 || s.User != "dev" {
		t.Fatalf("dev: %d %+v", code, s)
	}
}

// rss is this process's resident set in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status here")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("VmRSS missing")
	return 0
}

// TestPasswordHashingBounded: 48 concurrent requests with Basic credentials (unknown users
// included) cost at most a few argon2id hashes' memory at a time: RSS stays within 200 MiB
// of idle (it grew by 1.5 GiB before hashing had slots).
func TestPasswordHashingBounded(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	srv := berthAPI(t, f, host)
	idle := rss(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 48 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/session", nil)
			req.SetBasicAuth("nobody"+strconv.Itoa(i), "a password guess")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if grown := rss(t) - idle; grown > 200<<20 {
		t.Fatalf("48 concurrent Basic requests grew RSS by %d MiB, want ≤ 200", grown>>20)
	}
	if codes[200]+codes[http.StatusTooManyRequests] != 48 {
		t.Fatalf("answers %v: want anonymous 200s and quick 429s only", codes)
	}
}

// TestTokensCannotTakeOverTheAccount: a leaked personal access token cannot set its
// account's password nor mint tokens; the owner changes the password only with the current
// one; tokens expire by the operator's default.
func TestTokensCannotTakeOverTheAccount(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	srv := berthAPI(t, f, host)
	next := "a brand new password"
	var e api.ErrorBody
	if code := call(t, srv, "PATCH", "/api/v1/users/dev", "dev", f.pat, api.UserRequest{Password: &next}, &e); code != http.StatusForbidden {
		t.Fatalf("PAT setting its account's password: %d %+v, want 403", code, e)
	}
	if code := call(t, srv, "POST", "/api/v1/tokens", "dev", f.pat, api.TokenRequest{Name: "forever"}, &e); code != http.StatusForbidden {
		t.Fatalf("PAT minting a token: %d %+v, want 403", code, e)
	}
	if code := call(t, srv, "PATCH", "/api/v1/users/dev", "dev", pw, api.UserRequest{Password: &next}, &e); code != http.StatusBadRequest {
		t.Fatalf("password change without the current one: %d, want 400", code)
	}
	wrong := "not it at all"
	if code := call(t, srv, "PATCH", "/api/v1/users/dev", "dev", pw, api.UserRequest{Password: &next, CurrentPassword: &wrong}, &e); code != http.StatusForbidden {
		t.Fatalf("password change with a wrong current one: %d, want 403", code)
	}
	current := pw
	if code := call(t, srv, "PATCH", "/api/v1/users/dev", "dev", pw, api.UserRequest{Password: &next, CurrentPassword: &current}, nil); code != http.StatusOK {
		t.Fatalf("password change with the current one: %d", code)
	}
	// An administrator sets another user's password without theirs.
	if code := call(t, srv, "PATCH", "/api/v1/users/vic", "root", pw, api.UserRequest{Password: &next}, nil); code != http.StatusOK {
		t.Fatalf("administrator setting vic's password: %d", code)
	}

	// The operator's default expiry (--pat-max-age), and its ceiling.
	c, err := auth.New(t.Context(), auth.Options{Store: f.st, Secret: f.secret, Issuer: issuer, Service: service, TTL: time.Minute, PATTTL: 90 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := c.Accounts.CreatePAT(t.Context(), "eve", "eve", "laptop", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := f.st.Tokens(t.Context(), "eve", store.TokenPersonal)
	for _, tk := range toks {
		if tk.ID == id && (tk.Expires.IsZero() || tk.Expires.Sub(tk.Created) != 90*24*time.Hour) {
			t.Fatalf("token without expiry: expires %v, want 90 days after %v", tk.Expires, tk.Created)
		}
	}
	if _, _, err := c.Accounts.CreatePAT(t.Context(), "eve", "eve", "forever", 365*24*time.Hour, false); err == nil {
		t.Fatal("a token longer than --pat-max-age was made")
	}
}

// TestJobBodyDecodedOnce: a job body with something after the JSON value (a stray "}") is
// refused, not run unchecked.
func TestJobBodyDecodedOnce(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	if err := push(t.Context(), t, host, "web/app:2", basic("root", pw)); err != nil {
		t.Fatal(err)
	}
	srv := berthAPI(t, f, host)
	body := `{"kind":"delete","repository":"web/app","references":["2"]}}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/jobs", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("vic", pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("viewer's delete job with a trailing brace: %d, want 400", resp.StatusCode)
	}
	if err := pull(t.Context(), t, host, "web/app:2", basic("root", pw)); err != nil {
		t.Fatalf("web/app:2 went: %v", err)
	}
}

// TestRobotsStopWithTheirOwner: a robot of a personal namespace gets nothing once its owner
// is disabled; a team's robot belongs to the team.
func TestRobotsStopWithTheirOwner(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	name, secret, err := f.c.Accounts.CreateRobot(ctx, "eve", "eve", "ci", store.RoleDeveloper, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, tr, _ := f.getToken(t, name, secret, nil, "repository:eve/tool:pull,push"); tr.Scope != "repository:eve/tool:pull,push" {
		t.Fatalf("robot of an enabled owner: granted %q", tr.Scope)
	}
	off := true
	if err := f.c.Accounts.UpdateUser(ctx, "root", "eve", auth.UserChange{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, tr, _ := f.getToken(t, name, secret, nil, "repository:eve/tool:pull,push"); tr.Scope != "" {
		t.Fatalf("robot of a disabled owner: granted %q, want nothing", tr.Scope)
	}
	// The team robot keeps working whoever leaves the team.
	if err := f.c.Accounts.UpdateUser(ctx, "root", "olga", auth.UserChange{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, tr, _ := f.getToken(t, "robot$web+ci", f.robot, nil, "repository:web/app:push"); tr.Scope != "repository:web/app:push" {
		t.Fatalf("team robot after its creator left: granted %q", tr.Scope)
	}
}
