package auth_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/store"
)

// oauthAnswer is the static site's token endpoint's answer, or its error.
type oauthAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// staticSite is the other origin a static site runs on: its redirect_uri page only shows.
func staticSite(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("the static site"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fromOrigin makes a request as a page of origin would (fetch with Origin), with bearer
// if set, and returns the status, the CORS header and the body.
func fromOrigin(t *testing.T, method, u, origin, bearer string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, u, body)
	req.Header.Set("Origin", origin)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, buf.Bytes()
}

// TestStaticSiteSignIn drives the static site's sign-in: authorization code with PKCE
// against Berth, from a second origin; the access token reads as its user and no more,
// refresh tokens rotate (and a replayed one ends the sign-in), codes are single-use and
// bound to their verifier and redirect_uri, only allowed origins get codes, and a disabled
// user's refresh fails.
func TestStaticSiteSignIn(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	ctx := t.Context()
	for _, r := range []string{"web/app:1", "pub/base:1", "eve/tool:1"} {
		if err := push(ctx, t, host, r, basic("root", pw)); err != nil {
			t.Fatal(err)
		}
	}
	origin := staticSite(t)
	base, _ := browserSite(t, f, host, []string{origin}, nil)
	redirect := origin + "/callback"

	authorizeURL := func(redirectURI, challenge, state string) string {
		return base + "/auth/authorize?" + url.Values{"client_id": {auth.StaticClient}, "redirect_uri": {redirectURI}, "response_type": {"code"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {state}}.Encode()
	}
	// Without a session: off to sign in, coming back to the same request.
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	b := newBrowser(t)
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := b.get(authorizeURL(redirect, challenge, "s1"))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/signin?return=") {
		t.Fatalf("authorize without a session: %d to %q", resp.StatusCode, loc)
	} else if ret, _ := url.QueryUnescape(strings.TrimPrefix(loc, "/signin?return=")); auth.SafeReturn(ret) != ret || !strings.HasPrefix(ret, "/auth/authorize?") {
		t.Fatalf("return to %q", ret)
	}

	// Signed in (vic, viewer of web): a code at once, to the static site, with the state.
	signIn := func(b *browser, user string) {
		t.Helper()
		body, _ := json.Marshal(api.SignIn{Username: user, Password: pw})
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/session", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if resp, _ := b.do(req); resp.StatusCode != 200 {
			t.Fatalf("sign-in %s: %d", user, resp.StatusCode)
		}
	}
	code := func(b *browser, redirectURI, challenge string) string {
		t.Helper()
		resp, _ := b.get(authorizeURL(redirectURI, challenge, "s2"))
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(redirectURI, origin+loc.Path) || loc.Query().Get("state") != "s2" || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		return loc.Query().Get("code")
	}
	signIn(b, "vic")
	c1 := code(b, redirect, challenge)

	exchange := func(form url.Values) (int, http.Header, oauthAnswer) {
		t.Helper()
		status, h, body := fromOrigin(t, http.MethodPost, base+"/auth/oauth/token", origin, "", form)
		var a oauthAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("token endpoint answered %d %q", status, body)
		}
		return status, h, a
	}
	redeem := func(code, verifier, redirectURI string) (int, http.Header, oauthAnswer) {
		return exchange(url.Values{"grant_type": {"authorization_code"}, "client_id": {auth.StaticClient}, "code": {code},
			"code_verifier": {verifier}, "redirect_uri": {redirectURI}})
	}
	refresh := func(rt string) (int, oauthAnswer) {
		status, _, a := exchange(url.Values{"grant_type": {"refresh_token"}, "client_id": {auth.StaticClient}, "refresh_token": {rt}})
		return status, a
	}
	status, h, tok := redeem(c1, verifier, redirect)
	if status != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn != 600 || !strings.HasPrefix(tok.AccessToken, auth.AccessPrefix) || !strings.HasPrefix(tok.RefreshToken, auth.OAuthRefreshPrefix) {
		t.Fatalf("code exchange: %d %+v", status, tok)
	}
	if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("token answer headers: %v", h)
	}
	if status, _, a := redeem(c1, verifier, redirect); status != 400 || a.Error != "invalid_grant" {
		t.Fatalf("a code used twice: %d %+v", status, a)
	}

	// The access token is vic: what vic may read, and no more.
	preflight, _ := http.NewRequest(http.MethodOptions, base+"/api/v1/repositories", nil)
	preflight.Header.Set("Origin", origin)
	preflight.Header.Set("Access-Control-Request-Method", "GET")
	preflight.Header.Set("Access-Control-Request-Headers", "authorization")
	presp, err := http.DefaultClient.Do(preflight)
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	if presp.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(strings.ToLower(presp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: %d %v", presp.StatusCode, presp.Header)
	}
	repos := func(bearer string) []string {
		t.Helper()
		status, h, body := fromOrigin(t, http.MethodGet, base+"/api/v1/repositories", origin, bearer, nil)
		var page api.RepositoryPage
		if status != 200 || json.Unmarshal(body, &page) != nil || h.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("repositories with %q: %d %s", bearer, status, body)
		}
		var names []string
		for _, r := range page.Repositories {
			names = append(names, r.Name)
		}
		return names
	}
	if got := repos(tok.AccessToken); !slices.Equal(got, []string{"pub/base", "web/app"}) {
		t.Fatalf("vic's token lists %v, want pub/base and web/app", got)
	}
	// One character inside the signature changed (the last ones may only hold padding bits,
	// which decoding ignores: changing those would leave the token as it was).
	forged := []byte(tok.AccessToken)
	if i := len(forged) - 10; forged[i] == 'A' {
		forged[i] = 'B'
	} else {
		forged[i] = 'A'
	}
	if got := repos(string(forged)); !slices.Equal(got, []string{"pub/base"}) {
		t.Fatalf("a forged token lists %v, want what anyone sees", got)
	}
	status, _, body := fromOrigin(t, http.MethodGet, base+"/api/v1/repositories/web/app/tags?details=false", origin, tok.AccessToken, nil)
	if status != 200 {
		t.Fatalf("vic's token reads web/app's tags: %d %s", status, body)
	}
	if status, _, _ := fromOrigin(t, http.MethodGet, base+"/api/v1/repositories/eve/tool/tags?details=false", origin, tok.AccessToken, nil); status == 200 {
		t.Fatal("vic's token reads eve/tool's tags")
	}
	// For /v2 through Berth, the token buys a registry token for what vic holds.
	req, _ := http.NewRequest(http.MethodGet, f.tokens.URL+"/auth/token?service="+service+"&scope=repository:web/app:pull,push", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if status, reg, _ := do(t, req); status != 200 || reg.Scope != "repository:web/app:pull" {
		t.Fatalf("registry token for vic's access token: %d %+v", status, reg)
	}

	// Refresh: a new pair each time; the used refresh token replayed ends the sign-in.
	status, tok2 := refresh(tok.RefreshToken)
	if status != 200 || tok2.AccessToken == "" || tok2.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %d %+v", status, tok2)
	}
	if got := repos(tok2.AccessToken); !slices.Equal(got, []string{"pub/base", "web/app"}) {
		t.Fatalf("the refreshed token lists %v", got)
	}
	if status, a := refresh(tok.RefreshToken); status != 400 || a.Error != "invalid_grant" {
		t.Fatalf("replayed refresh token: %d %+v", status, a)
	}
	if status, a := refresh(tok2.RefreshToken); status != 400 || a.Error != "invalid_grant" {
		t.Fatalf("the newest refresh token after a replay: %d %+v, want the family revoked", status, a)
	}

	// PKCE: the wrong verifier burns the code.
	c2 := code(b, redirect, challenge)
	if status, _, a := redeem(c2, oauth2.GenerateVerifier(), redirect); status != 400 || a.Error != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %+v", status, a)
	}
	if status, _, _ := redeem(c2, verifier, redirect); status != 400 {
		t.Fatal("a code redeemed after a wrong verifier")
	}
	// The redirect_uri must be the one the code went to.
	c3 := code(b, redirect+"?page=2", challenge)
	if status, _, a := redeem(c3, verifier, redirect); status != 400 || a.Error != "invalid_grant" {
		t.Fatalf("another redirect_uri: %d %+v", status, a)
	}

	// Only allowed origins get codes; nothing is redirected to the others.
	for _, bad := range []string{"http://127.0.0.1:1/callback", "https://evil.example/callback", strings.Replace(origin, "http:", "https:", 1) + "/callback", origin + "/callback#x", "/callback"} {
		resp, _ := b.get(authorizeURL(bad, challenge, "s3"))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("redirect_uri %s: %d to %q, want 400", bad, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// No PKCE: the error goes back to the (allowed) client.
	resp, _ = b.get(strings.Replace(authorizeURL(redirect, challenge, "s4"), "code_challenge_method=S256", "code_challenge_method=plain", 1))
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "s4" {
		t.Fatalf("plain PKCE: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Signing out of the static site (revocation) ends its refresh.
	status, _, tok3 := redeem(code(b, redirect, challenge), verifier, redirect)
	if status != 200 {
		t.Fatalf("third sign-in: %d", status)
	}
	if status, _, _ := fromOrigin(t, http.MethodPost, base+"/auth/oauth/revoke", origin, "", url.Values{"token": {tok3.RefreshToken}}); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if status, _ := refresh(tok3.RefreshToken); status != 400 {
		t.Fatalf("refresh after revocation: %d", status)
	}

	// A disabled user's refresh fails, and their access token stops at once.
	bd := newBrowser(t)
	bd.c.CheckRedirect = b.c.CheckRedirect
	signIn(bd, "dev")
	status, _, devTok := redeem(code(bd, redirect, challenge), verifier, redirect)
	if status != 200 {
		t.Fatalf("dev's sign-in: %d", status)
	}
	off := true
	if err := f.c.Accounts.UpdateUser(ctx, "root", "dev", auth.UserChange{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
	if status, a := refresh(devTok.RefreshToken); status != 400 || a.Error != "invalid_grant" {
		t.Fatalf("disabled dev's refresh: %d %+v", status, a)
	}
	if status, _, _ := fromOrigin(t, http.MethodGet, base+"/api/v1/tokens", origin, devTok.AccessToken, nil); status != http.StatusUnauthorized {
		t.Fatalf("disabled dev's access token: %d, want 401", status)
	}

	entries, err := f.st.Audit(ctx, store.AuditFilter{Action: auth.AuditOAuth})
	if err != nil {
		t.Fatal(err)
	}
	var refusedN, issuedN int
	for _, e := range entries {
		if e.OK && strings.HasSuffix(e.Detail, "tokens issued") {
			issuedN++
		} else if !e.OK {
			refusedN++
		}
	}
	if issuedN != 4 || refusedN != 8 {
		t.Fatalf("oauth audit: %d issued, %d refused, want 4 and 8: %+v", issuedN, refusedN, entries)
	}
}
