package auth_test

import (
	"github.com/berth-registry/berth/server/session"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/cache/redistest"
	"github.com/berth-registry/berth/server/site"
)

// TestTokenThrottleSharedThroughRedis: two replicas' token services over one real
// redis-server count failed sign-ins together, so spreading guesses over replicas gains
// nothing; when Redis is gone, they refuse to check passwords (503) rather than count
// nothing.
func TestTokenThrottleSharedThroughRedis(t *testing.T) {
	f := newFixture(t)
	rs := redistest.Start(t)
	replica := func() string {
		t.Helper()
		// A generous per-call timeout: the production 250 ms can run out on a loaded machine.
		shared, err := cache.NewRedis(rs.URL, cache.WithTimeout(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = shared.Close() })
		c, err := auth.New(t.Context(), auth.Options{Store: f.st, Secret: f.secret, Issuer: issuer, Service: service, TTL: 5 * time.Minute, Limiter: session.NewCredentialLimiter(shared)})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		site.Tokens(mux, c.Tokens, nil)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	a, b := replica(), replica()
	try := func(base, password string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/auth/token?service="+service+"&scope=repository:web/app:pull", nil)
		req.SetBasicAuth("vic", password)
		status, _, _ := do(t, req)
		return status
	}
	if s := try(a, pw); s != 200 {
		t.Fatalf("right password: %d", s)
	}
	// Ten wrong passwords, alternating between the replicas.
	for i := range 10 {
		base := map[bool]string{true: a, false: b}[i%2 == 0]
		if s := try(base, "guess"); s != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, s)
		}
	}
	for _, base := range []string{a, b} {
		if s := try(base, "guess"); s != http.StatusTooManyRequests {
			t.Fatalf("after 10 failures over two replicas, %s answers %d, want 429", base, s)
		}
		if s := try(base, pw); s != http.StatusTooManyRequests {
			t.Fatalf("the right password while throttled, %s answers %d, want 429", base, s)
		}
	}
	// Another user from the same address is not locked out (the pair counts, not the user).
	req, _ := http.NewRequest(http.MethodGet, a+"/auth/token?service="+service, nil)
	req.SetBasicAuth("dev", pw)
	if s, _, _ := do(t, req); s != 200 {
		t.Fatalf("dev at the same address: %d", s)
	}
	rs.Kill(t)
	if s := try(b, pw); s != http.StatusServiceUnavailable {
		t.Fatalf("Redis gone: %d, want 503", s)
	}
}
