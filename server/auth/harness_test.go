package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/embedded"
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
	c.Tokens.Register(mux)
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
	f.c.Tokens.Register(mux)
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
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("BERTH_E2E") == "1" {
			t.Fatal("docker-registry not installed (Debian's docker-registry package); BERTH_E2E=1 requires it")
		}
		t.Skip("docker-registry not installed (Debian's docker-registry package)")
	}
	addr := freeAddr(t)
	dir := t.TempDir()
	var secret [16]byte
	_, _ = rand.Read(secret[:])
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
auth:
  token:
    realm: %s
    service: %s
    issuer: %s
    rootcertbundle: %s
`, filepath.Join(dir, "data"), addr, hex.EncodeToString(secret[:]), f.realm, service, issuer, f.bundle)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", out.String())
		}
	})
	// Ready when /v2/ asks for a token.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return addr
			}
		}
		select {
		case <-exited:
			t.Fatalf("docker-registry exited:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s:\n%s", addr, out.String())
		}
	}
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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
