package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Failed sign-ins allowed within failureWindow: per username and client address together,
// and per client address whatever the usernames. Past either, sign-in answers 429 until the
// window ends. There is deliberately no limit per username alone: anyone could then lock any
// user out, and behind an ingress whose address is every client's, everyone.
const (
	maxPairFailures   = 10
	maxClientFailures = 50
	failureWindow     = 5 * time.Minute
)

// Counter counts failed sign-ins per key in fixed windows. The memory counter serves one
// process; a Redis (cache.Redis) shares the counts between replicas, so N replicas do not
// allow N times the attempts.
type Counter interface {
	// Incr adds one to key's count, starting a window of length window when none runs, and
	// returns the count and the time left in the window.
	Incr(ctx context.Context, key string, window time.Duration) (n int64, left time.Duration, err error)
	// Count returns key's count and the time left in its window (0, 0 when none runs).
	Count(ctx context.Context, key string) (n int64, left time.Duration, err error)
}

// Option changes a setting of New.
type Option func(*Manager)

// WithTrustedProxies names the reverse proxies (networks or single addresses) whose
// X-Forwarded-For header gives the client address; from any other peer the header is
// ignored, since anyone can send it.
func WithTrustedProxies(proxies []netip.Prefix) Option {
	return func(m *Manager) { m.trusted = proxies }
}

// WithCounter keeps the failed sign-in counts in c (a Redis shared by the replicas) instead
// of this process's memory.
func WithCounter(c Counter) Option {
	return func(m *Manager) { m.counter = c }
}

// WithClock sets the clock sessions expire by (tests).
func WithClock(now func() time.Time) Option {
	return func(m *Manager) { m.now = now }
}

// ParseProxies turns --trusted-proxies entries, CIDRs or single addresses, into prefixes.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientAddr returns the address of the client that sent r. The direct peer is the client,
// unless it is a trusted proxy: then X-Forwarded-For is read from the right (each proxy
// appends the address it received from), skipping trusted proxies, and the first address
// that is not one is the client. Entries further left were written by the client itself and
// are never believed. An unreadable entry ends the walk at the proxy that passed it on.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := parseAddr(strings.TrimSpace(hops[i]))
		if !hop.IsValid() {
			break
		}
		client = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	return client
}

// parseAddr reads "ip", "ip:port" or "[ip]:port"; the zero Addr when it is none of them.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientKey names a client for throttling: its address, or its /64 for IPv6, where one
// subscriber commonly holds a whole /64 and could otherwise change address per attempt.
func clientKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// throttleKeys are the counters one sign-in attempt counts against: the user at this client,
// and the client. They are hashed, so a shared Redis holds neither usernames nor addresses.
func throttleKeys(user string, client netip.Addr) (pair, perClient string) {
	h := func(s string) string {
		sum := sha256.Sum256([]byte("berth sign-in\x00" + s))
		return "signin/" + hex.EncodeToString(sum[:16])
	}
	c := clientKey(client)
	return h("pair\x00" + user + "\x00" + c), h("client\x00" + c)
}

// throttled reports whether the attempt is over one of its limits, and for how long.
func (m *Manager) throttled(ctx context.Context, pair, perClient string) (time.Duration, bool, error) {
	for _, k := range []struct {
		key string
		max int64
	}{{pair, maxPairFailures}, {perClient, maxClientFailures}} {
		n, left, err := m.counter.Count(ctx, k.key)
		if err != nil {
			return 0, false, err
		}
		if n >= k.max {
			return left, true, nil
		}
	}
	return 0, false, nil
}

// failed counts a failed sign-in against both keys.
func (m *Manager) failed(ctx context.Context, keys ...string) {
	for _, k := range keys {
		if _, _, err := m.counter.Incr(ctx, k, failureWindow); err != nil {
			// The attempt is over already; the next one finds the counter unreachable and
			// is refused (see signIn), so nothing can be guessed meanwhile.
			return
		}
	}
}

// MemoryCounter counts failed sign-ins in this process.
type MemoryCounter struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]memoryCount
}

type memoryCount struct {
	n   int64
	end time.Time
}

// NewMemoryCounter returns an empty MemoryCounter.
func NewMemoryCounter() *MemoryCounter {
	return &MemoryCounter{now: time.Now, m: map[string]memoryCount{}}
}

// Incr implements Counter.
func (c *MemoryCounter) Incr(_ context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) > 100_000 {
		for k, v := range c.m {
			if !now.Before(v.end) {
				delete(c.m, k)
			}
		}
	}
	v := c.m[key]
	if !now.Before(v.end) {
		v = memoryCount{end: now.Add(window)}
	}
	v.n++
	c.m[key] = v
	return v.n, v.end.Sub(now), nil
}

// Count implements Counter.
func (c *MemoryCounter) Count(_ context.Context, key string) (int64, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	v, ok := c.m[key]
	if !ok || !now.Before(v.end) {
		return 0, 0, nil
	}
	return v.n, v.end.Sub(now), nil
}
