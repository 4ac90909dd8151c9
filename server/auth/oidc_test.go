package auth_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/auth/authtest"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// browserSite is Berth as serve.go wires it for browsers: /api/v1 (the repository list
// filtered by the policy when host, a registry, is given), the session endpoints, the
// token service, and the sign-in endpoints — OpenID Connect when oidc returns options for
// the callback URL, the static site's OAuth server for origins. It runs at
// http://localhost:PORT (the provider at 127.0.0.1, so their cookies stay apart).
func browserSite(t *testing.T, f *fixture, host string, origins []string, oidc func(callback string) *auth.OIDCOptions) (string, *auth.Control) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base := "http://localhost:" + port
	opts := auth.Options{Store: f.st, Secret: f.secret, Issuer: issuer, Service: service, TTL: 5 * time.Minute,
		OAuth: auth.OAuthOptions{Origins: origins}}
	if oidc != nil {
		opts.OIDC = oidc(base + "/auth/oidc/callback")
	}
	c, err := auth.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	svc := site.Services{Access: c, Authenticator: c.Accounts}
	forget := func(string) {}
	if host != "" {
		reg, err := registry.New(registry.Options{URL: "http://" + host, PerUser: true, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		own, err := c.Connect(registry.Options{URL: "http://" + host, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		cat := newCatalog(catalog.Options{Registry: reg, Own: own, Authorizer: c.Authorizer(own.Catalog)})
		svc.Registry, svc.Catalog, forget = reg, cat, cat.Forget
	}
	svc.Sessions = session.New(time.Hour, c.Accounts.CheckSignIn, forget, nil,
		session.WithBearer(c.Accounts.BearerUser), session.WithSignOut(c.Accounts.EndSession))
	mux := http.NewServeMux()
	site.API(mux, svc, site.CORS(origins))
	c.Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return base, c
}

// browser is an HTTP client with a cookie jar that follows redirects, as a browser does.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) postForm(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// user asks Berth who is signed in.
func (b *browser) user(base string) string {
	b.t.Helper()
	_, body := b.get(base + "/api/v1/session")
	var s api.Session
	_ = json.Unmarshal([]byte(body), &s)
	return s.User
}

// oidcSignIn signs in through the provider as a person would: Berth's login link, the
// provider's form, and back. It returns Berth's last answer.
func oidcSignIn(t *testing.T, b *browser, base string, p *authtest.Provider, login, password, ret string) (*http.Response, string) {
	t.Helper()
	resp, body := b.get(base + "/auth/oidc/login?return=" + url.QueryEscape(ret))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), p.Issuer+"/login?") || !strings.Contains(body, "<form") {
		t.Fatalf("login link did not lead to the provider's login form: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	// What Berth sent the browser to the provider with: PKCE S256, state and nonce.
	var authz *url.URL
	for r := resp.Request; r != nil; r = responseRequest(r) {
		if strings.HasPrefix(r.URL.String(), p.Issuer+"/authorize?") {
			authz = r.URL
		}
	}
	if authz == nil {
		t.Fatal("no authorization request on the way to the provider")
	}
	if q := authz.Query(); q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("nonce") == "" || q.Get("client_id") != p.ClientID {
		t.Fatalf("authorization request without PKCE, state or nonce: %s", authz)
	}
	id := resp.Request.URL.Query().Get("id")
	return b.postForm(p.Issuer+"/login", url.Values{"id": {id}, "username": {login}, "password": {password}})
}

// responseRequest is the request that led to r by a redirect, or nil.
func responseRequest(r *http.Request) *http.Request {
	if r.Response == nil {
		return nil
	}
	return r.Response.Request
}

func memberships(t *testing.T, st store.Accounts, user string) map[string]string {
	t.Helper()
	ms, err := st.Memberships(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Group] = m.Role
	}
	return out
}

// TestOIDCSignIn drives the OpenID Connect sign-in end to end against a real provider:
// users are made on first sign-in and linked by subject (a provider's preferred_username
// never takes over a local account), groups become memberships of existing teams and are
// synced again at each sign-in, the session is Berth's usual one, the return path cannot
// leave the site, disabled users are refused, and all of it is audited.
func TestOIDCSignIn(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if err := f.c.Accounts.CreateTeam(ctx, "test", "ops", "", "root", true); err != nil {
		t.Fatal(err)
	}
	var p *authtest.Provider
	base, c := browserSite(t, f, "", nil, func(callback string) *auth.OIDCOptions {
		p = authtest.NewProvider(t, callback)
		teams, err := auth.ParseTeamMap([]string{"ops-admins=ops:maintainer"})
		if err != nil {
			t.Fatal(err)
		}
		return &auth.OIDCOptions{Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: callback, TeamMap: teams}
	})
	p.SetUser("alice", authtest.User{Subject: "sub-alice", Password: "alice at the provider", PreferredUsername: "Alice", Email: "alice@example.com",
		Groups: []string{"web", "ops-admins", "no-such-team"}})
	p.SetUser("impostor", authtest.User{Subject: "sub-impostor", Password: "impostor at the provider", PreferredUsername: "olga", Groups: []string{"web"}})
	p.SetUser("anon", authtest.User{Subject: "sub-anon", Password: "anon at the provider", Email: "Jean.Dupont+x@example.com"})

	// Wrong password at the provider: the provider's form answers, Berth never hears of it.
	b := newBrowser(t)
	if resp, _ := oidcSignIn(t, b, base, p, "alice", "wrong", "/"); resp.StatusCode != http.StatusUnauthorized || b.user(base) != "" {
		t.Fatalf("wrong password at the provider: %d, signed in as %q", resp.StatusCode, b.user(base))
	}

	resp, body := oidcSignIn(t, b, base, p, "alice", "alice at the provider", "/repositories/web/app?tag=1")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Refresh") != "0; url=/repositories/web/app?tag=1" || !strings.Contains(body, "Signed in") {
		t.Fatalf("callback: %d, Refresh %q, body %q", resp.StatusCode, resp.Header.Get("Refresh"), body)
	}
	if u := b.user(base); u != "alice" {
		t.Fatalf("signed in as %q, want alice (from preferred_username Alice)", u)
	}
	if got := memberships(t, f.st, "alice"); len(got) != 2 || got["web"] != store.RoleDeveloper || got["ops"] != store.RoleMaintainer {
		t.Fatalf("alice's teams after sign-in: %v, want web developer, ops maintainer (from ops-admins)", got)
	}
	if _, ok, _ := f.st.Team(ctx, "no-such-team"); ok {
		t.Fatal("a group made a team")
	}
	// The session is a principal like a password sign-in's: the account API answers.
	var teams struct{ Teams []api.Team }
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/teams", nil)
	if resp, body := b.do(req); resp.StatusCode != 200 || json.Unmarshal([]byte(body), &teams) != nil || len(teams.Teams) != 2 {
		t.Fatalf("alice's /api/v1/teams: %d %s", resp.StatusCode, body)
	}
	// The session's credential is a token that signing out revokes.
	req, _ = http.NewRequest(http.MethodDelete, base+"/api/v1/session", nil)
	if resp, _ := b.do(req); resp.StatusCode != 200 || b.user(base) != "" {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	rows, err := f.st.Tokens(ctx, "alice", auth.TokenSession)
	if err != nil || len(rows) != 1 || rows[0].Revoked.IsZero() {
		t.Fatalf("session tokens after sign-out: %+v %v", rows, err)
	}

	// preferred_username olga names a local user: the provider's olga becomes olga-2, and
	// local olga keeps her account and her team.
	b2 := newBrowser(t)
	oidcSignIn(t, b2, base, p, "impostor", "impostor at the provider", "/")
	if u := b2.user(base); u != "olga-2" {
		t.Fatalf("the provider's olga signed in as %q, want olga-2", u)
	}
	if got := memberships(t, f.st, "olga"); got["web"] != store.RoleOwner {
		t.Fatalf("local olga's teams changed: %v", got)
	}
	// No preferred_username: the email's local part, made a valid name.
	b3 := newBrowser(t)
	oidcSignIn(t, b3, base, p, "anon", "anon at the provider", "/")
	if u := b3.user(base); u != "jean.dupont-x" {
		t.Fatalf("signed in from the email as %q, want jean.dupont-x", u)
	}

	// Groups change: at the next sign-in alice leaves web; a membership an owner gave her
	// (pub, viewer) is not the provider's to take.
	if err := f.c.Accounts.SetTeamMember(ctx, "root", "pub", "alice", store.RoleViewer); err != nil {
		t.Fatal(err)
	}
	p.SetUser("alice", authtest.User{Subject: "sub-alice", Password: "alice at the provider", PreferredUsername: "alice", Groups: []string{"ops-admins", "pub"}})
	b4 := newBrowser(t)
	// The return path stays on Berth whatever it says.
	resp, _ = oidcSignIn(t, b4, base, p, "alice", "alice at the provider", "//evil.example/x")
	if resp.Header.Get("Refresh") != "0; url=/" {
		t.Fatalf("return //evil.example/x led to %q, want /", resp.Header.Get("Refresh"))
	}
	if got := memberships(t, f.st, "alice"); len(got) != 2 || got["ops"] != store.RoleMaintainer || got["pub"] != store.RoleViewer {
		t.Fatalf("alice's teams after the second sign-in: %v, want ops maintainer and pub viewer (her own)", got)
	}

	// Disabled at Berth: refused, though the provider signs her in.
	off := true
	if err := c.Accounts.UpdateUser(ctx, "root", "alice", auth.UserChange{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
	b5 := newBrowser(t)
	if resp, _ := oidcSignIn(t, b5, base, p, "alice", "alice at the provider", "/"); resp.StatusCode != http.StatusForbidden || b5.user(base) != "" {
		t.Fatalf("disabled alice: %d, signed in as %q", resp.StatusCode, b5.user(base))
	}

	// A callback whose state no sign-in started.
	if resp, _ := b5.get(base + "/auth/oidc/callback?code=x&state=" + strings.Repeat("A", 43)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("forged callback: %d, want 400", resp.StatusCode)
	}

	entries, err := f.st.Audit(ctx, store.AuditFilter{Action: auth.AuditSignIn})
	if err != nil {
		t.Fatal(err)
	}
	var ok, refused []string
	for _, e := range entries {
		if e.OK {
			ok = append(ok, e.Actor+" "+e.Detail)
		} else {
			refused = append(refused, e.Actor+" "+e.Detail)
		}
	}
	if strings.Join(ok, ",") != "alice oidc: signed in,jean.dupont-x oidc: signed in,olga-2 oidc: signed in,alice oidc: signed in" ||
		strings.Join(refused, ",") != " oidc: state mismatch or expired,alice oidc: account disabled" {
		t.Fatalf("sign-in audit (newest first):\nok %q\nrefused %q", ok, refused)
	}
	created, _ := f.st.Audit(ctx, store.AuditFilter{Action: auth.AuditUserCreate, Actor: "oidc"})
	if len(created) != 3 {
		t.Fatalf("users made by sign-ins: %+v", created)
	}
}

// TestSafeReturn: only paths on Berth itself.
func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/repositories/a/b?x=1": "/repositories/a/b?x=1",
		"":                      "/",
		"//evil.example":        "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"repositories":          "/",
		"/a\r\nSet-Cookie: x":   "/",
		"/auth/authorize?client_id=berth-static&redirect_uri=https%3A%2F%2Fui.example": "/auth/authorize?client_id=berth-static&redirect_uri=https%3A%2F%2Fui.example",
	} {
		if got := auth.SafeReturn(in); got != want {
			t.Errorf("SafeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}
