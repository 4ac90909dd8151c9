package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/cache/redistest"
	"github.com/berth-registry/berth/server/session"
)

// Every implementation satisfies the interface the catalog uses.
var (
	_ cache.Cache = (*cache.Redis)(nil)
	_ cache.Cache = (*cache.Tiered)(nil)
)

// contractLRUBytes holds everything the contract stores, the 1 MiB value included.
const contractLRUBytes = 64 << 20

// contractTimeout is the per-call Redis timeout in the contract tests: generous, so a busy
// machine running -race does not turn hits into misses.
const contractTimeout = 5 * time.Second

// testCache is the behaviour every Cache must have. newCache returns a cache that is empty
// (as far as the keys used here go) each time it is called.
func testCache(t *testing.T, newCache func(t *testing.T) cache.Cache) {
	t.Run("miss", func(t *testing.T) {
		c := newCache(t)
		if got, ok := c.Get(t.Context(), "absent"); ok {
			t.Fatalf("Get(absent) = %q, want a miss", got)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		big := make([]byte, 1<<20)
		rnd := rand.New(rand.NewPCG(1, 2))
		for i := range big {
			big[i] = byte(rnd.UintN(256))
		}
		values := map[string][]byte{
			"text":   []byte(`{"schemaVersion":2}`),
			"binary": {0x00, 0x01, 0xff, 0x00, '\r', '\n', 0x80},
			"nul":    {0x00},
			"crlf":   []byte("$5\r\nhello\r\n"),
			"1MiB":   big,
		}
		c := newCache(t)
		ctx := t.Context()
		for k, v := range values {
			c.Set(ctx, k, v)
		}
		for k, want := range values {
			contractGet(t, c, k, want)
		}
	})

	t.Run("empty value", func(t *testing.T) {
		c := newCache(t)
		c.Set(t.Context(), "empty", []byte{})
		got, ok := c.Get(t.Context(), "empty")
		if !ok || len(got) != 0 {
			t.Fatalf("Get(empty) = %q, %v; want an empty hit", got, ok)
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		c := newCache(t)
		ctx := t.Context()
		c.Set(ctx, "k", []byte("first"))
		c.Set(ctx, "other", []byte("untouched"))
		c.Set(ctx, "k", []byte("second, longer"))
		contractGet(t, c, "k", []byte("second, longer"))
		c.Set(ctx, "k", []byte("3"))
		contractGet(t, c, "k", []byte("3"))
		contractGet(t, c, "other", []byte("untouched"))
	})

	t.Run("odd keys", func(t *testing.T) {
		keys := []string{
			"manifest/sha256:" + strings.Repeat("ab", 32),
			"sha256:0123456789abcdef",
			"a:b::c:",
			"library/alpine/v2/x",
			"/leading/and/trailing/",
			"with space and\ttab",
			"line\nbreak",
			"ünïcødé/标签",
			"nul\x00inside",
			"*?[glob]",
			strings.Repeat("long", 256),
		}
		c := newCache(t)
		ctx := t.Context()
		for i, k := range keys {
			c.Set(ctx, k, []byte(strconv.Itoa(i)))
		}
		for i, k := range keys {
			contractGet(t, c, k, []byte(strconv.Itoa(i)))
		}
		// Keys that differ only in what follows a separator stay apart.
		if _, ok := c.Get(ctx, "sha256"); ok {
			t.Error(`Get("sha256") hit; only "sha256:…" keys were set`)
		}
		if _, ok := c.Get(ctx, "nul"); ok {
			t.Error(`Get("nul") hit; only "nul\x00inside" was set`)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		const (
			goroutines = 16
			ops        = 200
			keys       = 61
		)
		c := newCache(t)
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				for i := range ops {
					key := fmt.Sprintf("sha256:%d", (g*ops+i)%keys)
					// Derived from the key, so whoever wrote it, a hit carries this content.
					want := []byte(key + "\x00" + key)
					c.Set(ctx, key, want)
					if got, ok := c.Get(ctx, key); ok && !bytes.Equal(got, want) {
						errs <- fmt.Errorf("Get(%q) = %q, want %q", key, got, want)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i := range keys {
			key := fmt.Sprintf("sha256:%d", i)
			contractGet(t, c, key, []byte(key+"\x00"+key))
		}
	})
}

// contractGet fails the test unless c holds want under key.
func contractGet(t *testing.T, c cache.Cache, key string, want []byte) {
	t.Helper()
	got, ok := c.Get(t.Context(), key)
	if !ok {
		t.Errorf("Get(%q): miss, want %d bytes", key, len(want))
		return
	}
	if !bytes.Equal(got, want) {
		if len(want) > 64 {
			t.Errorf("Get(%q): %d bytes differing from the %d set", key, len(got), len(want))
			return
		}
		t.Errorf("Get(%q) = %q, want %q", key, got, want)
	}
}

func TestLRUContract(t *testing.T) {
	testCache(t, func(t *testing.T) cache.Cache { return cache.NewLRU(contractLRUBytes) })
}

func TestRedisContract(t *testing.T) {
	srv := redistest.Start(t)
	testCache(t, func(t *testing.T) cache.Cache { return newTestRedis(t, srv.URL, uniquePrefix(t)) })
}

func TestTieredContract(t *testing.T) {
	srv := redistest.Start(t)
	testCache(t, func(t *testing.T) cache.Cache {
		return cache.NewTiered(cache.NewLRU(contractLRUBytes), newTestRedis(t, srv.URL, uniquePrefix(t)))
	})
}

// The tiered cache also holds with an LRU as the shared level, which needs no Redis.
func TestTieredOverLRUContract(t *testing.T) {
	testCache(t, func(t *testing.T) cache.Cache {
		return cache.NewTiered(cache.NewLRU(contractLRUBytes), cache.NewLRU(contractLRUBytes))
	})
}

func TestTieredReadThrough(t *testing.T) {
	ctx := t.Context()
	local, shared := cache.NewLRU(1<<10), cache.NewLRU(1<<10)
	c := cache.NewTiered(local, shared)

	shared.Set(ctx, "sha256:a", []byte("from another replica"))
	contractGet(t, c, "sha256:a", []byte("from another replica"))
	// The shared hit was copied into the local level.
	contractGet(t, local, "sha256:a", []byte("from another replica"))

	c.Set(ctx, "sha256:b", []byte("written here"))
	contractGet(t, local, "sha256:b", []byte("written here"))
	contractGet(t, shared, "sha256:b", []byte("written here"))

	// A local hit is answered without the shared level.
	local.Set(ctx, "sha256:c", []byte("local only"))
	contractGet(t, c, "sha256:c", []byte("local only"))
	if _, ok := shared.Get(ctx, "sha256:c"); ok {
		t.Error("a local hit was written to the shared level")
	}
}

func TestTieredReplicasShareRedis(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	a := cache.NewTiered(cache.NewLRU(1<<20), newTestRedis(t, srv.URL, prefix))
	b := cache.NewTiered(cache.NewLRU(1<<20), newTestRedis(t, srv.URL, prefix))
	a.Set(t.Context(), "sha256:shared", []byte("manifest"))
	contractGet(t, b, "sha256:shared", []byte("manifest"))
}

func TestRedisPrefixAndTTL(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	raw := rawClient(t, srv.URL)

	def, err := cache.NewRedis(srv.URL, cache.WithTimeout(contractTimeout))
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = def.Close() })
	def.Set(ctx, "sha256:x", []byte("v"))
	if got, err := raw.Get(ctx, "berth:sha256:x").Result(); err != nil || got != "v" {
		t.Fatalf(`raw GET "berth:sha256:x" = %q, %v; want "v" under the default prefix`, got, err)
	}
	if ttl, err := raw.PTTL(ctx, "berth:sha256:x").Result(); err != nil || ttl != -1 {
		t.Errorf("PTTL without WithTTL = %v, %v; want -1 (no expiry)", ttl, err)
	}

	expiring, err := cache.NewRedis(srv.URL, cache.WithPrefix("other/"), cache.WithTTL(time.Hour), cache.WithTimeout(contractTimeout))
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = expiring.Close() })
	expiring.Set(ctx, "sha256:x", []byte("w"))
	if ttl, err := raw.PTTL(ctx, "other/sha256:x").Result(); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("PTTL with WithTTL(1h) = %v, %v; want within (0, 1h]", ttl, err)
	}
	// Different prefixes do not see each other's entries.
	contractGet(t, def, "sha256:x", []byte("v"))
	contractGet(t, expiring, "sha256:x", []byte("w"))

	if err := def.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestNewRedisRejects(t *testing.T) {
	tests := []struct {
		name, url string
	}{
		{"other scheme", "http://127.0.0.1:6379"},
		{"no scheme", "127.0.0.1:6379"},
		{"bad database", "redis://:s3cret@127.0.0.1:6379/notanumber"},
		{"unknown option", "redis://:s3cret@127.0.0.1:6379/0?colour=blue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := cache.NewRedis(tt.url)
			if err == nil {
				_ = r.Close()
				t.Fatalf("NewRedis(%q) succeeded, want an error", tt.url)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
	if _, err := cache.NewRedis("redis://127.0.0.1:6379", cache.WithTimeout(0)); err == nil {
		t.Error("NewRedis with a zero timeout succeeded, want an error")
	}
	for _, ok := range []string{"redis://127.0.0.1:6379", "rediss://user:pw@cache.example.com:6380/2", "redis://localhost"} {
		r, err := cache.NewRedis(ok)
		if err != nil {
			t.Errorf("NewRedis(%q): %v", ok, err)
			continue
		}
		_ = r.Close()
	}
}

// A Redis that dies turns reads into quick misses and writes into no-ops, logged once.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The default per-call timeout, as in production.
	r, err := cache.NewRedis(srv.URL, cache.WithPrefix(uniquePrefix(t)), cache.WithLogger(logger))
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	c := cache.NewTiered(cache.NewLRU(1<<20), r)
	ctx := t.Context()
	storeWhileUp(t, c, r, "sha256:before", []byte("stored while up"))

	srv.Kill(t)

	// Generous: the point is that nothing hangs, not how fast a miss is.
	const bound = 5 * time.Second
	within(t, bound, "Get on a dead Redis", func() {
		if got, ok := r.Get(ctx, "sha256:before"); ok {
			t.Errorf("Get from a dead Redis = %q, want a miss", got)
		}
	})
	within(t, bound, "Set on a dead Redis", func() { r.Set(ctx, "sha256:after", []byte("lost")) })
	within(t, bound, "Ping on a dead Redis", func() {
		if err := r.Ping(ctx); err == nil {
			t.Error("Ping on a dead Redis succeeded, want an error")
		}
	})
	// The tiered cache still answers from its local level.
	within(t, bound, "tiered Get on a dead Redis", func() {
		contractGet(t, c, "sha256:before", []byte("stored while up"))
		if _, ok := c.Get(ctx, "sha256:unknown"); ok {
			t.Error("tiered Get of an unknown key hit")
		}
		c.Set(ctx, "sha256:local", []byte("kept locally"))
		contractGet(t, c, "sha256:local", []byte("kept locally"))
	})
	within(t, 4*bound, "many calls on a dead Redis", func() {
		for i := range 20 {
			r.Get(ctx, "sha256:"+strconv.Itoa(i))
			r.Set(ctx, "sha256:"+strconv.Itoa(i), []byte("x"))
		}
	})
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("a dead Redis was reported %d times, want once a minute:\n%s", n, logs.String())
	}
}

// A Redis that stops answering (here: SIGSTOP, so connections are accepted but never
// served) costs each call its timeout, then a miss; nothing waits for it.
func TestRedisStalled(t *testing.T) {
	srv := redistest.Start(t)
	r, err := cache.NewRedis(srv.URL, cache.WithPrefix(uniquePrefix(t)),
		cache.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := t.Context()
	storeWhileUp(t, r, r, "sha256:k", []byte("v"))

	if err := srv.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("stop redis-server: %v", err)
	}
	// Resume before the cleanup kills it, so it is not left stopped if killing fails.
	t.Cleanup(func() { _ = srv.Cmd.Process.Signal(syscall.SIGCONT) })

	const bound = 5 * time.Second
	within(t, bound, "Get on a stalled Redis", func() {
		if got, ok := r.Get(ctx, "sha256:k"); ok {
			t.Errorf("Get from a stalled Redis = %q, want a miss", got)
		}
	})
	within(t, bound, "Set on a stalled Redis", func() { r.Set(ctx, "sha256:k2", []byte("v2")) })
	within(t, bound, "Ping on a stalled Redis", func() {
		if err := r.Ping(ctx); err == nil {
			t.Error("Ping on a stalled Redis succeeded, want an error")
		}
	})
}

// A caller that gives up gets a miss, and Redis is not blamed for it.
func TestRedisCancelledContext(t *testing.T) {
	srv := redistest.Start(t)
	var logs lockedBuffer
	r, err := cache.NewRedis(srv.URL, cache.WithPrefix(uniquePrefix(t)), cache.WithTimeout(contractTimeout),
		cache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// Set outlives the caller's cancellation: the value serves every later request.
	r.Set(ctx, "sha256:k", []byte("v"))
	if _, ok := r.Get(ctx, "sha256:k"); ok {
		t.Error("Get with a cancelled context hit, want a miss")
	}
	contractGet(t, r, "sha256:k", []byte("v"))
	if logs.Len() != 0 {
		t.Errorf("a cancelled caller was logged as a Redis failure:\n%s", logs.String())
	}
}

// storeWhileUp sets key through c until r reads it back: with the production timeout of
// 250 ms, one call to a healthy Redis may run out on a loaded machine, which is not what the
// outage tests are about.
func storeWhileUp(t *testing.T, c, r cache.Cache, key string, val []byte) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		c.Set(t.Context(), key, val)
		if got, ok := r.Get(t.Context(), key); ok && bytes.Equal(got, val) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not stored in Redis within a minute", key)
		}
	}
}

// within runs f and fails the test if it has not returned after d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v", what, d)
	}
	t.Logf("%s returned in %v", what, time.Since(start).Round(time.Millisecond))
}

// uniquePrefix keeps the entries of tests sharing one Redis server apart.
func uniquePrefix(t *testing.T) string { return "test:" + t.Name() + ":" }

// newTestRedis returns a Redis cache closed when the test ends.
func newTestRedis(t *testing.T, url, prefix string) *cache.Redis {
	t.Helper()
	r, err := cache.NewRedis(url, cache.WithPrefix(prefix), cache.WithTimeout(contractTimeout))
	if err != nil {
		t.Fatalf("NewRedis(%q): %v", url, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// rawClient is a plain go-redis client, to look at what the cache stored.
func rawClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", url, err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// TestRedisSessionStore checks what sessions need of Redis (see session.Store): Put with a
// time to live, Get, and Delete, against a real redis-server.
func TestRedisSessionStore(t *testing.T) {
	srv := redistest.Start(t)
	r := newTestRedis(t, srv.URL, uniquePrefix(t))
	var _ session.Store = r
	ctx := t.Context()
	// An hour, so a loaded machine's Put → Get cannot outlast it; session/b tests expiry.
	if err := r.Put(ctx, "session/a", []byte("sealed"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Get(ctx, "session/a"); !ok || string(got) != "sealed" {
		t.Fatalf("Get after Put = %q, %v", got, ok)
	}
	if err := r.Delete(ctx, "session/a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get(ctx, "session/a"); ok {
		t.Fatal("Get after Delete found the session")
	}
	if err := r.Put(ctx, "session/b", []byte("sealed"), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, ok := r.Get(ctx, "session/b"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a session outlived its time to live in Redis")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
