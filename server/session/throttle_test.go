package session_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/cache/redistest"
	"github.com/berth-registry/berth/server/session"
)

// from returns an HTTP client whose connections leave from the loopback address local
// (127.0.0.2, 127.0.0.3, …: all of 127/8 is loopback on Linux), so one test can be several
// clients with addresses of their own.
func from(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// attempt signs in as user with pass, sending X-Forwarded-For xff when set, and returns the
// status.
func attempt(t *testing.T, c *http.Client, base, user, pass, xff string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/session", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// hammer makes n failed sign-ins as user and wants each refused with 401.
func hammer(t *testing.T, c *http.Client, base, user, xff string, n int) {
	t.Helper()
	for i := range n {
		if code := attempt(t, c, base, user, "guess", xff); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d for %s: status %d, want 401", i+1, user, code)
		}
	}
}

// TestMalloryCannotLockAliceOut: mallory's wrong passwords for alice throttle mallory, not
// alice signing in from elsewhere.
func TestMalloryCannotLockAliceOut(t *testing.T) {
	srv := replica(t, session.NewMemoryStore(), time.Hour)
	mallory, alice := from(t, "127.0.0.2"), from(t, "127.0.0.3")
	hammer(t, mallory, srv.URL, "alice", "", 10)
	if code := attempt(t, mallory, srv.URL, "alice", password, ""); code != http.StatusTooManyRequests {
		t.Fatalf("mallory's 11th try: %d, want 429", code)
	}
	if code := attempt(t, alice, srv.URL, "alice", password, ""); code != http.StatusOK {
		t.Fatalf("alice from her own address after mallory's tries: %d, want 200", code)
	}
	// Mallory is not stopped only for alice: a client spraying many usernames hits the
	// per-client cap.
	spray := from(t, "127.0.0.4")
	for i := range 50 {
		if code := attempt(t, spray, srv.URL, fmt.Sprint("user", i), "guess", ""); code != http.StatusUnauthorized {
			t.Fatalf("spray %d: %d, want 401", i, code)
		}
	}
	if code := attempt(t, spray, srv.URL, "someone-else", "guess", ""); code != http.StatusTooManyRequests {
		t.Fatalf("after 50 failures over many usernames: %d, want 429", code)
	}
	if code := attempt(t, alice, srv.URL, "alice", password, ""); code != http.StatusOK {
		t.Fatalf("alice after the spray: %d, want 200", code)
	}
}

// TestForwardedForOnlyFromTrustedProxies puts Berth behind a trusted proxy (127.0.0.1): the
// clients it forwards are told apart by X-Forwarded-For, a header a client adds itself is not
// believed, and an untrusted peer's header is ignored altogether.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	srv := throttledReplica(t, session.NewMemoryStore(), time.Hour, nil, []string{"127.0.0.1"})
	ingress := from(t, "127.0.0.1")
	// Behind the ingress, mallory (10.0.0.66) locks only herself out, not alice (10.0.0.7).
	hammer(t, ingress, srv.URL, "alice", "10.0.0.66", 10)
	if code := attempt(t, ingress, srv.URL, "alice", password, "10.0.0.66"); code != http.StatusTooManyRequests {
		t.Fatalf("mallory behind the ingress: %d, want 429", code)
	}
	if code := attempt(t, ingress, srv.URL, "alice", password, "10.0.0.7"); code != http.StatusOK {
		t.Fatalf("alice behind the same ingress: %d, want 200", code)
	}
	// Mallory writes a fresh address of her own before the one the ingress appends: still
	// mallory.
	if code := attempt(t, ingress, srv.URL, "alice", password, "192.0.2.1, 10.0.0.66"); code != http.StatusTooManyRequests {
		t.Fatalf("a client-written X-Forwarded-For entry was believed: %d, want 429", code)
	}

	// From a peer that is no trusted proxy, the header changes nothing: rotating it does not
	// escape the throttle.
	direct := from(t, "127.0.0.5")
	for i := range 10 {
		if code := attempt(t, direct, srv.URL, "alice", "guess", fmt.Sprintf("10.9.0.%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("direct try %d: %d", i, code)
		}
	}
	if code := attempt(t, direct, srv.URL, "alice", password, "10.9.0.200"); code != http.StatusTooManyRequests {
		t.Fatalf("X-Forwarded-For from an untrusted peer was believed: %d, want 429", code)
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := access.ParseProxies([]string{"10.0.0.0/8", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"192.0.2.9:1234", "", "192.0.2.9"},
		{"192.0.2.9:1234", "198.51.100.1", "192.0.2.9"},                  // untrusted peer: header ignored
		{"10.1.2.3:443", "198.51.100.1", "198.51.100.1"},                 // one trusted proxy
		{"10.1.2.3:443", "203.0.113.5, 198.51.100.1", "198.51.100.1"},    // the client's own entry is not believed
		{"10.1.2.3:443", "198.51.100.1, 10.9.9.9", "198.51.100.1"},       // two trusted proxies
		{"10.1.2.3:443", "10.7.7.7, 10.9.9.9", "10.7.7.7"},               // everyone trusted: the leftmost
		{"10.1.2.3:443", "198.51.100.1, garbage", "10.1.2.3"},            // an unreadable entry stops at the proxy
		{"[2001:db8::1]:443", "[2001:db8::99]:5555", "2001:db8::99"},     // IPv6 with ports
		{"[::ffff:10.1.2.3]:443", "::ffff:198.51.100.1", "198.51.100.1"}, // v4-mapped addresses unmapped
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := access.ClientAddr(r, trusted); got != netip.MustParseAddr(tc.want) {
			t.Errorf("peer %s, X-Forwarded-For %q: %v, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
	if _, err := access.ParseProxies([]string{"not-an-address"}); err == nil {
		t.Error("ParseProxies took a name")
	}
}

// TestThrottleSharedThroughRedis runs two replicas counting failed sign-ins in one real
// redis-server: failures on either count for both, so two replicas do not allow twice the
// tries.
func TestThrottleSharedThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	newReplica := func() *httptest.Server {
		r, err := cache.NewRedis(srv.URL, cache.WithPrefix("throttle-test:"), cache.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return throttledReplica(t, r, time.Hour, r, nil)
	}
	a, b := newReplica(), newReplica()
	mallory := from(t, "127.0.0.2")
	hammer(t, mallory, a.URL, "alice", "", 5)
	hammer(t, mallory, b.URL, "alice", "", 5)
	for name, base := range map[string]string{"A": a.URL, "B": b.URL} {
		if code := attempt(t, mallory, base, "alice", password, ""); code != http.StatusTooManyRequests {
			t.Errorf("replica %s after 5 failures on each: %d, want 429", name, code)
		}
	}
	if code := attempt(t, from(t, "127.0.0.3"), b.URL, "alice", password, ""); code != http.StatusOK {
		t.Errorf("alice from elsewhere: %d, want 200", code)
	}

	// With Redis gone the password is not checked at all: guessing must not go uncounted.
	srv.Kill(t)
	if code := attempt(t, from(t, "127.0.0.6"), a.URL, "alice", password, ""); code != http.StatusServiceUnavailable {
		t.Errorf("with Redis down: %d, want 503", code)
	}
}

// The Redis cache is a Counter.
var _ session.Counter = (*cache.Redis)(nil)
