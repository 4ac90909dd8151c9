package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/berth-registry/berth/server/config"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
)

const password = "hunter2-but-longer"

// check accepts alice with password, as a registry would.
func check(_ context.Context, a authn.Authenticator) error {
	cfg, err := a.Authorization()
	if err != nil {
		return err
	}
	if cfg.Username == "alice" && cfg.Password == password {
		return nil
	}
	return httperr.New(api.CodeInvalidCredentials, "The registry rejected that username or password.")
}

// replica serves one Berth replica: the session endpoints, and /whoami answering the user
// whose credentials the request presents.
func replica(t *testing.T, store session.Store, ttl time.Duration, opts ...session.Option) *httptest.Server {
	return throttledReplica(t, store, ttl, nil, nil, opts...)
}

// throttledReplica is replica with its sign-in throttle counting in counter (memory when
// nil), behind the trusted proxies.
func throttledReplica(t *testing.T, store session.Store, ttl time.Duration, counter session.Counter, trusted []string, opts ...session.Option) *httptest.Server {
	t.Helper()
	m := session.New(ttl, session.Throttled(session.NewCredentialLimiter(counter), check), nil, store, opts...)
	mux := http.NewServeMux()
	site.API(mux, site.Services{Sessions: m, Authenticator: registry.Authenticator{}, Config: config.Config{TrustedProxies: trusted}}, nil)
	mux.Handle("/whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := m.Credentials(r)
		io.WriteString(w, c.User)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func signIn(t *testing.T, base string) *http.Cookie {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
	resp, err := http.Post(base+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == session.CookieName {
			return c
		}
	}
	t.Fatalf("sign-in: status %d, no cookie", resp.StatusCode)
	return nil
}

func whoami(t *testing.T, base string, c *http.Cookie) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/whoami", nil)
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// recordingStore is a MemoryStore that remembers everything ever put in it.
type recordingStore struct {
	*session.MemoryStore
	seen [][]byte
}

func (s *recordingStore) Put(ctx context.Context, key string, sealed []byte, ttl time.Duration) error {
	s.seen = append(s.seen, append([]byte(key+"="), sealed...))
	return s.MemoryStore.Put(ctx, key, sealed, ttl)
}

// TestSessionsAcrossReplicas signs in on one replica and uses the session on another that
// shares the store, as replicas behind a load balancer share a Redis; signing out anywhere
// ends it everywhere, and the store never holds the password or the cookie.
func TestSessionsAcrossReplicas(t *testing.T) {
	store := &recordingStore{MemoryStore: session.NewMemoryStore()}
	a, b := replica(t, store, time.Hour), replica(t, store, time.Hour)

	cookie := signIn(t, a.URL)
	if got := whoami(t, b.URL, cookie); got != "alice" {
		t.Fatalf("replica B sees %q, want alice", got)
	}
	for _, s := range store.seen {
		if bytes.Contains(s, []byte(password)) || bytes.Contains(s, []byte(cookie.Value)) {
			t.Fatal("the store holds the password or the cookie in the clear")
		}
	}

	forged := &http.Cookie{Name: session.CookieName, Value: strings.Repeat("A", len(cookie.Value))}
	if got := whoami(t, a.URL, forged); got != "" {
		t.Fatalf("a forged cookie is %q", got)
	}

	req, _ := http.NewRequest(http.MethodDelete, b.URL+"/api/v1/session", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := whoami(t, a.URL, cookie); got != "" {
		t.Fatalf("after signing out on B, A still sees %q", got)
	}
}

func TestSessionExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := replica(t, session.NewMemoryStore(), time.Hour, session.WithClock(clock))
	cookie := signIn(t, srv.URL)
	if got := whoami(t, srv.URL, cookie); got != "alice" {
		t.Fatalf("fresh session: %q", got)
	}
	mu.Lock()
	now = now.Add(59 * time.Minute) // idle, but within the TTL
	mu.Unlock()
	if got := whoami(t, srv.URL, cookie); got != "alice" {
		t.Fatalf("a session idle for less than its TTL ended: %q", got)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if got := whoami(t, srv.URL, cookie); got != "" {
		t.Fatalf("an idle session outlived its TTL: %q", got)
	}
}

// failingStore is a session store that cannot be reached.
type failingStore struct{ *session.MemoryStore }

func (failingStore) Put(context.Context, string, []byte, time.Duration) error {
	return errors.New("connection refused")
}

func TestSignInWithStoreDownSaysSo(t *testing.T) {
	srv := replica(t, failingStore{session.NewMemoryStore()}, time.Hour)
	body, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
	resp, err := http.Post(srv.URL+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error struct{ Code api.Code } }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Error.Code != api.CodeSessionStoreUnavailable || len(resp.Cookies()) != 0 {
		t.Fatalf("status %d code %q cookies %d; want 503 SESSION_STORE_UNAVAILABLE and no cookie", resp.StatusCode, e.Error.Code, len(resp.Cookies()))
	}
}

func TestRepeatedWrongPasswordsAreThrottled(t *testing.T) {
	srv := replica(t, session.NewMemoryStore(), time.Hour)
	try := func(pass string) *http.Response {
		body, _ := json.Marshal(map[string]string{"username": "alice", "password": pass})
		resp, err := http.Post(srv.URL+"/api/v1/session", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 10 {
		if resp := try("guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := try(password) // even the right one waits now
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: status %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
