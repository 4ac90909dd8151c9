package auth_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/auth/ldaptest"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

const (
	people       = "ou=people," + ldaptest.Base
	groups       = "ou=groups," + ldaptest.Base
	reader       = "cn=reader," + ldaptest.Base
	readerPW     = "reader secret"
	directoryPW  = "directory password"
	personFilter = "(&(objectClass=person)(uid=%s))"
)

// directoryEntries: a service account, people (cat locked the 389 way, dan able to be
// disabled the Active Directory way, dev also a local Berth user) and groups (web-devs is
// mapped to web as maintainer; pub is a Berth team by name; nobody-here is no team).
var directoryEntries = func() string {
	var b strings.Builder
	b.WriteString("dn: " + people + "\nobjectClass: organizationalUnit\nou: people\n\n")
	b.WriteString("dn: " + groups + "\nobjectClass: organizationalUnit\nou: groups\n\n")
	b.WriteString("dn: " + reader + "\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: " + readerPW + "\n\n")
	for _, u := range []struct{ uid, extra string }{
		{"ldapann", ""}, {"ldapbob", ""}, {"ldapcat", "nsAccountLock: true\n"}, {"ldapdan", "userAccountControl: 512\n"},
		{"ldapeve", ""}, {"ldapfay", ""}, {"dev", ""},
	} {
		b.WriteString("dn: uid=" + u.uid + "," + people + "\nobjectClass: inetOrgPerson\nobjectClass: berthTestAccount\n")
		b.WriteString("uid: " + u.uid + "\ncn: " + u.uid + "\nsn: Test\nuserPassword: " + directoryPW + "\n" + u.extra + "\n")
	}
	for _, g := range []struct{ cn, members string }{
		{"web-devs", "ldapbob ldapeve"}, {"pub", "ldapbob"}, {"nobody-here", "ldapbob ldapann"},
	} {
		b.WriteString("dn: cn=" + g.cn + "," + groups + "\nobjectClass: groupOfNames\ncn: " + g.cn + "\n")
		for _, m := range strings.Fields(g.members) {
			b.WriteString("member: uid=" + m + "," + people + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}()

// ldapOptions reach dir as the reader, with OpenLDAP's person and group classes.
func ldapOptions(dir *ldaptest.Server) auth.LDAPOptions {
	return auth.LDAPOptions{
		URL: dir.URL, BindDN: reader, BindPassword: readerPW,
		UserBase: people, UserFilter: personFilter, GroupBase: groups, GroupFilter: "(member=%s)",
		TeamMap: map[string]auth.TeamRole{"web-devs": {Team: "web", Role: store.RoleMaintainer}},
		Timeout: 30 * time.Second,
	}
}

// ldapControl is access control over f's store signing in with the directory as o says.
func ldapControl(t *testing.T, f *fixture, o auth.LDAPOptions) *auth.Control {
	t.Helper()
	c, err := auth.New(t.Context(), auth.Options{Store: f.st, Secret: f.secret, Issuer: issuer, Service: service, TTL: 5 * time.Minute, LDAP: &o})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Connect(registry.Options{URL: registrytest.Open(t), Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return c
}

// ldapSite serves c as serve.go wires it: the sign-in form's session, /api/v1 with Basic
// credentials, and the token service.
func ldapSite(t *testing.T, c *auth.Control) *httptest.Server {
	t.Helper()
	svc := site.Services{Access: c, Authenticator: c.Accounts}
	svc.Sessions = session.New(time.Hour, c.Accounts.CheckSignIn, func(string) {}, nil,
		session.WithBearer(c.Accounts.BearerUser), session.WithSignOut(c.Accounts.EndSession))
	mux := http.NewServeMux()
	site.API(mux, svc, site.CORS(nil))
	site.Tokens(mux, c.Tokens, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// signIn posts the sign-in form's JSON and returns the status, the error code if any, and
// the browser (with the session cookie).
func signIn(t *testing.T, base, user, password string) (int, api.Code, *browser) {
	t.Helper()
	b := newBrowser(t)
	body, _ := json.Marshal(api.SignIn{Username: user, Password: password})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/session", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, text := b.do(req)
	var e api.ErrorBody
	_ = json.Unmarshal([]byte(text), &e)
	return resp.StatusCode, e.Error.Code, b
}

// dockerLogin asks the token service as docker login does: GET with Basic credentials and
// an offline token.
func dockerLogin(t *testing.T, base, user, secret string, scopes ...string) (int, tokenResponse) {
	t.Helper()
	q := url.Values{"service": {service}, "scope": scopes, "offline_token": {"true"}, "client_id": {"docker"}}
	req, _ := http.NewRequest(http.MethodGet, base+"/auth/token?"+q.Encode(), nil)
	req.SetBasicAuth(user, secret)
	status, tr, _ := do(t, req)
	return status, tr
}

// TestLDAP signs in against a real OpenLDAP (slapd): the sign-in form, Basic on /api/v1 and
// docker login's token request, all through the one authenticator; groups become team
// memberships; users are disabled when the directory locks, disables or drops them (at
// sign-in and at the periodic check); wrong passwords are throttled; a directory that is
// down or hangs answers 503 for its users while local accounts and tokens keep working;
// no password reaches the log.
func TestLDAP(t *testing.T) {
	dir := ldaptest.Start(t, directoryEntries)
	var logs syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	f := newFixture(t)
	c := ldapControl(t, f, ldapOptions(dir))
	srv := ldapSite(t, c)
	ctx := t.Context()
	var evePAT string // made by "personal access tokens", tried once eve is gone

	t.Run("sign-in form, then Basic on the API", func(t *testing.T) {
		status, code, b := signIn(t, srv.URL, "ldapann", directoryPW)
		if status != 200 || b.user(srv.URL) != "ldapann" {
			t.Fatalf("sign-in: %d %s, session of %q", status, code, b.user(srv.URL))
		}
		u, ok, err := f.st.User(ctx, "ldapann")
		if err != nil || !ok || u.PasswordHash != "" || u.Admin || u.Disabled {
			t.Fatalf("the directory's user: %+v %v %v", u, ok, err)
		}
		if _, ok, _ := f.st.Namespace(ctx, "ldapann"); !ok {
			t.Error("no personal namespace for the new user")
		}
		var s api.Session
		if code := call(t, srv, "GET", "/api/v1/session", "ldapann", directoryPW, nil, &s); code != 200 || s.User != "ldapann" {
			t.Fatalf("Basic on the API: %d %+v", code, s)
		}
		if code := call(t, srv, "GET", "/api/v1/session", "ldapann", "not it", nil, &s); code != 200 || s.User != "" {
			t.Fatalf("Basic with a wrong password: %d %+v", code, s)
		}
		entries, _ := f.st.Audit(ctx, store.AuditFilter{Actor: "ldap", Action: auth.AuditUserCreate})
		if len(entries) != 1 || entries[0].Target != "ldapann" {
			t.Fatalf("audit of the first sign-in: %+v", entries)
		}
	})

	t.Run("groups become teams", func(t *testing.T) {
		if status, tr := dockerLogin(t, srv.URL, "ldapbob", directoryPW, "repository:web/app:pull,push"); status != 200 || tr.Scope != "repository:web/app:pull,push" || tr.RefreshToken == "" {
			t.Fatalf("docker login of a web-devs member: %d scope %q refresh %v", status, tr.Scope, tr.RefreshToken != "")
		}
		ms, err := f.st.Memberships(ctx, "ldapbob")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, m := range ms {
			got[m.Group] = m.Role
		}
		if len(got) != 2 || got["web"] != store.RoleMaintainer || got["pub"] != store.RoleDeveloper {
			t.Fatalf("memberships %v, want web maintainer (mapped) and pub developer (by name)", got)
		}
		// Without a group, only what anyone signed in has.
		if status, tr := dockerLogin(t, srv.URL, "ldapann", directoryPW, "repository:web/app:pull,push"); status != 200 || tr.Scope != "" {
			t.Fatalf("docker login outside the groups: %d scope %q", status, tr.Scope)
		}
	})

	t.Run("personal access tokens of a directory user", func(t *testing.T) {
		var created api.TokenCreated
		if code := call(t, srv, "POST", "/api/v1/tokens", "ldapeve", directoryPW, api.TokenRequest{Name: "ci"}, &created); code != 201 || created.Token == "" {
			t.Fatalf("create a token with Basic directory credentials: %d", code)
		}
		if status, tr := dockerLogin(t, srv.URL, "ldapeve", created.Token, "repository:web/app:push"); status != 200 || tr.Scope != "repository:web/app:push" {
			t.Fatalf("docker login with the token: %d %q", status, tr.Scope)
		}
		var e api.ErrorBody
		if code := call(t, srv, "PATCH", "/api/v1/users/ldapeve", "ldapeve", directoryPW, api.UserRequest{Password: ptr("a local one"), CurrentPassword: ptr(directoryPW)}, &e); code != http.StatusConflict {
			t.Fatalf("a local password for a directory user: %d %+v, want 409", code, e)
		}
		evePAT = created.Token
	})

	t.Run("local accounts are not the directory's", func(t *testing.T) {
		// dev is a local user and also in the directory: only the local password counts,
		// and the directory never takes the account over.
		if status, _ := dockerLogin(t, srv.URL, "dev", directoryPW); status != http.StatusUnauthorized {
			t.Fatalf("dev with the directory's password: %d, want 401", status)
		}
		if status, _ := dockerLogin(t, srv.URL, "dev", pw); status != 200 {
			t.Fatalf("dev with the local password: %d", status)
		}
	})

	t.Run("the directory disables", func(t *testing.T) {
		if status, _, _ := signIn(t, srv.URL, "ldapcat", directoryPW); status != http.StatusUnauthorized {
			t.Fatalf("locked (nsAccountLock): %d, want 401", status)
		}
		if _, ok, _ := f.st.User(ctx, "ldapcat"); ok {
			t.Fatal("a locked entry made a user")
		}
		if status, _, _ := signIn(t, srv.URL, "ldapdan", directoryPW); status != 200 {
			t.Fatalf("dan before: %d", status)
		}
		// A bind verified lately is trusted for a minute, as a local password's hash is: the
		// next sign-in that asks the directory is another replica's (another Control over
		// the same store), or this one's a minute later.
		dan := "uid=ldapdan," + people
		dir.Modify(t, dan, "userAccountControl", "514") // ACCOUNTDISABLE
		next := ldapSite(t, ldapControl(t, f, ldapOptions(dir)))
		if status, _, _ := signIn(t, next.URL, "ldapdan", directoryPW); status != http.StatusUnauthorized {
			t.Fatalf("disabled the Active Directory way: %d, want 401", status)
		}
		if u, _, _ := f.st.User(ctx, "ldapdan"); !u.Disabled {
			t.Fatal("dan is still enabled in Berth")
		}
		// Disabled in Berth, refused at once everywhere, the verified bind notwithstanding.
		if status, _, _ := signIn(t, srv.URL, "ldapdan", directoryPW); status != http.StatusUnauthorized {
			t.Fatalf("disabled dan on the first replica: %d, want 401", status)
		}
		dir.Modify(t, dan, "userAccountControl", "512")
		if status, _, _ := signIn(t, ldapSite(t, ldapControl(t, f, ldapOptions(dir))).URL, "ldapdan", directoryPW); status != 200 {
			t.Fatalf("enabled again in the directory: %d", status)
		}
		for _, action := range []string{auth.AuditUserDisable, auth.AuditUserEnable} {
			if entries, _ := f.st.Audit(ctx, store.AuditFilter{Actor: "ldap", Action: action}); len(entries) != 1 || entries[0].Target != "ldapdan" {
				t.Errorf("audit %s by the directory: %+v", action, entries)
			}
		}
		// An administrator's disabling is not the directory's to lift.
		yes := true
		if err := c.Accounts.UpdateUser(ctx, "root", "ldapdan", auth.UserChange{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		if status, _, _ := signIn(t, ldapSite(t, ldapControl(t, f, ldapOptions(dir))).URL, "ldapdan", directoryPW); status != http.StatusUnauthorized {
			t.Fatalf("disabled by an administrator: %d, want 401", status)
		}
	})

	t.Run("periodic check", func(t *testing.T) {
		dir.Delete(t, "uid=ldapeve,"+people)
		dir.Modify(t, "cn=web-devs,"+groups, "member", "uid=ldapeve,"+people) // bob leaves web-devs
		if err := c.LDAP.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if u, _, _ := f.st.User(ctx, "ldapeve"); !u.Disabled {
			t.Fatal("eve, gone from the directory, is still enabled")
		}
		if status, _ := dockerLogin(t, srv.URL, "ldapeve", evePAT); status != http.StatusUnauthorized {
			t.Fatalf("the gone user's token: %d, want 401", status)
		}
		ms, _ := f.st.Memberships(ctx, "ldapbob")
		if len(ms) != 1 || ms[0].Group != "pub" {
			t.Fatalf("bob's memberships after leaving web-devs: %+v", ms)
		}
	})

	t.Run("wrong passwords are throttled", func(t *testing.T) {
		// The name's case changes nothing: the directory sees one user, the throttle one budget.
		for i, name := range []string{"ldapbob", "LdapBob", "LDAPBOB", "ldapBob", "ldapbob", "Ldapbob", "ldapbob", "LDAPbob", "ldapbob", "ldapbob"} {
			if status, _ := dockerLogin(t, srv.URL, name, "guess"); status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d as %s: %d, want 401", i+1, name, status)
			}
		}
		for _, name := range []string{"ldapbob", "LDAPBOB"} {
			if status, code, _ := signIn(t, srv.URL, name, directoryPW); status != http.StatusTooManyRequests || code != api.CodeTooManyRequests {
				t.Fatalf("the right password as %s after 10 wrong ones: %d %s, want 429", name, status, code)
			}
		}
	})

	t.Run("TLS", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			url      string
			startTLS bool
			ca       bool
			ok       bool
		}{
			{"ldaps", dir.TLSURL, false, true, true},
			{"StartTLS", dir.URL, true, true, true},
			{"ldaps, CA not trusted", dir.TLSURL, false, false, false},
		} {
			o := ldapOptions(dir)
			o.URL, o.StartTLS = tc.url, tc.startTLS
			if tc.ca {
				o.RootCAs = caPool(t, dir.CAFile)
			}
			_, err := ldapControl(t, f, o).Accounts.Authenticate(ctx, "ldapbob", directoryPW)
			if tc.ok && err != nil || !tc.ok && !httperr.Is(err, api.CodeDirectoryUnavailable) {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	})

	t.Run("directory hangs, then is down", func(t *testing.T) {
		// A hung directory: it takes connections and never answers.
		hung, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = hung.Close() })
		go func() {
			var held []net.Conn
			for {
				c, err := hung.Accept()
				if err != nil {
					for _, c := range held {
						_ = c.Close()
					}
					return
				}
				held = append(held, c)
			}
		}()
		o := ldapOptions(dir)
		o.URL, o.Timeout = "ldap://"+hung.Addr().String(), 500*time.Millisecond
		quick := ldapControl(t, f, o)
		_, err = quick.Accounts.Authenticate(ctx, "ldapfay", directoryPW)
		if !httperr.Is(err, api.CodeDirectoryUnavailable) {
			t.Fatalf("a hung directory: %v, want DIRECTORY_UNAVAILABLE", err)
		}
		dir.Kill(t)
		if status, code, _ := signIn(t, srv.URL, "ldapfay", directoryPW); status != http.StatusServiceUnavailable || code != api.CodeDirectoryUnavailable {
			t.Fatalf("sign-in form, directory down: %d %s", status, code)
		}
		if status, _ := dockerLogin(t, srv.URL, "ldapfay", directoryPW); status != http.StatusServiceUnavailable {
			t.Fatalf("docker login, directory down: %d", status)
		}
		var e api.ErrorBody
		if code := call(t, srv, "GET", "/api/v1/session", "ldapfay", directoryPW, nil, &e); code != http.StatusServiceUnavailable || e.Error.Code != api.CodeDirectoryUnavailable {
			t.Fatalf("Basic on the API, directory down: %d %+v", code, e)
		}
		// Three conversations in a row failed: the breaker answers the next ones at once.
		if !strings.Contains(logs.String(), `msg="LDAP directory circuit breaker" from=closed to=open`) {
			t.Error("the breaker did not open after three failures")
		}
		if status, _, _ := signIn(t, srv.URL, "dev", pw); status != 200 {
			t.Fatalf("a local user, directory down: %d", status)
		}
		if status, _ := dockerLogin(t, srv.URL, "ldapbob", directoryPW); status != http.StatusTooManyRequests {
			t.Fatalf("the throttle comes before the directory: %d, want 429", status)
		}
		if err := c.LDAP.Check(ctx); !httperr.Is(err, api.CodeDirectoryUnavailable) {
			t.Fatalf("the check with the directory down: %v", err)
		}
		if u, _, _ := f.st.User(ctx, "ldapbob"); u.Disabled {
			t.Fatal("a check that could not reach the directory disabled a user")
		}
	})

	for _, secret := range []string{directoryPW, readerPW, evePAT} {
		if secret != "" && strings.Contains(logs.String(), secret) {
			t.Errorf("a secret reached the log")
		}
	}
}

// caPool reads a PEM file of CA certificates.
func caPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s: no certificate", file)
	}
	return pool
}

func ptr[T any](v T) *T { return &v }

// syncBuffer is a bytes.Buffer safe for the log handler's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
