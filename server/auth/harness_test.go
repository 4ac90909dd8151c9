package auth_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

const (
	service = "berth-test-registry"
	issuer  = "berth-test"
	pw      = "correct horse battery"
)

// fixture is access control over a real SQLite store, with a cast of accounts:
//
//	root  administrator
//	olga  owner of team web       dev   developer of web
//	max   maintainer of web       vic   viewer of web
//	eve   nothing but her own namespace
//	team pub (public namespace pub/), robot$web+ci (developer), a personal token of dev.
type fixture struct {
	c       *auth.Control
	st      store.Accounts
	secret  []byte // the cluster secret
	robot   string // the robot's secret
	pat     string // dev's personal access token
	patID   string
	tokens  *httptest.Server // the token service alone, on 127.0.0.1
	realm   string           // its /auth/token as http://localhost:port (not an IP literal)
	bundle  string           // the certificate bundle file
	closing []func()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, "sqlite:"+filepath.Join(t.TempDir(), "berth.db"))
}

// newFixtureOn is newFixture over the store at dsn (a PostgreSQL database, say).
func newFixtureOn(t *testing.T, dsn string) *fixture {
	t.Helper()
	ctx := t.Context()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	st, err := store.AccountsOf(s)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := auth.LoadSecret(filepath.Join(t.TempDir(), "secret.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := auth.New(ctx, auth.Options{Store: st, Secret: secret, Issuer: issuer, Service: service, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// An empty registry until a test starts its own (Connect again): whether a name holds
	// repositories is asked of it.
	if _, err := c.Connect(registry.Options{URL: registrytest.Open(t), Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{c: c, st: st, secret: secret}
	acc := c.Accounts
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(acc.CreateUser(ctx, "test", "root", pw, true))
	for _, u := range []string{"olga", "dev", "max", "vic", "eve"} {
		must(acc.CreateUser(ctx, "test", u, pw, false))
	}
	must(acc.CreateTeam(ctx, "test", "web", "the web team", "olga", true))
	must(acc.SetTeamMember(ctx, "test", "web", "dev", store.RoleDeveloper))
	must(acc.SetTeamMember(ctx, "test", "web", "max", store.RoleMaintainer))
	must(acc.SetTeamMember(ctx, "test", "web", "vic", store.RoleViewer))
	must(acc.CreateTeam(ctx, "test", "pub", "", "root", true))
	public := true
	must(acc.UpdateNamespace(ctx, "test", "pub", &public, nil))
	_, f.robot, err = acc.CreateRobot(ctx, "olga", "web", "ci", store.RoleDeveloper, "CI pushes", 0)
	must(err)
	f.patID, f.pat, err = acc.CreatePAT(ctx, "dev", "dev", "laptop", 24*time.Hour, false)
	must(err)

	mux := http.NewServeMux()
	site.Tokens(mux, c.Tokens, nil)
	f.tokens = httptest.NewServer(mux)
	t.Cleanup(f.tokens.Close)
	_, port, _ := net.SplitHostPort(f.tokens.Listener.Addr().String())
	f.realm = "http://localhost:" + port + "/auth/token"
	bundle, err := c.Keys.Bundle(ctx)
	must(err)
	f.bundle = filepath.Join(t.TempDir(), "bundle.pem")
	must(os.WriteFile(f.bundle, bundle, 0o600))
	return f
}

// embeddedRegistry starts CNCF distribution v3 (the embedded registry) with token auth
// trusting only Berth's bundle; its listener serves Berth's /auth/token too, as in Berth.
// It returns the registry's host:port.
func (f *fixture) embeddedRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	host := srv.Listener.Addr().String()
	reg, err := embedded.New(context.Background(), t.TempDir(), embedded.WithTokenAuth("http://"+host+"/auth/token", service, issuer, f.bundle))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	site.Tokens(mux, f.c.Tokens, nil)
	mux.Handle("/", reg.Handler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	return host
}

// dockerRegistry starts Debian's docker-registry (distribution 2.8) as its own process with
// token auth trusting only Berth's bundle, sending clients to Berth's token service. It
// returns the registry's host:port, once it answers.
func (f *fixture) dockerRegistry(t *testing.T) string {
	t.Helper()
	return registrytest.Distribution28(t, registrytest.Config28{
		Token: &registrytest.TokenConfig{Realm: f.realm, Service: service, Issuer: issuer, Bundle: f.bundle},
	}).Host
}

// tokenResponse is what /auth/token answers.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// getToken asks the token service with GET; user "" is anonymous.
func (f *fixture) getToken(t *testing.T, user, secret string, extra url.Values, scopes ...string) (int, tokenResponse, http.Header) {
	t.Helper()
	q := url.Values{"service": {service}, "scope": scopes}
	for k, v := range extra {
		q[k] = v
	}
	req, _ := http.NewRequest(http.MethodGet, f.tokens.URL+"/auth/token?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, secret)
	}
	return do(t, req)
}

// postToken asks with an OAuth2 form.
func (f *fixture) postToken(t *testing.T, form url.Values) (int, tokenResponse, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.tokens.URL+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, tokenResponse, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr, resp.Header
}
