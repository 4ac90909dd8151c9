package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Kinds of tokens kept in the store besides personal access tokens and docker login's
// refresh tokens (the store's kind is free text; only hashes of secrets are kept).
const (
	// TokenSession is the credential of a session an OpenID Connect sign-in made: the
	// session holds it where a password sign-in's session holds the password.
	TokenSession = "session"
	// TokenOAuthCode is a static site's authorization code (one use, a minute).
	TokenOAuthCode = "oauth_code"
	// TokenOAuthRefresh is a static site's refresh token, replaced at each use.
	TokenOAuthRefresh = "oauth_refresh"
)

// StaticClient is the client id of the one OAuth client Berth knows: its own UI exported as
// a static site (berth export), served from an origin listed in --cors-origin.
const StaticClient = "berth-static"

// Lifetimes of the static site's credentials.
const (
	// AccessTTL bounds an access token: it is checked against the user's account on every
	// request, but not against its refresh token, so signing out ends it within this.
	AccessTTL = 10 * time.Minute
	codeTTL   = time.Minute
	// sessionTokenTTL bounds a session made by an OpenID Connect sign-in, however active.
	sessionTokenTTL = 30 * 24 * time.Hour
)

// OAuthOptions configures the static site's sign-in.
type OAuthOptions struct {
	// Origins are the origins a redirect_uri may be under (--cors-origin; "*" is ignored).
	Origins []string
	// SignIn is where a browser without a session goes first, with ?return= the
	// authorization request: the UI's sign-in page, or /auth/oidc/login.
	SignIn string
	// RefreshTTL is how long a refresh token lasts unused; each refresh starts it anew.
	RefreshTTL time.Duration
}

// Sessions is what the browser sign-in endpoints need of the session manager
// (session.Manager).
type Sessions interface {
	// SessionUser is the user of the request's session cookie (not of credentials it sends).
	SessionUser(r *http.Request) (string, bool)
	// Start makes a session for user with credentials secret and sets its cookie.
	Start(w http.ResponseWriter, r *http.Request, user, secret string) error
}

// OAuthServer lets Berth's UI exported as a static site, on another origin and so without
// Berth's cookie, sign in: the OAuth 2.0 authorization code grant with PKCE (S256) for the
// public client StaticClient, answering a short-lived access token for "Authorization:
// Bearer" on /api/v1 and a refresh token that is replaced at every use.
type OAuthServer struct {
	acc        *Accounts
	origins    map[string]bool
	signIn     string
	refreshTTL time.Duration
}

// NewOAuthServer returns the static site's authorization server.
func NewOAuthServer(acc *Accounts, o OAuthOptions) *OAuthServer {
	s := &OAuthServer{acc: acc, origins: map[string]bool{}, signIn: o.SignIn, refreshTTL: o.RefreshTTL}
	for _, origin := range o.Origins {
		if u, err := url.Parse(origin); err == nil && origin != "*" {
			s.origins[originOf(u)] = true
		}
	}
	if s.signIn == "" {
		s.signIn = "/signin"
	}
	if s.refreshTTL <= 0 {
		s.refreshTTL = 12 * time.Hour
	}
	return s
}

// originOf is u's origin, scheme://host[:port], with the scheme's default port left out as
// browsers write it in Origin headers.
func originOf(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	host = strings.TrimSuffix(host, map[string]string{"http": ":80", "https": ":443"}[scheme])
	return scheme + "://" + host
}

// allowedRedirect reports whether raw is an absolute http(s) URL under an allowed origin,
// with no credentials and no fragment.
func (s *OAuthServer) allowedRedirect(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, false
	}
	return u, s.origins[originOf(u)]
}

// codeGrant is what an authorization code stands for, kept in its row's name.
type codeGrant struct {
	Client    string `json:"client"`
	Redirect  string `json:"redirect_uri"`
	Challenge string `json:"challenge"`
}

// ServeAuthorize answers GET /auth/authorize (behind the session middleware and
// Principals): for a browser signed in to Berth it issues a code at once and sends it back
// to the redirect_uri; otherwise it sends the browser to sign in first, returning here.
func (s *OAuthServer) ServeAuthorize(sessions Sessions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		q := r.URL.Query()
		// Errors before the redirect_uri is known good are shown here, never redirected.
		if q.Get("client_id") != StaticClient {
			http.Error(w, "unknown client_id: Berth's only client is "+StaticClient, http.StatusBadRequest)
			return
		}
		redirect, ok := s.allowedRedirect(q.Get("redirect_uri"))
		if !ok {
			http.Error(w, "redirect_uri must be a URL under an origin listed in Berth's --cors-origin", http.StatusBadRequest)
			return
		}
		back := func(params url.Values) {
			v := redirect.Query()
			for k, vs := range params {
				v[k] = vs
			}
			if st := q.Get("state"); st != "" {
				v.Set("state", st)
			}
			to := *redirect
			to.RawQuery = v.Encode()
			http.Redirect(w, r, to.String(), http.StatusFound)
		}
		if rt := q.Get("response_type"); rt != "" && rt != "code" {
			back(url.Values{"error": {"unsupported_response_type"}, "error_description": {"only response_type=code"}})
			return
		}
		challenge := q.Get("code_challenge")
		if q.Get("code_challenge_method") != "S256" || len(challenge) != 43 || strings.Trim(challenge, base64URLAlphabet) != "" {
			back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE is required: code_challenge (S256, 43 characters) and code_challenge_method=S256"}})
			return
		}
		sub := access.From(r.Context())
		user, signedIn := sessions.SessionUser(r)
		if !signedIn || sub.Kind != access.User || sub.Name != user {
			// Not signed in with a browser session (an access token or Basic credentials do
			// not count: they must not mint refresh tokens): sign in, then come back here.
			http.Redirect(w, r, s.signIn+"?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
		grant, _ := json.Marshal(codeGrant{Client: StaticClient, Redirect: redirect.String(), Challenge: challenge})
		code, t, err := s.acc.newToken(TokenOAuthCode, sub.Name, string(grant), codeTTL, sub.ReadOnly, CodePrefix)
		if err == nil {
			err = s.acc.st.CreateToken(r.Context(), t)
		}
		if err != nil {
			back(url.Values{"error": {"temporarily_unavailable"}, "error_description": {"the account store failed"}})
			return
		}
		s.acc.Audit(r.Context(), store.AuditEntry{Actor: sub.Name, Action: AuditOAuth, Target: originOf(redirect), Detail: "code issued", OK: true})
		back(url.Values{"code": {code}})
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// oauthTokens is the token endpoint's answer (RFC 6749 section 5.1).
type oauthTokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// ServeToken answers POST /auth/oauth/token: grant_type=authorization_code (code,
// redirect_uri, code_verifier, client_id) or grant_type=refresh_token (refresh_token).
func (s *OAuthServer) ServeToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	ctx := r.Context()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "send the grant as application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the form cannot be read")
		return
	}
	f := r.PostForm
	if id := f.Get("client_id"); id != "" && id != StaticClient {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Berth's only client is "+StaticClient)
		return
	}
	var sub access.Identity
	var family string
	var err error
	switch f.Get("grant_type") {
	case "authorization_code":
		sub, err = s.redeemCode(ctx, f.Get("code"), f.Get("redirect_uri"), f.Get("code_verifier"))
	case "refresh_token":
		sub, family, err = s.rotate(ctx, f.Get("refresh_token"))
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	if err != nil {
		var refused grantRefused
		if errors.As(err, &refused) {
			s.acc.Audit(ctx, store.AuditEntry{Actor: sub.Name, Action: AuditOAuth, Detail: f.Get("grant_type") + " refused: " + string(refused), OK: false})
			oauthError(w, http.StatusBadRequest, "invalid_grant", string(refused))
			return
		}
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the account store failed; try again")
		return
	}
	out, err := s.issue(ctx, sub, family)
	if err != nil {
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the account store failed; try again")
		return
	}
	s.acc.Audit(ctx, store.AuditEntry{Actor: sub.Name, Action: AuditOAuth, Detail: f.Get("grant_type") + ": tokens issued", OK: true})
	httperr.WriteJSON(w, http.StatusOK, out)
}

// grantRefused is why a grant was refused, as the client may read it.
type grantRefused string

func (g grantRefused) Error() string { return string(g) }

// redeemCode uses up an authorization code and returns its user, if redirectURI and the
// PKCE verifier match what the code was issued for.
func (s *OAuthServer) redeemCode(ctx context.Context, code, redirectURI, verifier string) (access.Identity, error) {
	if !strings.HasPrefix(code, CodePrefix) {
		return access.Identity{}, grantRefused("unknown code")
	}
	t, ok, err := s.acc.st.TokenByHash(ctx, secretHash(code))
	if err != nil {
		return access.Identity{}, err
	}
	if !ok || t.Kind != TokenOAuthCode || !s.acc.live(t.Revoked, t.Expires) {
		return access.Identity{}, grantRefused("the code is unknown, used or expired")
	}
	// Used up before anything else is checked: a code gets one try, even a wrong one.
	if err := s.acc.st.RevokeToken(ctx, t.ID, s.acc.now()); errors.Is(err, store.ErrNotFound) {
		return access.Identity{Name: t.User}, grantRefused("the code is used")
	} else if err != nil {
		return access.Identity{}, err
	}
	var g codeGrant
	if err := json.Unmarshal([]byte(t.Name), &g); err != nil {
		return access.Identity{}, err
	}
	if g.Redirect != redirectURI {
		return access.Identity{Name: t.User}, grantRefused("redirect_uri differs from the authorization request's")
	}
	sum := sha256.Sum256([]byte(verifier))
	if len(verifier) < 43 || len(verifier) > 128 || subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.Challenge)) != 1 {
		return access.Identity{Name: t.User}, grantRefused("code_verifier does not match the code_challenge")
	}
	sub, err := s.acc.userSubject(ctx, t.User)
	if errors.Is(err, ErrBadCredentials) {
		return access.Identity{Name: t.User}, grantRefused("the account is disabled")
	}
	sub.ReadOnly = t.ReadOnly
	return sub, err
}

// rotate uses up a refresh token and returns its user and family (the chain of refresh
// tokens since one sign-in). A refresh token presented again after its use means two
// holders: the whole family is revoked, the thief's copy and the user's alike.
func (s *OAuthServer) rotate(ctx context.Context, refresh string) (access.Identity, string, error) {
	if !strings.HasPrefix(refresh, OAuthRefreshPrefix) {
		return access.Identity{}, "", grantRefused("unknown refresh token")
	}
	t, ok, err := s.acc.st.TokenByHash(ctx, secretHash(refresh))
	if err != nil {
		return access.Identity{}, "", err
	}
	if !ok || t.Kind != TokenOAuthRefresh {
		return access.Identity{}, "", grantRefused("unknown refresh token")
	}
	if !t.Revoked.IsZero() {
		if err := s.revokeFamily(ctx, t.User, t.Name); err != nil {
			return access.Identity{}, "", err
		}
		return access.Identity{Name: t.User}, "", grantRefused("the refresh token was used already or revoked; sign in again")
	}
	if !s.acc.live(t.Revoked, t.Expires) {
		return access.Identity{Name: t.User}, "", grantRefused("the refresh token expired; sign in again")
	}
	if err := s.acc.st.RevokeToken(ctx, t.ID, s.acc.now()); errors.Is(err, store.ErrNotFound) {
		return access.Identity{Name: t.User}, "", grantRefused("the refresh token was used already")
	} else if err != nil {
		return access.Identity{}, "", err
	}
	sub, err := s.acc.userSubject(ctx, t.User)
	if errors.Is(err, ErrBadCredentials) {
		return access.Identity{Name: t.User}, "", grantRefused("the account is disabled")
	}
	sub.ReadOnly = t.ReadOnly
	return sub, t.Name, err
}

// revokeFamily revokes every live refresh token of user's family.
func (s *OAuthServer) revokeFamily(ctx context.Context, user, family string) error {
	tokens, err := s.acc.st.Tokens(ctx, user, TokenOAuthRefresh)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.Name == family && t.Revoked.IsZero() {
			if err := s.acc.st.RevokeToken(ctx, t.ID, s.acc.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// issue makes an access token and a refresh token (of family, or of a new one) for sub.
func (s *OAuthServer) issue(ctx context.Context, sub access.Identity, family string) (oauthTokens, error) {
	if family == "" {
		var err error
		if family, err = newID(); err != nil {
			return oauthTokens{}, err
		}
	}
	refresh, t, err := s.acc.newToken(TokenOAuthRefresh, sub.Name, family, s.refreshTTL, sub.ReadOnly, OAuthRefreshPrefix)
	if err != nil {
		return oauthTokens{}, err
	}
	if err := s.acc.st.CreateToken(ctx, t); err != nil {
		return oauthTokens{}, err
	}
	access, err := s.acc.mintAccess(sub)
	if err != nil {
		return oauthTokens{}, err
	}
	return oauthTokens{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(AccessTTL.Seconds()), RefreshToken: refresh}, nil
}

// ServeRevoke answers POST /auth/oauth/revoke (RFC 7009): token=<refresh token> ends that
// sign-in of the static site (its access tokens lapse within AccessTTL). The answer is 200
// whether or not the token was known.
func (s *OAuthServer) ServeRevoke(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the form cannot be read")
		return
	}
	token := r.PostForm.Get("token")
	if strings.HasPrefix(token, OAuthRefreshPrefix) {
		t, ok, err := s.acc.st.TokenByHash(r.Context(), secretHash(token))
		if err != nil {
			oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the account store failed; try again")
			return
		}
		if ok && t.Kind == TokenOAuthRefresh {
			if err := s.revokeFamily(r.Context(), t.User, t.Name); err != nil {
				oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the account store failed; try again")
				return
			}
			s.acc.Audit(r.Context(), store.AuditEntry{Actor: t.User, Action: AuditOAuth, Detail: "signed out", OK: true})
		}
	}
	w.WriteHeader(http.StatusOK)
}

// accessClaims is what an access token says; it is signed, not stored.
type accessClaims struct {
	User     string `json:"u"`
	ReadOnly bool   `json:"ro,omitempty"`
	Expires  int64  `json:"exp"`
}

// mintAccess returns an access token for sub: AccessPrefix, the claims and their HMAC under
// a key derived from the cluster secret, so every replica checks it without the store.
func (a *Accounts) mintAccess(sub access.Identity) (string, error) {
	if len(a.accessKey) == 0 {
		return "", errors.New("access tokens need the cluster secret")
	}
	claims, err := json.Marshal(accessClaims{User: sub.Name, ReadOnly: sub.ReadOnly, Expires: a.now().Add(AccessTTL).Unix()})
	if err != nil {
		return "", err
	}
	body := base64.RawURLEncoding.EncodeToString(claims)
	return AccessPrefix + body + "." + base64.RawURLEncoding.EncodeToString(a.accessMAC(body)), nil
}

func (a *Accounts) accessMAC(body string) []byte {
	m := hmac.New(sha256.New, a.accessKey)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// readAccess returns the claims of a genuine, unexpired access token.
func (a *Accounts) readAccess(token string) (accessClaims, bool) {
	var c accessClaims
	body, mac, ok := strings.Cut(strings.TrimPrefix(token, AccessPrefix), ".")
	if !ok || len(a.accessKey) == 0 || !strings.HasPrefix(token, AccessPrefix) {
		return c, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(sig, a.accessMAC(body)) {
		return c, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || json.Unmarshal(raw, &c) != nil || c.User == "" || !a.now().Before(time.Unix(c.Expires, 0)) {
		return accessClaims{}, false
	}
	return c, true
}

// accessToken checks an access token presented as name's credential: genuine, unexpired,
// name's, and name's account still enabled.
func (a *Accounts) accessToken(ctx context.Context, name, token string) (access.Identity, error) {
	c, ok := a.readAccess(token)
	if !ok || subtle.ConstantTimeCompare([]byte(c.User), []byte(name)) != 1 {
		return access.Identity{}, ErrBadCredentials
	}
	sub, err := a.userSubject(ctx, c.User)
	if err != nil {
		return access.Identity{}, err
	}
	sub.ReadOnly, sub.Via = c.ReadOnly, access.ViaSession
	return sub, nil
}

// BearerUser is session.BearerResolver for access tokens: the user a genuine, unexpired
// access token names (Principals then checks the account on every request).
func (a *Accounts) BearerUser(token string) (string, bool) {
	c, ok := a.readAccess(token)
	return c.User, ok
}

// NewSessionToken mints the credential a session made by an OpenID Connect sign-in holds
// for user; it lasts at most 30 days however active the session, and ends with sign-out.
func (a *Accounts) NewSessionToken(ctx context.Context, user string) (string, error) {
	secret, t, err := a.newToken(TokenSession, user, "oidc sign-in", sessionTokenTTL, false, SessionPrefix)
	if err != nil {
		return "", err
	}
	return secret, a.st.CreateToken(ctx, t)
}

// EndSession is the session manager's sign-out hook: a session token minted for the session
// is revoked (a password is left alone).
func (a *Accounts) EndSession(ctx context.Context, _ string, secret string) {
	if !strings.HasPrefix(secret, SessionPrefix) {
		return
	}
	t, ok, err := a.st.TokenByHash(ctx, secretHash(secret))
	if err == nil && ok && t.Kind == TokenSession {
		err = a.st.RevokeToken(ctx, t.ID, a.now())
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.Audit(ctx, store.AuditEntry{Actor: t.User, Action: AuditSignOut, Detail: fmt.Sprintf("session token not revoked: %v", publicMessage(err)), OK: false})
		return
	}
	if ok {
		a.Audit(ctx, store.AuditEntry{Actor: t.User, Action: AuditSignOut, Detail: "session token revoked", OK: true})
	}
}

// deriveKey derives a purpose-bound key from the cluster secret.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("berth " + purpose))
	return m.Sum(nil)
}
