package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
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

// BearerResolver names the user of a bearer token, or says it is none Berth issued; the
// token is checked in full afterwards, as a password is.
type BearerResolver func(token string) (user string, ok bool)

// WithBearer makes the middleware take "Authorization: Bearer" tokens that resolve names
// as the request's principal (a static site's access tokens).
func WithBearer(resolve BearerResolver) Option {
	return func(m *Manager) { m.bearer = resolve }
}

// WithSignOut calls f with a session's user and credentials when it is signed out, so the
// credentials minted for it (an OpenID Connect sign-in's session token) can be revoked.
func WithSignOut(f func(ctx context.Context, user, secret string)) Option {
	return func(m *Manager) { m.onSignOut = f }
}

// WithClock sets the clock sessions expire by (tests).
func WithClock(now func() time.Time) Option {
	return func(m *Manager) { m.now = now }
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

// Limiter throttles failed attempts to sign in (a password form, a token endpoint): per
// username and client address together, and per client address whatever the usernames, in
// fixed windows kept by a Counter. The sign-in form and the registry's token service each
// have one, over the same Counter, so with a Redis every replica counts with the others.
type Limiter struct {
	counter            Counter
	name               string
	perPair, perClient int64
	window             time.Duration
}

// NewCredentialLimiter returns the one throttle every credential check goes through (the
// sign-in form, Basic credentials on any route, the token service, the static site's token
// endpoint): 10 failures per username and client, 50 per client, in 5 minutes, counted in c
// (a Redis the replicas share, or this process's memory when nil).
func NewCredentialLimiter(c Counter) *Limiter {
	if c == nil {
		c = NewMemoryCounter()
	}
	return NewLimiter(c, "credentials", maxPairFailures, maxClientFailures, failureWindow)
}

// NewLimiter allows perPair failures per username and client, and perClient per client,
// within window; name keeps its counts apart from other limiters' in c.
func NewLimiter(c Counter, name string, perPair, perClient int64, window time.Duration) *Limiter {
	return &Limiter{counter: c, name: name, perPair: perPair, perClient: perClient, window: window}
}

// keys are the counters one attempt counts against: the user at this client, and the
// client. They are hashed, so a shared Redis holds neither usernames nor addresses.
func (l *Limiter) keys(user string, client netip.Addr) (pair, perClient string) {
	h := func(s string) string {
		sum := sha256.Sum256([]byte("berth " + l.name + "\x00" + s))
		return l.name + "/" + hex.EncodeToString(sum[:16])
	}
	c := clientKey(client)
	return h("pair\x00" + user + "\x00" + c), h("client\x00" + c)
}

// Check refuses an attempt by user from the client in ctx (access.WithClient) while either of
// its counts is at its limit: 429 with how long to wait. When the counts cannot be read it
// refuses with 503, since checking a secret without counting failures would let it be
// guessed freely.
func (l *Limiter) Check(ctx context.Context, user string) error {
	pair, perClient := l.keys(user, access.ClientFrom(ctx))
	for _, k := range []struct {
		key string
		max int64
	}{{pair, l.perPair}, {perClient, l.perClient}} {
		n, left, err := l.counter.Count(ctx, k.key)
		if err != nil {
			return httperr.Wrap(api.CodeSessionStoreUnavailable, "Signing in is not possible right now: the failed sign-in counts cannot be read.", err)
		}
		if n >= k.max {
			wait := max(left, time.Second)
			e := httperr.New(api.CodeTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %d seconds.", int(math.Ceil(wait.Seconds()))))
			e.RetryAfter = wait
			return e
		}
	}
	return nil
}

// Fail counts a failed attempt of user from the client in ctx.
func (l *Limiter) Fail(ctx context.Context, user string) {
	pair, perClient := l.keys(user, access.ClientFrom(ctx))
	for _, k := range []string{pair, perClient} {
		if _, _, err := l.counter.Incr(ctx, k, l.window); err != nil {
			// The attempt is over already; the next one finds the counter unreachable and
			// is refused (see Check), so nothing can be guessed meanwhile.
			return
		}
	}
}

// Throttled returns check behind l: refused while l says so, and every rejection counted.
func Throttled(l *Limiter, check Checker) Checker {
	return func(ctx context.Context, auth authn.Authenticator) error {
		cfg, err := auth.Authorization()
		if err != nil {
			return err
		}
		if err := l.Check(ctx, cfg.Username); err != nil {
			return err
		}
		err = check(ctx, auth)
		if httperr.Is(err, api.CodeInvalidCredentials) {
			l.Fail(ctx, cfg.Username)
		}
		return err
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
