package auth

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// TokenServer is the registry's token service (the Docker registry token specification):
// GET /auth/token with Basic credentials or none, POST /auth/token with OAuth2 password and
// refresh_token grants, the certificate bundle and the JWKS.
type TokenServer struct {
	acc *Accounts
	iss *Issuer
}

// NewTokenServer returns the token service; credentials are checked by acc, under its
// throttle.
func NewTokenServer(acc *Accounts, iss *Issuer) *TokenServer {
	return &TokenServer{acc: acc, iss: iss}
}

// tokenResponse is the token endpoint's answer; token and access_token are the same (older
// clients read the first, OAuth2 clients the second).
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// maxForm bounds a POST body: a few scopes and credentials.
const maxForm = 64 << 10

// ServeToken answers GET and POST /auth/token.
func (s *TokenServer) ServeToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		s.serveGet(ctx, w, r)
	case http.MethodPost:
		s.servePost(ctx, w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		httperr.WriteRegistry(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "GET or POST a token request", nil)
	}
}

func (s *TokenServer) serveGet(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if svc := q.Get("service"); svc != "" && svc != s.iss.Service() {
		httperr.WriteRegistry(w, http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("this token service issues tokens for %q only", s.iss.Service()), nil)
		return
	}
	asked := ParseScopes(q["scope"])
	sub := access.Identity{Kind: access.Anonymous}
	user, secret, ok := r.BasicAuth()
	if scheme, token, bearer := strings.Cut(r.Header.Get("Authorization"), " "); !ok && bearer && strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(token, AccessPrefix) {
		// A static site's access token, exchanged for a registry token (its /v2 requests
		// through Berth carry that one).
		user, _ = s.acc.BearerUser(token)
		secret, ok = token, true
	}
	if ok {
		var err error
		if sub, err = s.authenticate(ctx, w, user, secret, asked); err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
			if httperr.Is(err, api.CodeTooManyRequests) {
				httperr.WriteRegistry(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", err.(*httperr.Error).Message, nil)
				return
			}
			if unavailable(err) {
				httperr.WriteRegistry(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.(*httperr.Error).Message, nil)
				return
			}
			if httperr.Is(err, api.CodeInvalidCredentials) {
				httperr.WriteRegistry(w, http.StatusUnauthorized, "UNAUTHORIZED", "wrong username or password, or a revoked or expired token", nil)
				return
			}
			s.fail(ctx, w, err)
			return
		}
	}
	// A refresh token outlives what it was made from: only a password makes one, never a
	// token (a read-only or short-lived one would become a 30-day full one).
	offline := q.Get("offline_token") == "true" && sub.Kind == access.User && sub.Via == access.ViaPassword
	s.issue(ctx, w, sub, asked, offline)
}

func (s *TokenServer) servePost(ctx context.Context, w http.ResponseWriter, r *http.Request) {
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
	if svc := f.Get("service"); svc != "" && svc != s.iss.Service() {
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("this token service issues tokens for %q only", s.iss.Service()))
		return
	}
	asked := ParseScopes([]string{f.Get("scope")})
	var sub access.Identity
	var err error
	refresh := false
	switch f.Get("grant_type") {
	case "password":
		sub, err = s.authenticate(ctx, w, f.Get("username"), f.Get("password"), asked)
		refresh = f.Get("access_type") == "offline" && sub.Via == access.ViaPassword
	case "refresh_token":
		if err = s.acc.limiter.Check(ctx, ""); err != nil {
			break
		}
		sub, err = s.acc.Refresh(ctx, f.Get("refresh_token"))
		if errors.Is(err, ErrBadCredentials) {
			s.acc.limiter.Fail(ctx, "")
			s.acc.Audit(ctx, store.AuditEntry{Action: AuditToken, Scope: FormatScopes(asked), Detail: "refresh token refused", OK: false})
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be password or refresh_token")
		return
	}
	if err != nil {
		switch {
		case httperr.Is(err, api.CodeTooManyRequests):
			oauthError(w, http.StatusTooManyRequests, "invalid_grant", err.(*httperr.Error).Message)
		case unavailable(err):
			oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.(*httperr.Error).Message)
		case httperr.Is(err, api.CodeInvalidCredentials):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "wrong username or password, or a revoked or expired token")
		default:
			s.fail(ctx, w, err)
		}
		return
	}
	if f.Get("grant_type") == "refresh_token" {
		// The refresh token stays what it was; docker keeps it.
		s.issueWith(ctx, w, sub, asked, f.Get("refresh_token"))
		return
	}
	s.issue(ctx, w, sub, asked, refresh)
}

// authenticate checks credentials (the accounts throttle them), recording refusals in the
// audit log and passing on how long a throttled client must wait.
func (s *TokenServer) authenticate(ctx context.Context, w http.ResponseWriter, user, secret string, asked []Access) (access.Identity, error) {
	sub, err := s.acc.Authenticate(ctx, user, secret)
	var he *httperr.Error
	switch {
	case errors.Is(err, ErrBadCredentials):
		s.acc.Audit(ctx, store.AuditEntry{Actor: user, Action: AuditToken, Scope: FormatScopes(asked), Detail: "bad credentials", OK: false})
		slog.InfoContext(ctx, "token refused", "user", user, "client", access.ClientString(ctx))
	case errors.As(err, &he) && he.Code == api.CodeTooManyRequests:
		s.acc.Audit(ctx, store.AuditEntry{Actor: user, Action: AuditToken, Scope: FormatScopes(asked), Detail: "throttled", OK: false})
		if he.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(he.RetryAfter.Seconds()))))
		}
	}
	return sub, err
}

// issue grants sub what it may of asked and answers the token (and a new refresh token).
func (s *TokenServer) issue(ctx context.Context, w http.ResponseWriter, sub access.Identity, asked []Access, refresh bool) {
	rt := ""
	if refresh {
		var err error
		if rt, err = s.acc.NewRefreshToken(ctx, sub.Name); err != nil {
			s.fail(ctx, w, err)
			return
		}
	}
	s.issueWith(ctx, w, sub, asked, rt)
}

func (s *TokenServer) issueWith(ctx context.Context, w http.ResponseWriter, sub access.Identity, asked []Access, refresh string) {
	granted, err := s.Grant(ctx, sub, asked)
	if err != nil {
		s.fail(ctx, w, err)
		return
	}
	tok, err := s.iss.Issue(ctx, sub.Name, granted)
	if err != nil {
		s.fail(ctx, w, err)
		return
	}
	detail := "granted"
	if !covers(granted, asked) {
		detail = "partly granted"
		if len(granted) == 0 && len(asked) > 0 {
			detail = "denied"
		}
	}
	s.acc.Audit(ctx, store.AuditEntry{Actor: sub.Name, Action: AuditToken, Scope: FormatScopes(asked), Granted: FormatScopes(granted), Detail: detail, OK: detail == "granted"})
	httperr.WriteJSON(w, http.StatusOK, tokenResponse{
		Token: tok.Raw, AccessToken: tok.Raw, ExpiresIn: int(tok.ExpiresIn.Seconds()),
		IssuedAt: tok.IssuedAt.UTC().Format(time.RFC3339), RefreshToken: refresh, Scope: FormatScopes(granted),
	})
}

// Grant returns the part of asked that sub holds: resources sub may do nothing to are left
// out, actions it may not do are dropped (the specification's "intersection"), never an
// error.
func (s *TokenServer) Grant(ctx context.Context, sub access.Identity, asked []Access) ([]Access, error) {
	granted := []Access{}
	for _, a := range asked {
		var ok []string
		switch {
		case a.Type == "registry" && a.Name == "catalog":
			can, err := s.acc.policy.Catalog(ctx, sub)
			if err != nil {
				return nil, err
			}
			if can && slices.Contains(a.Actions, "*") {
				ok = []string{"*"}
			}
		case a.Type == "repository":
			if registry.ValidateRepository(a.Name) != nil {
				continue
			}
			held, err := s.acc.policy.Decide(ctx, sub, a.Name)
			if err != nil {
				return nil, err
			}
			for _, act := range a.Actions {
				switch act {
				case "pull", "push", "delete":
					if slices.Contains(held.Names(), act) {
						ok = append(ok, act)
					}
				case "*":
					if held.Has(Pull | Push | Delete) {
						ok = append(ok, act)
					}
				}
			}
		}
		if len(ok) > 0 {
			granted = append(granted, Access{Type: a.Type, Class: a.Class, Name: a.Name, Actions: ok})
		}
	}
	return granted, nil
}

// covers reports whether granted holds every action asked.
func covers(granted, asked []Access) bool {
	n := 0
	for _, a := range asked {
		n += len(a.Actions)
	}
	for _, g := range granted {
		n -= len(g.Actions)
	}
	return n == 0
}

func (s *TokenServer) fail(ctx context.Context, w http.ResponseWriter, err error) {
	slog.WarnContext(ctx, "token service failed", "err", err)
	httperr.WriteRegistry(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the token service cannot answer right now", nil)
}

// unavailable reports whether err is an answer of a dependency that is down (the session
// store, the LDAP directory): a 503 whose message the client may read.
func unavailable(err error) bool {
	he, ok := errors.AsType[*httperr.Error](err)
	return ok && he.Code.Status() == http.StatusServiceUnavailable
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	httperr.WriteJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// ServeBundle answers GET /auth/certs.pem: the certificates a registry must trust
// (rootcertbundle).
func (s *TokenServer) ServeBundle(w http.ResponseWriter, r *http.Request) {
	b, err := s.iss.Keys().Bundle(r.Context())
	if err != nil {
		s.fail(r.Context(), w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(b)
}

// ServeJWKS answers GET /auth/jwks.json.
func (s *TokenServer) ServeJWKS(w http.ResponseWriter, r *http.Request) {
	set, err := s.iss.Keys().JWKS(r.Context())
	if err != nil {
		s.fail(r.Context(), w, err)
		return
	}
	w.Header().Set("Cache-Control", "max-age=60")
	httperr.WriteJSON(w, http.StatusOK, set)
}
