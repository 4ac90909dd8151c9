package auth_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/store"
)

// TestGrants is the policy as the token endpoint applies it: each role × pull, push,
// delete and catalog, anonymous on public and private namespaces, revoked, expired and
// disabled credentials, several scopes at once and scopes only partly held. Each token is
// verified with distribution's own verifier against the published bundle.
func TestGrants(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	_, expiredPAT, err := f.c.Accounts.CreatePAT(ctx, "dev", "dev", "short", time.Nanosecond, false)
	if err != nil {
		t.Fatal(err)
	}
	_, revokedPAT, err := f.c.Accounts.CreatePAT(ctx, "vic", "vic", "old", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := f.st.Tokens(ctx, "vic", store.TokenPersonal)
	if err := f.c.Accounts.RevokePAT(ctx, "vic", "vic", toks[0].ID); err != nil {
		t.Fatal(err)
	}
	_, readOnlyPAT, err := f.c.Accounts.CreatePAT(ctx, "max", "max", "ci read", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.Accounts.CreateUser(ctx, "root", "gone", pw, false); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Accounts.CreateTeam(ctx, "root", "gone-team", "", "gone", true); err != nil {
		t.Fatal(err)
	}
	off := true
	if err := f.c.Accounts.UpdateUser(ctx, "root", "gone", auth.UserChange{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
	_, expiredRobot, err := f.c.Accounts.CreateRobot(ctx, "olga", "web", "old", store.RoleViewer, "", time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	verify := verifier(t, f)

	const app, all = "repository:web/app:", "pull,push,delete"
	cases := []struct {
		name, user, secret string
		scopes             []string
		status             int
		granted            string // space-separated scopes, in asked order
	}{
		{"owner all", "olga", pw, []string{app + all}, 200, app + all},
		{"maintainer all", "max", pw, []string{app + all}, 200, app + all},
		{"developer partly: no delete", "dev", pw, []string{app + all}, 200, app + "pull,push"},
		{"viewer partly: pull only", "vic", pw, []string{app + all}, 200, app + "pull"},
		{"stranger nothing", "eve", pw, []string{app + all}, 200, ""},
		{"admin all anywhere", "root", pw, []string{app + all}, 200, app + all},
		{"owner catalog", "olga", pw, []string{"registry:catalog:*"}, 200, ""},
		{"maintainer catalog", "max", pw, []string{"registry:catalog:*"}, 200, ""},
		{"developer catalog", "dev", pw, []string{"registry:catalog:*"}, 200, ""},
		{"viewer catalog", "vic", pw, []string{"registry:catalog:*"}, 200, ""},
		{"admin catalog", "root", pw, []string{"registry:catalog:*"}, 200, "registry:catalog:*"},
		{"anonymous catalog", "", "", []string{"registry:catalog:*"}, 200, ""},
		{"anonymous public pull", "", "", []string{"repository:pub/base:pull,push"}, 200, "repository:pub/base:pull"},
		{"anonymous private pull", "", "", []string{app + "pull"}, 200, ""},
		{"stranger public pull", "eve", pw, []string{"repository:pub/base:pull,push,delete"}, 200, "repository:pub/base:pull"},
		{"own namespace", "eve", pw, []string{"repository:eve/tools/x:" + all}, 200, "repository:eve/tools/x:" + all},
		{"outside any namespace, default none", "dev", pw, []string{"repository:nowhere/x:pull"}, 200, ""},
		{"global namespace is the admins'", "dev", pw, []string{"repository:alpine:pull,push"}, 200, ""},
		{"admin global namespace", "root", pw, []string{"repository:alpine:pull,push"}, 200, "repository:alpine:pull,push"},
		{"several scopes, one param", "dev", pw, []string{app + "pull repository:pub/base:pull,push"}, 200, app + "pull repository:pub/base:pull"},
		{"several scope params", "vic", pw, []string{app + "push,pull", "repository:eve/x:pull", "registry:catalog:*"}, 200, app + "pull"},
		{"robot in its namespace", "robot$web+ci", f.robot, []string{app + all}, 200, app + "pull,push"},
		{"robot elsewhere", "robot$web+ci", f.robot, []string{"repository:eve/x:pull"}, 200, ""},
		{"robot secret, wrong name", "robot$pub+ci", f.robot, []string{app + "pull"}, 401, ""},
		{"expired robot", "robot$web+old", expiredRobot, []string{app + "pull"}, 401, ""},
		{"personal token", "dev", f.pat, []string{app + all}, 200, app + "pull,push"},
		{"personal token of another user", "vic", f.pat, []string{app + "pull"}, 401, ""},
		{"read-only personal token", "max", readOnlyPAT, []string{app + all}, 200, app + "pull"},
		{"expired personal token", "dev", expiredPAT, []string{app + "pull"}, 401, ""},
		{"revoked personal token", "vic", revokedPAT, []string{app + "pull"}, 401, ""},
		{"disabled user", "gone", pw, []string{"repository:gone-team/x:pull"}, 401, ""},
		{"wrong password", "dev", "not the password", []string{app + "pull"}, 401, ""},
		{"unknown user", "nobody", pw, []string{app + "pull"}, 401, ""},
		{"malformed scope skipped", "dev", pw, []string{"nonsense", app + "pull"}, 200, app + "pull"},
		{"invalid repository name skipped", "root", pw, []string{"repository:Web/App:pull"}, 200, ""},
		{"no scope: a token for /v2/", "dev", pw, nil, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, tr, _ := f.getToken(t, tc.user, tc.secret, nil, tc.scopes...)
			if code != tc.status {
				t.Fatalf("status %d, want %d", code, tc.status)
			}
			if code != http.StatusOK {
				return
			}
			if tr.Token == "" || tr.Token != tr.AccessToken || tr.ExpiresIn != 300 {
				t.Fatalf("answer %+v", tr)
			}
			claims := verify(tr.Token)
			var got []string
			for _, a := range claims.Access {
				got = append(got, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
			}
			if strings.Join(got, " ") != tc.granted || tr.Scope != tc.granted {
				t.Errorf("granted %q (scope %q), want %q", strings.Join(got, " "), tr.Scope, tc.granted)
			}
			if tc.user != "" && claims.Subject != tc.user {
				t.Errorf("sub %q, want %q", claims.Subject, tc.user)
			}
		})
	}
	if n := len(cases); n < 25 {
		t.Fatalf("only %d cases", n)
	}
}

// verifier checks a token as distribution v3 does, trusting only the published bundle.
func verifier(t *testing.T, f *fixture) func(raw string) *token.ClaimSet {
	b, err := os.ReadFile(f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		roots.AddCert(c)
	}
	return func(raw string) *token.ClaimSet {
		t.Helper()
		tok, err := token.NewToken(raw, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := tok.Verify(token.VerifyOptions{TrustedIssuers: []string{issuer}, AcceptedAudiences: []string{service}, Roots: roots})
		if err != nil {
			t.Fatalf("distribution rejects the token: %v", err)
		}
		return claims
	}
}

// TestOAuthAndThrottle covers the POST grants docker login uses and the brute-force guard.
func TestOAuthAndThrottle(t *testing.T) {
	f := newFixture(t)
	code, tr, _ := f.postToken(t, url.Values{"grant_type": {"password"}, "username": {"dev"}, "password": {pw},
		"access_type": {"offline"}, "client_id": {"docker"}, "service": {service}, "scope": {"repository:web/app:pull,push,delete"}})
	if code != 200 || tr.RefreshToken == "" || tr.Scope != "repository:web/app:pull,push" {
		t.Fatalf("password grant: %d %+v", code, tr)
	}
	code, tr2, _ := f.postToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "scope": {"repository:web/app:pull"}})
	if code != 200 || tr2.RefreshToken != tr.RefreshToken || tr2.Scope != "repository:web/app:pull" {
		t.Fatalf("refresh grant: %d %+v", code, tr2)
	}
	if code, _, _ := f.postToken(t, url.Values{"grant_type": {"client_credentials"}}); code != 400 {
		t.Errorf("unknown grant: %d, want 400", code)
	}
	if code, _, _ := f.getToken(t, "dev", pw, url.Values{"service": {"another"}}, "repository:web/app:pull"); code != 400 {
		t.Errorf("another service: %d, want 400", code)
	}
	// Ten wrong passwords for dev from this client; the eleventh try — even the right
	// password — waits, with Retry-After.
	for i := range 10 {
		if code, _, _ := f.getToken(t, "dev", "wrong", nil); code != 401 {
			t.Fatalf("attempt %d: %d, want 401", i, code)
		}
	}
	code, _, h := f.getToken(t, "dev", pw, nil)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d Retry-After %q, want 429 with Retry-After", code, h.Get("Retry-After"))
	}
	// Another user from the same client is not locked out by dev's failures.
	if code, _, _ := f.getToken(t, "vic", pw, nil); code != 200 {
		t.Errorf("vic after dev's failures: %d", code)
	}
	entries, err := f.st.Audit(t.Context(), store.AuditFilter{Actor: "dev", Action: auth.AuditToken})
	if err != nil {
		t.Fatal(err)
	}
	var failed, throttled int
	for _, e := range entries {
		if e.Detail == "bad credentials" {
			failed++
		}
		if e.Detail == "throttled" {
			throttled++
		}
	}
	if failed != 10 || throttled != 1 {
		t.Errorf("audit: %d failures, %d throttled; want 10 and 1", failed, throttled)
	}
}
