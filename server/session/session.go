// Package session signs users in to a protected registry: the server checks their credentials
// against the registry and keeps them server-side, behind an HttpOnly, SameSite=Strict cookie,
// so passwords and tokens never reach the browser's storage or the logs.
package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
)

// CookieName is the session cookie.
const CookieName = "berth_session"

// maxBody bounds a sign-in request; credentials are a few hundred bytes.
const maxBody = 64 << 10

// Checker tells whether credentials sign in: the registry's answer (registry.Client.
// CheckCredentials) or Berth's accounts', each behind the one Limiter (Throttled).
type Checker func(ctx context.Context, auth authn.Authenticator) error

// Store keeps sealed sessions by key until their time to live runs out. The memory store
// serves one process; a Redis (cache.Redis) lets every replica behind a load balancer see
// every session.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, bool)
	Put(ctx context.Context, key string, sealed []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Manager signs users in and finds their sessions. What it stores is sealed with a key
// derived from the cookie, which only the user's browser holds: a store's contents (a Redis
// shared by replicas, say) reveal no password, and a session is found only with its cookie.
type Manager struct {
	ttl    time.Duration
	check  Checker
	forget func(key string)
	now    func() time.Time
	store  Store

	bearer    BearerResolver
	onSignOut func(ctx context.Context, user, secret string)

	mu      sync.Mutex
	touched map[string]time.Time // when this process last extended a session's lifetime
}

// entry is a session as sealed into the store.
type entry struct {
	User     string    `json:"user"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
}

// New returns a Manager whose sessions expire after ttl idle, checking credentials with check
// and calling forget with a session's key when it ends (to drop per-user caches). A nil store
// keeps sessions in this process's memory.
func New(ttl time.Duration, check Checker, forget func(key string), store Store, opts ...Option) *Manager {
	if store == nil {
		store = NewMemoryStore()
	}
	m := &Manager{ttl: ttl, check: check, forget: forget, now: time.Now, store: store, touched: map[string]time.Time{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Credentials returns the credentials r presents, if any: its session cookie's, a static
// site's bearer token, or Basic credentials (scripts and CLIs such as helm cm-push and curl).
// They are checked by the one authenticator (access.Authenticator), never here.
func (m *Manager) Credentials(r *http.Request) (access.Credentials, bool) {
	if key, e := m.lookup(r); e != nil {
		return access.Credentials{User: e.User, Secret: e.Password, Key: key, Stored: true}, true
	}
	if token, ok := bearerToken(r); ok && m.bearer != nil {
		// The resolver names the token's user; the token itself is the credential.
		if user, ok := m.bearer(token); ok {
			return access.Credentials{User: user, Secret: token, Key: "bearer/" + hashKey(token)}, true
		}
		return access.Credentials{}, false
	}
	if user, password, ok := r.BasicAuth(); ok && user != "" {
		// Cached state is kept under a key derived from the credentials, never the credentials.
		return access.Credentials{User: user, Secret: password, Key: "basic/" + hashKey(user+"\x00"+password)}, true
	}
	return access.Credentials{}, false
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// touchEvery is how often a session in use has its lifetime extended in the store.
const touchEvery = time.Minute

// lookup returns the live session of r, sliding its expiry.
func (m *Manager) lookup(r *http.Request) (string, *entry) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return "", nil
	}
	key := hashKey(c.Value)
	sealed, ok := m.store.Get(r.Context(), storeKey(key))
	if !ok {
		return "", nil
	}
	e, err := unseal(c.Value, sealed)
	if err != nil || m.now().After(e.Expires) {
		return "", nil
	}
	m.mu.Lock()
	if len(m.touched) > 100_000 {
		clear(m.touched) // forgetting costs only an early extension
	}
	due := m.now().Sub(m.touched[key]) >= touchEvery
	if due {
		m.touched[key] = m.now()
	}
	m.mu.Unlock()
	if due {
		e.Expires = m.now().Add(m.ttl)
		if b, err := seal(c.Value, e); err == nil {
			_ = m.store.Put(r.Context(), storeKey(key), b, m.ttl)
		}
	}
	return key, &e
}

// seal encrypts e with AES-256-GCM under a key derived from the cookie value.
func seal(cookie string, e entry) ([]byte, error) {
	plain, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	aead, err := sessionAEAD(cookie)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, nil), nil
}

// unseal reverses seal; it fails for data sealed under another cookie or altered.
func unseal(cookie string, sealed []byte) (entry, error) {
	var e entry
	aead, err := sessionAEAD(cookie)
	if err != nil {
		return e, err
	}
	if len(sealed) < aead.NonceSize() {
		return e, errors.New("sealed session too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return e, err
	}
	return e, json.Unmarshal(plain, &e)
}

// sessionAEAD derives the sealing key; the "seal" label keeps it apart from the store key
// (hashKey), so knowing a store key gives nothing towards opening what is stored under it.
func sessionAEAD(cookie string) (cipher.AEAD, error) {
	k := sha256.Sum256([]byte("berth session seal\x00" + cookie))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// MemoryStore keeps sessions in this process.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]memoryEntry
}

type memoryEntry struct {
	sealed  []byte
	expires time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string]memoryEntry{}} }

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.sealed, true
}

// Put implements Store; expired sessions are dropped on the way, sign-ins being rare.
func (s *MemoryStore) Put(_ context.Context, key string, sealed []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, e := range s.m {
		if now.After(e.expires) {
			delete(s.m, k)
		}
	}
	s.m[key] = memoryEntry{sealed: sealed, expires: now.Add(ttl)}
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// storeKey names a session in a store that may hold other things (a Redis cache).
func storeKey(key string) string { return "session/" + key }

func hashKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// ServeSignIn answers POST /api/v1/session {"username","password"}: signs in.
func (m *Manager) ServeSignIn(w http.ResponseWriter, r *http.Request) { m.signIn(w, r) }

// ServeSignOut answers DELETE /api/v1/session: signs out.
func (m *Manager) ServeSignOut(w http.ResponseWriter, r *http.Request) { m.signOut(w, r) }

func (m *Manager) signIn(w http.ResponseWriter, r *http.Request) {
	// Requiring JSON (DecodeJSON does) means a cross-site form cannot post here without a
	// CORS preflight.
	var req api.SignIn
	if err := httperr.DecodeJSON(w, r, maxBody, "the sign-in request", &req); err != nil {
		httperr.Write(w, r, err)
		return
	}
	req.Username = strings.TrimSpace(req.Username)
	if req.Username == "" || req.Password == "" {
		httperr.Write(w, r, httperr.New(api.CodeMissingCredentials, "Enter a username and a password."))
		return
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: req.Username, Password: req.Password})
	if err := m.check(r.Context(), auth); err != nil {
		slog.InfoContext(r.Context(), "sign-in refused", "user", req.Username, "client", access.ClientString(r.Context()))
		httperr.Write(w, r, err)
		return
	}
	if err := m.Start(w, r, req.Username, req.Password); err != nil {
		httperr.Write(w, r, err)
		return
	}
	slog.InfoContext(r.Context(), "signed in", "user", req.Username)
	httperr.WriteJSON(w, http.StatusOK, api.Session{User: req.Username})
}

// Start creates a session for user, whose credentials secret have been checked already (a
// password, or a token minted for the session by an OpenID Connect sign-in), and sets its
// cookie on w.
func (m *Manager) Start(w http.ResponseWriter, r *http.Request, user, secret string) error {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	cookie := base64.RawURLEncoding.EncodeToString(raw[:])
	sealed, err := seal(cookie, entry{User: user, Password: secret, Expires: m.now().Add(m.ttl)})
	if err == nil {
		err = m.store.Put(r.Context(), storeKey(hashKey(cookie)), sealed, m.ttl)
	}
	if err != nil {
		return httperr.Wrap(api.CodeSessionStoreUnavailable, "Signing in is not possible right now: the session store cannot be reached.", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    cookie,
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// SessionUser returns the user of r's session cookie, if it has a live one. Credentials
// sent with the request (Basic, Bearer) do not count: only a browser's sign-in does.
func (m *Manager) SessionUser(r *http.Request) (string, bool) {
	if _, e := m.lookup(r); e != nil {
		return e.User, true
	}
	return "", false
}

func (m *Manager) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		key := hashKey(c.Value)
		if m.onSignOut != nil {
			if sealed, ok := m.store.Get(r.Context(), storeKey(key)); ok {
				if e, err := unseal(c.Value, sealed); err == nil {
					m.onSignOut(r.Context(), e.User, e.Password)
				}
			}
		}
		if err := m.store.Delete(r.Context(), storeKey(key)); err != nil {
			httperr.Write(w, r, httperr.Wrap(api.CodeSessionStoreUnavailable, "Signing out did not reach the session store; try again.", err))
			return
		}
		m.mu.Lock()
		delete(m.touched, key)
		m.mu.Unlock()
		if m.forget != nil {
			m.forget(key)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	httperr.WriteJSON(w, http.StatusOK, api.Session{})
}
