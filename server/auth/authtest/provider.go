// Package authtest holds test fixtures for sign-in: a real OpenID Connect provider.
package authtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Provider is a real OpenID Connect provider for tests: zitadel/oidc's op package over an
// in-memory storage, on loopback, with a login page of its own (a form with username and
// password) at /login. Its users and their groups can change between sign-ins.
type Provider struct {
	// Issuer is the provider's URL; ClientID and ClientSecret are Berth's client there.
	Issuer, ClientID, ClientSecret string

	p *provider
}

// NewProvider starts a provider on loopback whose one client, Berth, redirects to redirect.
func NewProvider(t testing.TB, redirect string) *Provider {
	t.Helper()
	p := newProvider(t, redirect)
	return &Provider{Issuer: p.issuer, ClientID: p.clientID, ClientSecret: p.clientSecret, p: p}
}

// SetUser adds or replaces the provider's account login.
func (p *Provider) SetUser(login string, u User) { p.p.setUser(login, u) }

// provider is the Provider's state and its op.Storage.
type provider struct {
	issuer       string
	clientID     string
	clientSecret string
	redirect     string

	mu       sync.Mutex
	users    map[string]*User        // by login name
	requests map[string]*authRequest // by id
	codes    map[string]string       // code → request id
	tokens   map[string]string       // access token id → subject
	key      *rsa.PrivateKey
	keyID    string
}

// User is an account at the provider.
type User struct {
	Subject, Password, PreferredUsername, Email string
	Groups                                      []string
}

func newProvider(t testing.TB, redirect string) *provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{clientID: "berth", clientSecret: "berth's client secret", redirect: redirect,
		users: map[string]*User{}, requests: map[string]*authRequest{}, codes: map[string]string{},
		tokens: map[string]string{}, key: key, keyID: randomID()}
	srv := httptest.NewUnstartedServer(nil)
	p.issuer = "http://" + srv.Listener.Addr().String()
	var cryptoKey [32]byte
	_, _ = rand.Read(cryptoKey[:])
	prov, err := op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true}, p, op.StaticIssuer(p.issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", p.serveLogin)
	mux.Handle("/", prov)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// setUser adds or replaces the provider's account login.
func (p *provider) setUser(login string, u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[login] = &u
}

func (p *provider) userBySubject(sub string) *User {
	for _, u := range p.users {
		if u.Subject == sub {
			return u
		}
	}
	return nil
}

// serveLogin is the provider's login page: GET shows the form for ?id=, POST checks the
// credentials and finishes the authorization request.
func (p *provider) serveLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.Form.Get("id")
	if r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Test provider</title><form method="post" action="/login"><input type="hidden" name="id" value="%s"><label>Username <input name="username" autocomplete="username"></label> <label>Password <input name="password" type="password" autocomplete="current-password"></label> <button>Sign in</button></form>`, html.EscapeString(id))
		return
	}
	p.mu.Lock()
	req, ok := p.requests[id]
	u := p.users[r.Form.Get("username")]
	if ok && u != nil && u.Password == r.Form.Get("password") {
		req.subject, req.done, req.authTime = u.Subject, true, time.Now()
	}
	p.mu.Unlock()
	if !ok || u == nil || !req.done {
		http.Error(w, "wrong username or password", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, p.issuer+"/authorize/callback?id="+id, http.StatusFound)
}

// authRequest is op.AuthRequest.
type authRequest struct {
	id       string
	req      oidc.AuthRequest
	subject  string
	done     bool
	authTime time.Time
}

func (a *authRequest) GetID() string                      { return a.id }
func (a *authRequest) GetACR() string                     { return "" }
func (a *authRequest) GetAMR() []string                   { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string              { return []string{a.req.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.authTime }
func (a *authRequest) GetClientID() string                { return a.req.ClientID }
func (a *authRequest) GetNonce() string                   { return a.req.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.done }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}

// client is op.Client: Berth, a confidential web client with one redirect URI.
type client struct{ p *provider }

func (c client) GetID() string                       { return c.p.clientID }
func (c client) RedirectURIs() []string              { return []string{c.p.redirect} }
func (c client) PostLogoutRedirectURIs() []string    { return nil }
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c client) LoginURL(id string) string            { return c.p.issuer + "/login?id=" + id }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration       { return 5 * time.Minute }
func (c client) DevMode() bool                        { return true } // http redirect URIs on loopback
func (c client) IsScopeAllowed(string) bool           { return false }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true } // profile, email, groups in the ID token
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// signingKey is op.SigningKey and key op.Key.
type signingKey struct {
	id  string
	key any
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Algorithm() jose.SignatureAlgorithm          { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }
func (k signingKey) Use() string                                 { return "sig" }

var errNotFound = errors.New("not found")

// The op.Storage methods.

func (p *provider) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := &authRequest{id: randomID(), req: *req}
	p.requests[a.id] = a
	return a, nil
}

func (p *provider) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (p *provider) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.requests[p.codes[code]]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (p *provider) SaveAuthCode(_ context.Context, id, code string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes[code] = id
	return nil
}

func (p *provider) DeleteAuthRequest(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.requests, id)
	for code, rid := range p.codes {
		if rid == id {
			delete(p.codes, code)
		}
	}
	return nil
}

func (p *provider) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := randomID()
	p.tokens[id] = req.GetSubject()
	return id, time.Now().Add(5 * time.Minute), nil
}

func (p *provider) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("the test provider issues no refresh tokens")
}

func (p *provider) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (p *provider) TerminateSession(context.Context, string, string) error { return nil }

func (p *provider) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (p *provider) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (p *provider) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{id: p.keyID, key: p.key}, nil
}

func (p *provider) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (p *provider) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{signingKey{id: p.keyID, key: &p.key.PublicKey}}, nil
}

func (p *provider) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != p.clientID {
		return nil, errNotFound
	}
	return client{p}, nil
}

func (p *provider) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != p.clientID || secret != p.clientSecret {
		return errors.New("wrong client secret")
	}
	return nil
}

func (p *provider) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, scopes []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.userBySubject(subject)
	if u == nil {
		return errNotFound
	}
	info.Subject = subject
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.PreferredUsername = u.PreferredUsername
		info.AppendClaims("groups", u.Groups)
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email, info.EmailVerified = u.Email, true
	}
	return nil
}

func (p *provider) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	p.mu.Lock()
	subject := p.tokens[tokenID]
	p.mu.Unlock()
	return p.SetUserinfoFromScopes(ctx, info, subject, p.clientID, []string{oidc.ScopeProfile, oidc.ScopeEmail})
}

func (p *provider) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return nil
}

func (p *provider) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (p *provider) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (p *provider) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (p *provider) Health(context.Context) error { return nil }
