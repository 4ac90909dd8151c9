package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Kinds of rows the OpenID Connect sign-in keeps in the tokens table (no secret in either:
// their hashes are lookup keys, not credentials).
const (
	// TokenOIDCLink ties a provider's (issuer, subject) to a Berth user; users are found by
	// it, never by a name the provider sends.
	TokenOIDCLink = "oidc"
	// TokenOIDCTeam is a team membership the provider's groups gave (name "team role"):
	// these, and only these, are taken away when the groups no longer give them.
	TokenOIDCTeam = "oidc_team"
)

// OIDCOptions configures sign-in through an OpenID Connect provider.
type OIDCOptions struct {
	// Issuer is the provider's issuer URL; ClientID and ClientSecret Berth's client there.
	Issuer, ClientID, ClientSecret string
	// RedirectURL is Berth's /auth/oidc/callback as the provider must send users back to it.
	RedirectURL string
	// GroupsClaim names the ID token claim listing the user's groups ("groups").
	GroupsClaim string
	// TeamMap maps groups to teams (ParseTeamMap); a group not in it maps to the existing
	// team of its name, as a developer.
	TeamMap map[string]TeamRole
	// Timeout bounds each call to the provider (10s if 0).
	Timeout time.Duration
}

// TeamRole is a team and the role a group gives in it.
type TeamRole struct{ Team, Role string }

// ParseTeamMap reads --oidc-team-map or --ldap-team-map entries: group=team or group=team:role.
func ParseTeamMap(entries []string) (map[string]TeamRole, error) {
	out := map[string]TeamRole{}
	for _, e := range entries {
		group, target, ok := strings.Cut(e, "=")
		team, role, hasRole := strings.Cut(target, ":")
		if !hasRole {
			role = store.RoleDeveloper
		}
		if !ok || group == "" || !ValidName(team) || !ValidRole(role) {
			return nil, fmt.Errorf("team map entry %q: want group=team or group=team:role (viewer, developer, maintainer, owner)", e)
		}
		out[group] = TeamRole{Team: team, Role: role}
	}
	return out, nil
}

// OIDC signs users in through an OpenID Connect provider: the authorization code flow with
// PKCE (S256), state and nonce, the ID token verified against the provider's keys. A user
// is created on first sign-in, groups become team memberships, and the browser gets the
// same server-side session a password sign-in gets.
type OIDC struct {
	acc  *Accounts
	o    OIDCOptions
	aead cipher.AEAD
	http *http.Client

	mu       sync.Mutex
	provider *oidc.Provider // discovered at the first sign-in
}

// NewOIDC returns the OpenID Connect sign-in; secret is the cluster secret, which seals the
// state a sign-in keeps in the browser between leaving for the provider and coming back.
// The provider is not contacted until someone signs in.
func NewOIDC(acc *Accounts, secret []byte, o OIDCOptions) (*OIDC, error) {
	block, err := aes.NewCipher(deriveKey(secret, "oidc state"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = "groups"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return &OIDC{acc: acc, o: o, aead: aead, http: &http.Client{Timeout: o.Timeout}}, nil
}

// discover returns the provider, reading its discovery document the first time; a provider
// that is down at Berth's start only fails sign-ins until it is back.
func (p *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	// p.http (with its timeout) reads the discovery document and, kept by the provider, the
	// JWKS later; the request's cancellation must not end the provider's key set.
	prov, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), p.http), p.o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover OpenID Connect provider %s: %w", p.o.Issuer, err)
	}
	p.provider = prov
	return prov, nil
}

func (p *OIDC) config(prov *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.o.ClientID, ClientSecret: p.o.ClientSecret, RedirectURL: p.o.RedirectURL,
		Endpoint: prov.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
	}
}

// loginState is what a sign-in keeps, sealed, in a cookie while the user is at the provider.
type loginState struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Return   string    `json:"return"`
	Expires  time.Time `json:"expires"`
}

// stateTTL is how long a user may take at the provider's login page.
const stateTTL = 10 * time.Minute

// stateCookie names the cookie of one sign-in: a name per state, so two tabs signing in at
// once do not overwrite each other's.
func stateCookie(state string) string { return "berth_oidc_" + state[:12] }

// SafeReturn returns ret if it is a path on this site ("/…", not "//…" or "/\…", no
// scheme or host), "/" otherwise: the return of a sign-in is never an open redirect.
func SafeReturn(ret string) string {
	if ret == "" || ret[0] != '/' || strings.HasPrefix(ret, "//") || strings.ContainsAny(ret, "\\\x00\r\n\t") {
		return "/"
	}
	u, err := url.Parse(ret)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return ret
}

// ServeLogin answers GET /auth/oidc/login?return=/path: it sends the browser to the
// provider, keeping state, nonce and PKCE verifier sealed in a cookie for the callback.
func (p *OIDC) ServeLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	prov, err := p.discover(r.Context())
	if err != nil {
		slog.WarnContext(r.Context(), "OpenID Connect sign-in unavailable", "err", err)
		httperr.Write(w, r, httperr.Wrap(api.CodeInternal, "The sign-in provider cannot be reached; try again later.", err))
		return
	}
	st := loginState{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		Return: SafeReturn(r.URL.Query().Get("return")), Expires: p.acc.now().Add(stateTTL)}
	plain, _ := json.Marshal(st)
	nonce := make([]byte, p.aead.NonceSize())
	_, _ = rand.Read(nonce)
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie(st.State), Value: base64.RawURLEncoding.EncodeToString(p.aead.Seal(nonce, nonce, plain, []byte(st.State))),
		Path: "/auth/oidc/", MaxAge: int(stateTTL.Seconds()), HttpOnly: true, Secure: secure(r),
		// Lax: the provider sends the browser back with a cross-site top-level GET.
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, p.config(prov).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// idClaims are the ID token claims Berth reads besides the verified standard ones.
type idClaims struct {
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
}

// ServeCallback answers GET /auth/oidc/callback: it checks state and the sealed cookie,
// redeems the code with the PKCE verifier, verifies the ID token (signature by the
// provider's keys, issuer, audience, expiry, nonce), finds or creates the user, syncs the
// groups' teams and starts a session. Every outcome is audited.
func (p *OIDC) ServeCallback(sessions Sessions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ctx := r.Context()
		refuse := func(who, why string, code api.Code, msg string) {
			p.acc.Audit(ctx, store.AuditEntry{Actor: who, Action: AuditSignIn, Detail: "oidc: " + why, OK: false})
			slog.InfoContext(ctx, "OpenID Connect sign-in refused", "user", who, "why", why)
			httperr.Write(w, r, httperr.New(code, msg))
		}
		q := r.URL.Query()
		state := q.Get("state")
		if len(state) < 12 {
			refuse("", "no state", api.CodeBadRequest, "This sign-in link is not valid; start signing in again.")
			return
		}
		c, err := r.Cookie(stateCookie(state))
		var st loginState
		if err == nil {
			st, err = p.openState(c.Value, state)
		}
		if err != nil || subtle.ConstantTimeCompare([]byte(st.State), []byte(state)) != 1 || p.acc.now().After(st.Expires) {
			refuse("", "state mismatch or expired", api.CodeBadRequest, "This sign-in expired or was started in another browser; start signing in again.")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: c.Name, Value: "", Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
		if e := q.Get("error"); e != "" {
			refuse("", "provider answered "+e, api.CodeUnauthorized, "The sign-in provider did not sign you in ("+e+").")
			return
		}
		prov, err := p.discover(ctx)
		if err != nil {
			refuse("", "provider unreachable", api.CodeInternal, "The sign-in provider cannot be reached; try again later.")
			return
		}
		octx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.http), p.o.Timeout)
		defer cancel()
		tok, err := p.config(prov).Exchange(octx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
		if err != nil {
			slog.WarnContext(ctx, "OpenID Connect code exchange failed", "err", err)
			refuse("", "code exchange failed", api.CodeUnauthorized, "The sign-in provider refused the sign-in; start again.")
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := prov.Verifier(&oidc.Config{ClientID: p.o.ClientID}).Verify(octx, raw)
		if err != nil {
			slog.WarnContext(ctx, "OpenID Connect ID token refused", "err", err)
			refuse("", "ID token not valid", api.CodeUnauthorized, "The sign-in provider's answer could not be verified.")
			return
		}
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
			refuse("", "nonce mismatch", api.CodeUnauthorized, "The sign-in provider's answer does not belong to this sign-in.")
			return
		}
		var claims idClaims
		var all map[string]any
		if err := idt.Claims(&claims); err != nil || idt.Claims(&all) != nil {
			refuse("", "claims unreadable", api.CodeUnauthorized, "The sign-in provider's answer could not be read.")
			return
		}
		user, err := p.user(ctx, idt.Issuer, idt.Subject, claims)
		if err != nil {
			slog.WarnContext(ctx, "OpenID Connect user not provisioned", "err", err)
			refuse("", "user not provisioned", api.CodeStoreUnavailable, "The account store failed; try again.")
			return
		}
		if _, err := p.acc.userSubject(ctx, user); errors.Is(err, ErrBadCredentials) {
			refuse(user, "account disabled", api.CodeDenied, "Your Berth account is disabled.")
			return
		} else if err != nil {
			refuse(user, "account store failed", api.CodeStoreUnavailable, "The account store failed; try again.")
			return
		}
		if _, err := p.acc.syncGroupTeams(ctx, groupSource{actor: "oidc", kind: TokenOIDCTeam, teams: p.o.TeamMap}, user, groups(all[p.o.GroupsClaim])); err != nil {
			slog.WarnContext(ctx, "OpenID Connect teams not synced", "user", user, "err", err)
			refuse(user, "teams not synced", api.CodeStoreUnavailable, "The account store failed; try again.")
			return
		}
		secret, err := p.acc.NewSessionToken(ctx, user)
		if err == nil {
			err = sessions.Start(w, r, user, secret)
		}
		if err != nil {
			refuse(user, "session not started", api.CodeSessionStoreUnavailable, "Signing in is not possible right now; try again.")
			return
		}
		p.acc.changed() // a first sign-in may have made a user; the teams may have changed
		p.acc.Audit(ctx, store.AuditEntry{Actor: user, Action: AuditSignIn, Detail: "oidc: signed in", OK: true})
		slog.InfoContext(ctx, "signed in", "user", user, "via", "oidc")
		continueTo(w, st.Return)
	}
}

// continueTo sends the browser on to path (a checked SafeReturn) with a page of its own
// rather than a redirect: the navigation then starts on Berth's origin, so the new
// SameSite=Strict session cookie goes with it — after the provider's cross-site redirect
// chain, browsers would leave it off a plain redirect's request.
func continueTo(w http.ResponseWriter, path string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Refresh", "0; url="+path)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	esc := html.EscapeString(path)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"0; url=%s\"><title>Signed in</title><p>Signed in. <a href=\"%s\">Continue</a>.</p>\n", esc, esc)
}

// openState unseals a sign-in's cookie; state is the additional data it was sealed with.
func (p *OIDC) openState(value, state string) (loginState, error) {
	var st loginState
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < p.aead.NonceSize() {
		return st, errors.New("state cookie unreadable")
	}
	plain, err := p.aead.Open(nil, sealed[:p.aead.NonceSize()], sealed[p.aead.NonceSize():], []byte(state))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(plain, &st)
}

// groups reads a groups claim: a list of strings, or one string.
func groups(v any) []string {
	switch g := v.(type) {
	case string:
		return []string{g}
	case []any:
		var out []string
		for _, e := range g {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// linkHash is the lookup key of the link from a provider's (issuer, subject) to a user.
func linkHash(issuer, subject string) string {
	return secretHash("berth oidc link\x00" + issuer + "\x00" + subject)
}

// user returns the Berth user linked to the provider's (issuer, subject), creating it on
// the first sign-in: named after preferred_username, else the email's local part, made a
// valid name and de-duplicated ("alice", "alice-2", …). An existing account of that name is
// never taken over: linking goes by subject only.
func (p *OIDC) user(ctx context.Context, issuer, subject string, c idClaims) (string, error) {
	t, ok, err := p.acc.st.TokenByHash(ctx, linkHash(issuer, subject))
	if err != nil {
		return "", err
	}
	if ok && t.Kind == TokenOIDCLink {
		return t.User, nil // revoked or not: the link is not a credential (disabling revokes rows)
	}
	base := userName(c.PreferredUsername)
	if base == "" {
		local, _, _ := strings.Cut(c.Email, "@")
		base = userName(local)
	}
	if base == "" {
		base = "user"
	}
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", strings.TrimRight(base[:min(len(base), 60)], "._-"), i)
		}
		err := p.createUser(ctx, name, issuer, subject)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free user name for %q", base)
}

// createUser makes an account without a password (it signs in only through the provider),
// its personal namespace and its link; store.ErrExists when the name is taken.
func (p *OIDC) createUser(ctx context.Context, name, issuer, subject string) error {
	return p.acc.createLinkedUser(ctx, name, store.Token{Kind: TokenOIDCLink, Name: issuer, Hash: linkHash(issuer, subject)},
		"oidc", "first sign-in through "+issuer)
}

// userName makes s a valid user name: lower case, runs of other characters as one "-",
// trimmed to 64 characters; "" when nothing is left.
func userName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case r == '.' || r == '_' || r == '-':
			if b.Len() > 0 && !dash {
				b.WriteRune(r)
				dash = true
			}
		default:
			if b.Len() > 0 && !dash {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	name := strings.TrimRight(b.String(), "._-")
	if len(name) > 64 {
		name = strings.TrimRight(name[:64], "._-")
	}
	if !ValidName(name) {
		return ""
	}
	return name
}
