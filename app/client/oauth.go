package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// The static site's sign-in: the UI exported with berth export runs on another origin, so
// Berth's cookie never reaches it. It signs in with OAuth 2.0's authorization code grant and
// PKCE against Berth (/auth/authorize, /auth/oauth/token) and sends the access token as
// "Authorization: Bearer". Both tokens live in this process's memory only — never in
// localStorage or sessionStorage — and the access token is refreshed while the tab is open.

// OAuthClient is Berth's client id for its own static site.
const OAuthClient = "berth-static"

// refreshAhead is how long before its expiry an access token is replaced.
const refreshAhead = time.Minute

var bearer struct {
	sync.Mutex
	base            string
	access, refresh string
	timer           *time.Timer
}

// oauthTokens is the token endpoint's answer.
type oauthTokens struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// bearerToken is the current access token ("" when the static site is not signed in).
func bearerToken() string {
	bearer.Lock()
	defer bearer.Unlock()
	return bearer.access
}

// SignedInWithToken reports whether the UI holds an access token.
func SignedInWithToken() bool { return bearerToken() != "" }

// ExchangeCode redeems an authorization code at base's token endpoint (with the PKCE
// verifier and the redirect_uri the code was asked with), keeps the tokens in memory and
// starts refreshing them.
func ExchangeCode(ctx context.Context, base, code, redirectURI, verifier string) error {
	return grant(ctx, base, url.Values{
		"grant_type": {"authorization_code"}, "client_id": {OAuthClient},
		"code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
	})
}

// refreshBearer replaces the tokens with the refresh token; when that fails the sign-in is
// over and the tokens are forgotten.
func refreshBearer() {
	bearer.Lock()
	base, refresh := bearer.base, bearer.refresh
	bearer.Unlock()
	if refresh == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := grant(ctx, base, url.Values{"grant_type": {"refresh_token"}, "client_id": {OAuthClient}, "refresh_token": {refresh}})
	if err != nil && !Offline(err) {
		forgetBearer()
	}
	if Offline(err) { // try again shortly: the token may still be good
		bearer.Lock()
		if bearer.refresh == refresh {
			bearer.timer = time.AfterFunc(10*time.Second, refreshBearer)
		}
		bearer.Unlock()
	}
}

// grant posts form to the token endpoint and keeps what it answers.
func grant(ctx context.Context, base string, form url.Values) error {
	resp, err := send(ctx, request{method: http.MethodPost, url: strings.TrimRight(base, "/") + "/auth/oauth/token",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
		body:   []byte(form.Encode())})
	if err != nil {
		return &api.Error{Code: api.CodeOffline, Message: "Cannot reach the Berth server to sign in."}
	}
	defer resp.body.Close()
	var t oauthTokens
	if err := json.NewDecoder(io.LimitReader(resp.body, 64<<10)).Decode(&t); err != nil || resp.status != http.StatusOK || t.AccessToken == "" {
		msg := fmt.Sprintf("Berth refused the sign-in (%s)", resp.Status())
		if t.Description != "" {
			msg += ": " + t.Description
		}
		return &api.Error{Status: resp.status, Code: api.CodeInvalidCredentials, Message: msg + "."}
	}
	lifetime := time.Duration(t.ExpiresIn) * time.Second
	bearer.Lock()
	defer bearer.Unlock()
	if bearer.timer != nil {
		bearer.timer.Stop()
	}
	bearer.base, bearer.access, bearer.refresh = base, t.AccessToken, t.RefreshToken
	if wait := lifetime - refreshAhead; t.RefreshToken != "" {
		bearer.timer = time.AfterFunc(max(wait, lifetime/2), refreshBearer)
	}
	return nil
}

// forgetBearer drops the tokens and stops refreshing them.
func forgetBearer() {
	bearer.Lock()
	defer bearer.Unlock()
	if bearer.timer != nil {
		bearer.timer.Stop()
	}
	bearer.access, bearer.refresh, bearer.timer = "", "", nil
}

// revokeBearer ends the static site's sign-in at Berth (its refresh token; the access token
// lapses within minutes) and forgets the tokens.
func revokeBearer(ctx context.Context) {
	bearer.Lock()
	base, refresh := bearer.base, bearer.refresh
	bearer.Unlock()
	forgetBearer()
	if refresh == "" {
		return
	}
	form := url.Values{"token": {refresh}, "client_id": {OAuthClient}}
	if resp, err := send(ctx, request{method: http.MethodPost, url: strings.TrimRight(base, "/") + "/auth/oauth/revoke",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: []byte(form.Encode())}); err == nil {
		resp.body.Close()
	}
}
