// Package session signs users in to a protected registry: the server checks their credentials
// against the registry and keeps them server-side, behind an HttpOnly, SameSite=Strict cookie,
// so passwords and tokens never reach the browser's storage or the logs.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
)

// CookieName is the session cookie.
const CookieName = "berth_session"

// maxBody bounds a sign-in request; credentials are a few hundred bytes.
const maxBody = 64 << 10

// Checker tells whether the registry accepts credentials (catalog.Service.CheckCredentials).
type Checker func(ctx context.Context, auth authn.Authenticator) error

// Manager keeps the signed-in sessions of this process.
type Manager struct {
	ttl    time.Duration
	check  Checker
	forget func(key string)
	now    func() time.Time

	mu       sync.Mutex
	sessions map[string]*entry // by the SHA-256 of the cookie value, never the value itself
}

type entry struct {
	user    string
	auth    authn.Authenticator
	expires time.Time
}

// New returns a Manager whose sessions expire after ttl idle, checking credentials with check
// and calling forget with a session's key when it ends (to drop per-user caches).
func New(ttl time.Duration, check Checker, forget func(key string)) *Manager {
	return &Manager{ttl: ttl, check: check, forget: forget, now: time.Now, sessions: map[string]*entry{}}
}

// Middleware makes requests with a valid session cookie read the registry as that user.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key, e := m.lookup(r); e != nil {
			r = r.WithContext(catalog.WithPrincipal(r.Context(), catalog.Principal{Key: key, Auth: e.auth, User: e.user}))
		}
		next.ServeHTTP(w, r)
	})
}

// lookup returns the live session of r, sliding its expiry.
func (m *Manager) lookup(r *http.Request) (string, *entry) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return "", nil
	}
	key := hashKey(c.Value)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.sessions[key]
	if !ok {
		return "", nil
	}
	if m.now().After(e.expires) {
		m.endLocked(key)
		return "", nil
	}
	e.expires = m.now().Add(m.ttl)
	return key, e
}

func hashKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

func (m *Manager) endLocked(key string) {
	delete(m.sessions, key)
	if m.forget != nil {
		m.forget(key)
	}
}

// Handler serves /api/v1/session: GET says who is signed in, POST {"username","password"}
// signs in, DELETE signs out.
func (m *Manager) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			var s api.Session
			if _, e := m.lookup(r); e != nil {
				s.User = e.user
			}
			w.Header().Set("Cache-Control", "no-store")
			httperr.WriteJSON(w, http.StatusOK, s)
		case http.MethodPost:
			m.signIn(w, r)
		case http.MethodDelete:
			m.signOut(w, r)
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			httperr.Write(w, r, httperr.New(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method+" is not allowed here"))
		}
	})
}

func (m *Manager) signIn(w http.ResponseWriter, r *http.Request) {
	// Requiring JSON means a cross-site form cannot post here without a CORS preflight.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		httperr.Write(w, r, httperr.New(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Send the credentials as application/json."))
		return
	}
	var req api.SignIn
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httperr.Write(w, r, httperr.New(http.StatusRequestEntityTooLarge, "TOO_LARGE", "The sign-in request is too large."))
			return
		}
		httperr.Write(w, r, httperr.New(http.StatusBadRequest, "INVALID_JSON", "The sign-in request is not valid JSON: "+httperr.JSONProblem(err)))
		return
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		httperr.Write(w, r, httperr.New(http.StatusRequestEntityTooLarge, "TOO_LARGE", "The sign-in request is too large."))
		return
	}
	req.Username = strings.TrimSpace(req.Username)
	if req.Username == "" || req.Password == "" {
		httperr.Write(w, r, httperr.New(http.StatusBadRequest, "MISSING_CREDENTIALS", "Enter a username and a password."))
		return
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: req.Username, Password: req.Password})
	if err := m.check(r.Context(), auth); err != nil {
		slog.InfoContext(r.Context(), "sign-in refused", "user", req.Username)
		httperr.Write(w, r, err)
		return
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		httperr.Write(w, r, err)
		return
	}
	cookie := base64.RawURLEncoding.EncodeToString(raw[:])
	m.mu.Lock()
	m.purgeLocked()
	m.sessions[hashKey(cookie)] = &entry{user: req.Username, auth: auth, expires: m.now().Add(m.ttl)}
	m.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    cookie,
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
		SameSite: http.SameSiteStrictMode,
	})
	slog.InfoContext(r.Context(), "signed in", "user", req.Username)
	httperr.WriteJSON(w, http.StatusOK, api.Session{User: req.Username})
}

func (m *Manager) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		m.mu.Lock()
		m.endLocked(hashKey(c.Value))
		m.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	httperr.WriteJSON(w, http.StatusOK, api.Session{})
}

// purgeLocked drops expired sessions; sign-ins are rare enough to pay for it.
func (m *Manager) purgeLocked() {
	now := m.now()
	for k, e := range m.sessions {
		if now.After(e.expires) {
			m.endLocked(k)
		}
	}
}
