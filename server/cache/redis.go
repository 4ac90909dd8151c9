package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults for NewRedis.
const (
	// DefaultRedisPrefix is put before every key Berth stores in Redis, so one Redis can
	// serve other applications too.
	DefaultRedisPrefix = "berth:"
	// DefaultRedisTimeout bounds every Redis call, so a slow or unreachable Redis costs a
	// page at most this much per lookup before the lookup counts as a miss.
	DefaultRedisTimeout = 250 * time.Millisecond
	// redisLogEvery is the most often a failing Redis is reported.
	redisLogEvery = time.Minute
)

// Redis is a Cache shared by several Berth replicas, stored in a Redis server.
//
// Entries have no expiry unless WithTTL says otherwise: manifests and configs are
// content-addressed and never go stale, so memory is bounded by the Redis server instead.
// Run it with a maxmemory limit and an evicting policy such as allkeys-lru, e.g.
// "redis-server --maxmemory 512mb --maxmemory-policy allkeys-lru"; with the default
// noeviction policy a full Redis refuses writes, which Berth treats as a failed (skipped) Set.
//
// Every call is bounded by a short timeout; a Redis that is slow, down or refusing writes
// turns Get into a miss and Set into a no-op, never into an error or a slow page. Failures are
// logged at most once a minute.
type Redis struct {
	client  *redis.Client
	prefix  string
	ttl     time.Duration
	timeout time.Duration
	logger  *slog.Logger
	addr    string

	mu            sync.Mutex
	failing       atomic.Bool // the last call failed
	lastLogged    time.Time   // when a failure was last logged
	suppressed    int         // failures since then that were not logged
	lastRecovered time.Time   // when a recovery was last logged
}

// RedisOption changes a setting of NewRedis.
type RedisOption func(*Redis)

// WithPrefix sets the prefix put before every key; the default is DefaultRedisPrefix.
func WithPrefix(prefix string) RedisOption {
	return func(r *Redis) { r.prefix = prefix }
}

// WithTTL makes entries expire after ttl; the default, 0, stores them without expiry.
func WithTTL(ttl time.Duration) RedisOption {
	return func(r *Redis) { r.ttl = ttl }
}

// WithTimeout bounds each Redis call, connecting included; the default is
// DefaultRedisTimeout.
func WithTimeout(d time.Duration) RedisOption {
	return func(r *Redis) { r.timeout = d }
}

// WithLogger sets where failures are reported; the default is slog.Default() at the time
// of the report.
func WithLogger(l *slog.Logger) RedisOption {
	return func(r *Redis) { r.logger = l }
}

// NewRedis returns a Redis cache for a URL such as redis://[user:password@]host:port/db, or
// rediss://… for TLS. It does not connect: a Redis that is down at start only means misses
// until it is up. Use Ping to check that it answers.
//
// The first call also sends go-redis' own log lines, which are process-wide and would
// otherwise go to stderr once per failed connection, to slog.Default() at debug level, at
// most one a second.
func NewRedis(rawURL string, opts ...RedisOption) (*Redis, error) {
	routeRedisLogs.Do(func() { redis.SetLogger(&debugLogger{}) })
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("redis URL: not a URL; want one such as redis://host:6379/0")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redis URL %q: want the scheme redis:// or rediss://", u.Redacted())
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL %q: %w", u.Redacted(), err)
	}
	r := &Redis{prefix: DefaultRedisPrefix, timeout: DefaultRedisTimeout, addr: ro.Addr}
	for _, o := range opts {
		o(r)
	}
	if r.timeout <= 0 {
		return nil, fmt.Errorf("redis timeout %v: must be positive", r.timeout)
	}
	if r.ttl < 0 {
		return nil, fmt.Errorf("redis TTL %v: must not be negative", r.ttl)
	}
	// Fail fast: one attempt per call, each step bounded by the per-call timeout, which the
	// client also takes from the context.
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.DialTimeout = r.timeout
	ro.ReadTimeout = r.timeout
	ro.WriteTimeout = r.timeout
	ro.PoolTimeout = r.timeout
	ro.ContextTimeoutEnabled = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if ro.ClientName == "" {
		ro.ClientName = "berth"
	}
	r.client = redis.NewClient(ro)
	return r, nil
}

// Get implements Cache. A Redis that fails or is slower than the timeout is a miss.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool) {
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.client.Get(cctx, r.prefix+key).Bytes()
	switch {
	case err == nil:
		r.ok()
		return b, true
	case errors.Is(err, redis.Nil):
		r.ok()
		return nil, false
	case ctx.Err() != nil:
		// The caller gave up; that says nothing about Redis.
		return nil, false
	default:
		r.fail("get", err)
		return nil, false
	}
}

// Set implements Cache. It is best effort: a failure is logged (rate-limited) and dropped.
// The store goes ahead even if ctx is cancelled meanwhile, since the value is good for every
// later request; the timeout still bounds it.
func (r *Redis) Set(ctx context.Context, key string, value []byte) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	if value == nil {
		// go-redis would write nil as an empty string anyway; be explicit.
		value = []byte{}
	}
	if err := r.client.Set(cctx, r.prefix+key, value, r.ttl).Err(); err != nil {
		r.fail("set", err)
		return
	}
	r.ok()
}

// Put stores value under key for ttl, reporting failure: for data that must not be lost
// silently, such as sessions.
func (r *Redis) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	if err := r.client.Set(cctx, r.prefix+key, value, ttl).Err(); err != nil {
		r.fail("put", err)
		return fmt.Errorf("redis put: %w", err)
	}
	r.ok()
	return nil
}

// Delete removes key.
func (r *Redis) Delete(ctx context.Context, key string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	if err := r.client.Del(cctx, r.prefix+key).Err(); err != nil {
		r.fail("delete", err)
		return fmt.Errorf("redis delete: %w", err)
	}
	r.ok()
	return nil
}

// incrScript adds one to a counter and starts its window on the first increment, atomically,
// so a counter can never be left without expiry; it returns the count and the milliseconds
// left.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
	left = tonumber(ARGV[1])
end
return {n, left}`)

// Incr adds one to the counter key, starting a window of length window when none runs, and
// returns the count and the time left in the window: failed sign-ins counted across replicas
// (session.Counter). Failures are reported, not dropped.
func (r *Redis) Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	res, err := incrScript.Run(cctx, r.client, []string{r.prefix + key}, window.Milliseconds()).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("the counter script answered %v", res)
	}
	if err != nil {
		r.fail("incr", err)
		return 0, 0, fmt.Errorf("redis incr: %w", err)
	}
	r.ok()
	return res[0], time.Duration(res[1]) * time.Millisecond, nil
}

// Count returns the counter key and the time left in its window; 0, 0 when none runs.
func (r *Redis) Count(ctx context.Context, key string) (int64, time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := r.client.Pipelined(cctx, func(p redis.Pipeliner) error {
		get = p.Get(cctx, r.prefix+key)
		ttl = p.PTTL(cctx, r.prefix+key)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		r.ok()
		return 0, 0, nil
	}
	if err != nil {
		r.fail("count", err)
		return 0, 0, fmt.Errorf("redis count: %w", err)
	}
	n, err := get.Int64()
	if err != nil {
		return 0, 0, fmt.Errorf("redis count: %w", err)
	}
	r.ok()
	return n, max(ttl.Val(), 0), nil
}

// Ping reports whether Redis answers within the timeout, for readiness checks.
func (r *Redis) Ping(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.client.Ping(cctx).Err(); err != nil {
		return fmt.Errorf("redis %s: ping: %w", r.addr, err)
	}
	return nil
}

// Close closes the connections to Redis. Calls after Close are misses.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("redis %s: close: %w", r.addr, err)
	}
	return nil
}

// Addr returns the host:port of the Redis server, without credentials.
func (r *Redis) Addr() string { return r.addr }

func (r *Redis) log() *slog.Logger {
	if r.logger != nil {
		return r.logger
	}
	return slog.Default()
}

// fail reports a failed call, at most once a minute, with the number of failures not
// reported since.
func (r *Redis) fail(op string, err error) {
	now := time.Now()
	r.mu.Lock()
	r.failing.Store(true)
	if !r.lastLogged.IsZero() && now.Sub(r.lastLogged) < redisLogEvery {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := r.suppressed
	r.suppressed = 0
	r.lastLogged = now
	r.mu.Unlock()
	r.log().Warn("redis cache unavailable; serving without it", "redis", r.addr, "op", op, "err", err, "failures_not_logged", suppressed)
}

// ok notes a successful call, reporting a recovery after failures at most once a minute.
func (r *Redis) ok() {
	if !r.failing.Load() {
		return
	}
	now := time.Now()
	r.mu.Lock()
	if !r.failing.Swap(false) {
		r.mu.Unlock()
		return
	}
	if !r.lastRecovered.IsZero() && now.Sub(r.lastRecovered) < redisLogEvery {
		r.mu.Unlock()
		return
	}
	r.lastRecovered = now
	r.mu.Unlock()
	r.log().Info("redis cache available again", "redis", r.addr)
}

// routeRedisLogs installs debugLogger once per process.
var routeRedisLogs sync.Once

// debugLogger passes go-redis' log lines to slog.Default() at debug level, dropping those
// that come less than a second after the last one passed.
type debugLogger struct {
	last atomic.Int64 // UnixNano of the last line passed
}

// Printf implements go-redis' logger interface.
func (l *debugLogger) Printf(ctx context.Context, format string, v ...any) {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if now-last < int64(time.Second) || !l.last.CompareAndSwap(last, now) {
		return
	}
	slog.Default().DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// Tiered is a two-level Cache: a small, fast cache in the process in front of a larger
// shared one, such as an LRU in front of Redis. Reads go through: a local hit is answered
// at once, a shared hit is copied into the local cache. Writes go to both.
type Tiered struct {
	local  Cache
	shared Cache
}

// NewTiered returns a Tiered cache reading local first, then shared.
func NewTiered(local, shared Cache) *Tiered {
	return &Tiered{local: local, shared: shared}
}

// Get implements Cache.
func (t *Tiered) Get(ctx context.Context, key string) ([]byte, bool) {
	if b, ok := t.local.Get(ctx, key); ok {
		return b, true
	}
	b, ok := t.shared.Get(ctx, key)
	if !ok {
		return nil, false
	}
	t.local.Set(ctx, key, b)
	return b, true
}

// Set implements Cache.
func (t *Tiered) Set(ctx context.Context, key string, value []byte) {
	t.local.Set(ctx, key, value)
	t.shared.Set(ctx, key, value)
}
