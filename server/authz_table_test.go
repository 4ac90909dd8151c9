package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// The authorization table: who (subject) may do what (action) to which repository
// (resource), asked through every entry point that can act on a repository, over HTTP
// against the real server — once with Berth's policy deciding (--access-control over a
// token-auth registry), once with the registry deciding (htpasswd, no access control).

// who is a subject: Basic credentials ("" user: anonymous) sent from a loopback address of
// its own (so one subject's refusals never throttle another's).
type who struct {
	user, secret string
	from         string
}

// client is an HTTP client whose connections leave from w's address.
func (w who) client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if w.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(w.from)}
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: time.Minute}
}

// entry is one way in: it asks for want on repository as w and reports whether the answer
// allowed it (false on a refusal: 401/403, or a token without the action).
type entry struct {
	name string
	want string // pull, push, delete
	ask  func(t *testing.T, b *tableBerth, w who, repository string) bool
}

// tableBerth is a running Berth and its registry.
type tableBerth struct {
	base, registry string
	indexed        bool       // Berth's index holds the repositories (search answers from it)
	root           *site.Root // Berth's route table
}

func (b *tableBerth) do(t *testing.T, w who, method, path, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, b.base+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if w.user != "" {
		req.SetBasicAuth(w.user, w.secret)
	}
	resp, err := w.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out
}

// allowedBy reads an answer: refused is 401, 403 or 429 (wrong credentials tried often are
// throttled); anything else went past authorization.
func allowedBy(t *testing.T, what string, code int) bool {
	t.Helper()
	if code >= 500 {
		t.Fatalf("%s: status %d", what, code)
	}
	return code != http.StatusUnauthorized && code != http.StatusForbidden && code != http.StatusTooManyRequests
}

// entries are the ways in. The tag "v1" exists in every repository; "nope" nowhere, so a
// permitted delete job starts (202) and removes nothing.
func entries() []entry {
	get := func(path string) func(t *testing.T, b *tableBerth, w who, repo string) bool {
		return func(t *testing.T, b *tableBerth, w who, repo string) bool {
			code, _ := b.do(t, w, "GET", strings.ReplaceAll(path, "REPO", repo), "", nil)
			return allowedBy(t, path, code)
		}
	}
	job := func(req api.JobRequest) func(t *testing.T, b *tableBerth, w who, repo string) bool {
		return func(t *testing.T, b *tableBerth, w who, repo string) bool {
			req.Repository = repo
			if req.Kind == api.JobCleanup {
				req.Rule = &api.CleanupRule{Repository: repo, Include: "^nope$"}
			}
			raw, _ := json.Marshal(req)
			code, _ := b.do(t, w, "POST", "/api/v1/jobs", "application/json", strings.NewReader(string(raw)))
			return allowedBy(t, "job "+req.Kind, code)
		}
	}
	return []entry{
		{"tags", "pull", get("/api/v1/repositories/REPO/tags")},
		{"manifest", "pull", get("/api/v1/repositories/REPO/manifests/v1")},
		{"usage", "pull", get("/api/v1/repositories/REPO/usage")},
		{"untagged", "pull", get("/api/v1/repositories/REPO/untagged")},
		{"severities", "pull", get("/api/v1/contents/REPO/-/severities?digest=sha256:" + strings.Repeat("0", 64))},
		{"chart versions", "pull", get("/api/v1/charts/REPO/versions")},
		{"contents", "pull", get("/api/v1/contents/REPO/-/image/v1")},
		{"activity", "pull", get("/api/v1/stats/REPO")},
		{"v2 tags", "pull", func(t *testing.T, b *tableBerth, w who, repo string) bool {
			return registryAllows(t, b, w, repo, "pull")
		}},
		{"search", "pull", func(t *testing.T, b *tableBerth, w who, repo string) bool {
			code, body := b.do(t, w, "GET", "/api/v1/search?q="+url.QueryEscape(repo), "", nil)
			allowedBy(t, "search", code)
			var page api.SearchPage
			_ = json.Unmarshal(body, &page)
			for _, h := range page.Results {
				if h.Repository == repo {
					return true
				}
			}
			return false
		}},
		{"cleanup preview", "pull", job(api.JobRequest{Kind: api.JobCleanup, DryRun: true})},
		{"v2 push", "push", func(t *testing.T, b *tableBerth, w who, repo string) bool {
			return registryAllows(t, b, w, repo, "push")
		}},
		{"import", "push", func(t *testing.T, b *tableBerth, w who, repo string) bool {
			code, _ := b.do(t, w, "POST", "/api/v1/imports?repository="+url.QueryEscape(repo), "application/x-tar", strings.NewReader("not an archive"))
			return allowedBy(t, "import", code)
		}},
		{"scan now", "push", func(t *testing.T, b *tableBerth, w who, repo string) bool {
			code, _ := b.do(t, w, "POST", "/api/v1/scans", "application/json", strings.NewReader(`{"repository":"`+repo+`","reference":"v1"}`))
			return allowedBy(t, "scan", code)
		}},
		{"delete job", "delete", job(api.JobRequest{Kind: api.JobDelete, References: []string{"nope"}})},
	}
}

// registryAllows asks the registry itself through Berth's /v2 proxy, as docker would: a
// token for the scope, then the request.
func registryAllows(t *testing.T, b *tableBerth, w who, repo, action string) bool {
	t.Helper()
	var a authn.Authenticator = authn.Anonymous
	if w.user != "" {
		a = &authn.Basic{Username: w.user, Password: w.secret}
	}
	u, _ := url.Parse(b.base)
	r, err := name.NewRepository(u.Host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if action == "pull" {
		_, err = remote.List(r, remote.WithAuth(a), remote.WithContext(ctx), remote.WithTransport(w.client().Transport))
	} else {
		err = remote.CheckPushPermission(r.Tag("table"), keychain{a}, w.client().Transport)
	}
	if err != nil && os.Getenv("TABLE_DEBUG") != "" {
		t.Logf("%s %s as %q: %v", action, repo, w.user, err)
	}
	return err == nil
}

// TestAuthorizationTable runs the table against both authorizers.
func TestAuthorizationTable(t *testing.T) {
	t.Run("policy decides", testPolicyTable)
	t.Run("registry decides", testRegistryTable)
}

func testPolicyTable(t *testing.T) {
	logs := captureLogs(t)
	b, subjects := policyBerth(t)
	// What each subject holds on each repository: web is alice's team (dev developer, vic
	// viewer, the robot developer, gone a disabled maintainer), eve/ is eve's, pub/ public.
	holds := map[string]map[string]string{
		"anonymous":      {"web/app": "", "eve/tool": "", "pub/base": "pull"},
		"admin":          {"web/app": "pull,push,delete", "eve/tool": "pull,push,delete", "pub/base": "pull,push,delete"},
		"owner alice":    {"web/app": "pull,push,delete", "eve/tool": "", "pub/base": "pull"},
		"developer dev":  {"web/app": "pull,push", "eve/tool": "", "pub/base": "pull"},
		"viewer vic":     {"web/app": "pull", "eve/tool": "", "pub/base": "pull"},
		"other eve":      {"web/app": "", "eve/tool": "pull,push,delete", "pub/base": "pull"},
		"robot web":      {"web/app": "pull,push", "eve/tool": "", "pub/base": "pull"},
		"PAT of dev":     {"web/app": "pull,push", "eve/tool": "", "pub/base": "pull"},
		"read-only PAT":  {"web/app": "pull", "eve/tool": "", "pub/base": "pull"},
		"disabled gone":  {"web/app": "", "eve/tool": "", "pub/base": "?"},
		"wrong password": {"web/app": "", "eve/tool": "", "pub/base": "?"},
		"revoked robot":  {"web/app": "", "eve/tool": "", "pub/base": "?"},
	}
	runTable(t, b, subjects, holds)
	t.Run("every route", func(t *testing.T) { testRouteSweep(t, b, subjects) })
	t.Run("crafted requests", func(t *testing.T) { testCraftedRequests(t, b, subjects) })
	t.Run("secrets", func(t *testing.T) { testSecretsStayIn(t, b, subjects, logs) })
}

func testRegistryTable(t *testing.T) {
	b, subjects := registryBerth(t)
	holds := map[string]map[string]string{
		"anonymous":      {"team/app": ""},
		"user":           {"team/app": "pull,push,delete"},
		"wrong password": {"team/app": ""},
	}
	runTable(t, b, subjects, holds)
}

// runTable asks every entry for every subject and repository; cases are counted so the
// table cannot shrink unnoticed.
func runTable(t *testing.T, b *tableBerth, subjects map[string]who, holds map[string]map[string]string) {
	n := 0
	for subject, repos := range holds {
		w, ok := subjects[subject]
		if !ok {
			t.Fatalf("no credentials for %s", subject)
		}
		for repo, held := range repos {
			for _, e := range entries() {
				if strings.Contains(held, "?") {
					continue // anonymous's answer until the throttle says 429: either is right
				}
				want := strings.Contains(","+held+",", ","+e.want+",")
				if e.name == "search" && !b.indexed {
					continue // the registry decides: nothing fills Berth's index without credentials
				}
				n++
				if got := e.ask(t, b, w, repo); got != want {
					t.Errorf("%s, %s on %s through %s: allowed=%v, want %v", subject, e.want, repo, e.name, got, want)
				}
			}
		}
	}
	t.Logf("%d cases", n)
	if n < 30 {
		t.Fatalf("only %d cases", n)
	}
}

const tablePassword = "the table's long password"

// policyBerth runs Berth with --access-control over a token-auth embedded registry holding
// web/app, eve/tool and pub/base (tag v1 each), and returns the subjects' credentials.
// tableSecret is policyBerth's cluster secret, which registry notifications carry too.
const tableSecret = "cluster secret shared by the table test and berth"

func policyBerth(t *testing.T) (*tableBerth, map[string]who) {
	ctx := t.Context()
	cfg := config.Default()
	secretFile := filepath.Join(t.TempDir(), "cluster-secret")
	secret := tableSecret
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir, cfg.WebDir, cfg.LogLevel = fmt.Sprintf("127.0.0.1:%d", freePort(t)), t.TempDir(), webDir(t), "warn"
	cfg.NoDemo, cfg.SyncInterval, cfg.AccessControl, cfg.AnonymousWrites, cfg.SecretFile = true, 0, true, false, secretFile
	cfg.EventsSecretFile = secretFile // notifications need the secret: the route sweep checks
	cfg.WebhookHosts = []string{"hooks.example"}
	st, err := store.Open(ctx, cfg.DatabaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	accounts, err := store.AccountsOf(st)
	if err != nil {
		t.Fatal(err)
	}
	control, err := auth.New(ctx, auth.Options{Store: accounts, Secret: []byte(secret), Issuer: cfg.TokenIssuer, Service: cfg.TokenService, TTL: cfg.TokenTTL})
	if err != nil {
		t.Fatal(err)
	}
	subjects := castAccounts(t, control, accounts)
	bundle, err := writeBundle(ctx, cfg, control)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	host := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(host)
	// The realm is named, not an IP literal: clients refuse a token realm on a private
	// address other than the registry's own.
	cfg.Registry, cfg.TokenRealm = "http://"+host, "http://localhost:"+port+"/auth/token"
	reg, err := embedded.New(context.Background(), t.TempDir(), embedded.WithTokenAuth(cfg.TokenRealm, cfg.TokenService, cfg.TokenIssuer, bundle))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	site.Tokens(mux, control.Tokens, nil)
	mux.Handle("/", reg.Handler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	admin := &authn.Basic{Username: "admin", Password: tablePassword}
	for _, repo := range []string{"web/app", "eve/tool", "pub/base"} {
		pushImage(t, host, repo+":v1", admin)
	}
	base, root, _ := runBerthRoot(t, cfg)
	b := &tableBerth{base: base, registry: host, indexed: true, root: root}
	waitIndexed(t, b, subjects["admin"], "web/app", "eve/tool", "pub/base")
	return b, subjects
}

// castAccounts makes the table's accounts and returns their credentials.
func castAccounts(t *testing.T, c *auth.Control, st store.Accounts) map[string]who {
	ctx := t.Context()
	acc := c.Accounts
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(acc.CreateUser(ctx, "test", "admin", tablePassword, true))
	for _, u := range []string{"alice", "dev", "vic", "eve", "gone"} {
		must(acc.CreateUser(ctx, "test", u, tablePassword, false))
	}
	must(acc.CreateTeam(ctx, "test", "web", "", "alice", true))
	must(acc.SetTeamMember(ctx, "test", "web", "dev", store.RoleDeveloper))
	must(acc.SetTeamMember(ctx, "test", "web", "vic", store.RoleViewer))
	must(acc.SetTeamMember(ctx, "test", "web", "gone", store.RoleMaintainer))
	must(acc.CreateTeam(ctx, "test", "pub", "", "admin", true))
	public := true
	must(acc.UpdateNamespace(ctx, "test", "pub", &public, nil))
	robot, robotSecret, err := acc.CreateRobot(ctx, "alice", "web", "ci", store.RoleDeveloper, "", 0)
	must(err)
	old, oldSecret, err := acc.CreateRobot(ctx, "alice", "web", "old", store.RoleDeveloper, "", 0)
	must(err)
	must(acc.RevokeRobot(ctx, "alice", old))
	_, pat, err := acc.CreatePAT(ctx, "dev", "dev", "laptop", 0, false)
	must(err)
	_, roPAT, err := acc.CreatePAT(ctx, "dev", "dev", "ci", 0, true)
	must(err)
	off := true
	must(acc.UpdateUser(ctx, "test", "gone", auth.UserChange{Disabled: &off}))
	p := tablePassword
	return addressed(map[string]who{
		"anonymous": {}, "admin": {user: "admin", secret: p}, "owner alice": {user: "alice", secret: p},
		"developer dev": {user: "dev", secret: p}, "viewer vic": {user: "vic", secret: p}, "other eve": {user: "eve", secret: p},
		"robot web": {user: robot, secret: robotSecret}, "PAT of dev": {user: "dev", secret: pat},
		"read-only PAT": {user: "dev", secret: roPAT}, "disabled gone": {user: "gone", secret: p},
		"wrong password": {user: "vic", secret: "not the password"}, "revoked robot": {user: old, secret: oldSecret},
	})
}

// registryBerth runs Berth without access control in front of an htpasswd registry holding
// team/app:v1: the registry decides.
func registryBerth(t *testing.T) (*tableBerth, map[string]who) {
	base := registrytest.Htpasswd(t, map[string]string{"user": tablePassword})
	host := strings.TrimPrefix(base, "http://")
	pushImage(t, host, "team/app:v1", &authn.Basic{Username: "user", Password: tablePassword})
	cfg := config.Default()
	cfg.Addr, cfg.DataDir, cfg.WebDir, cfg.LogLevel = fmt.Sprintf("127.0.0.1:%d", freePort(t)), t.TempDir(), webDir(t), "warn"
	cfg.NoDemo, cfg.SyncInterval, cfg.Registry, cfg.EventsInsecure = true, 0, base, true
	cfg.AnonymousWrites = false // as config.Load sets it for a registry that is not embedded
	u, _ := runBerth(t, cfg)
	return &tableBerth{base: u, registry: host}, addressed(map[string]who{
		"anonymous": {}, "user": {user: "user", secret: tablePassword}, "wrong password": {user: "user", secret: "not the password"},
	})
}

func pushImage(t *testing.T, host, ref string, a authn.Authenticator) {
	t.Helper()
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, labeledImage(t, 256, nil), remote.WithAuth(a)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// waitIndexed lists the catalog as an administrator (Berth walks the registry into its index
// for a caller who sees everything) until a search finds every repository.
func waitIndexed(t *testing.T, b *tableBerth, admin who, repos ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		b.do(t, admin, "GET", "/api/v1/repositories", "", nil)
		found := 0
		for _, r := range repos {
			_, body := b.do(t, admin, "GET", "/api/v1/search?q="+url.QueryEscape(r), "", nil)
			if strings.Contains(string(body), `"repository":"`+r+`"`) {
				found++
			}
		}
		if found == len(repos) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the index never held %v", repos)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keychain hands out one authenticator for every registry.
type keychain struct{ a authn.Authenticator }

func (k keychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// addressed gives every subject a loopback address of its own, 127.0.0.10 on (in name order).
func addressed(m map[string]who) map[string]who {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		w := m[n]
		w.from = fmt.Sprintf("127.0.0.%d", 10+i)
		m[n] = w
	}
	return m
}
