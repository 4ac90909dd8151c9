package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/berth-registry/berth/server/cache"
)

// The LRU must satisfy the interface the catalog uses.
var _ cache.Cache = (*cache.LRU)(nil)

// value returns n bytes, distinct per fill byte.
func value(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

// mustGet fails the test unless key holds want.
func mustGet(t *testing.T, c *cache.LRU, key string, want []byte) {
	t.Helper()
	got, ok := c.Get(t.Context(), key)
	if !ok {
		t.Fatalf("Get(%q): missing, want %d bytes", key, len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

// mustMiss fails the test if key is present.
func mustMiss(t *testing.T, c *cache.LRU, key string) {
	t.Helper()
	if got, ok := c.Get(t.Context(), key); ok {
		t.Fatalf("Get(%q) = %q, want a miss", key, got)
	}
}

func checkSize(t *testing.T, c *cache.LRU, entries int, size int64) {
	t.Helper()
	if c.Len() != entries || c.Bytes() != size {
		t.Fatalf("Len, Bytes = %d, %d; want %d, %d", c.Len(), c.Bytes(), entries, size)
	}
}

func TestGetSet(t *testing.T) {
	ctx := t.Context()
	c := cache.NewLRU(1 << 10)
	checkSize(t, c, 0, 0)
	mustMiss(t, c, "a")

	c.Set(ctx, "a", []byte("alpha"))
	c.Set(ctx, "bb", []byte("beta"))
	mustGet(t, c, "a", []byte("alpha"))
	mustGet(t, c, "bb", []byte("beta"))
	mustMiss(t, c, "c")
	// Bytes counts keys and values: 1+5 + 2+4.
	checkSize(t, c, 2, 12)

	c.Set(ctx, "empty", nil)
	got, ok := c.Get(ctx, "empty")
	if !ok || len(got) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want an empty hit", got, ok)
	}
	checkSize(t, c, 3, 17)
}

func TestEvictionOrder(t *testing.T) {
	// Each entry is a 1-byte key plus a 9-byte value: 10 bytes, so three fit.
	tests := []struct {
		name string
		// touch are keys read between filling the cache and adding "d".
		touch   []string
		evicted string
		kept    []string
	}{
		{name: "oldest goes first", evicted: "a", kept: []string{"b", "c", "d"}},
		{name: "get refreshes", touch: []string{"a"}, evicted: "b", kept: []string{"a", "c", "d"}},
		{name: "every get counts", touch: []string{"a", "b"}, evicted: "c", kept: []string{"a", "b", "d"}},
		{name: "miss changes nothing", touch: []string{"x"}, evicted: "a", kept: []string{"b", "c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			c := cache.NewLRU(30)
			for i, k := range []string{"a", "b", "c"} {
				c.Set(ctx, k, value(9, byte('0'+i)))
			}
			checkSize(t, c, 3, 30)
			for _, k := range tt.touch {
				c.Get(ctx, k)
			}
			c.Set(ctx, "d", value(9, 'd'))
			mustMiss(t, c, tt.evicted)
			for _, k := range tt.kept {
				if _, ok := c.Get(ctx, k); !ok {
					t.Errorf("Get(%q): evicted, want kept", k)
				}
			}
			checkSize(t, c, 3, 30)
		})
	}
}

func TestSetRefreshesExistingKey(t *testing.T) {
	ctx := t.Context()
	c := cache.NewLRU(30)
	c.Set(ctx, "a", value(9, 'a'))
	c.Set(ctx, "b", value(9, 'b'))
	c.Set(ctx, "c", value(9, 'c'))
	// Setting "a" again makes it the most recent, so "b" is next out.
	c.Set(ctx, "a", value(9, 'A'))
	c.Set(ctx, "d", value(9, 'd'))
	mustMiss(t, c, "b")
	mustGet(t, c, "a", value(9, 'A'))
}

func TestOverwriteAdjustsBytes(t *testing.T) {
	tests := []struct {
		name      string
		first     int
		second    int
		wantBytes int64
		wantLen   int
	}{
		{name: "grow", first: 10, second: 50, wantBytes: 1 + 50 + 1 + 10, wantLen: 2},
		{name: "shrink", first: 50, second: 10, wantBytes: 1 + 10 + 1 + 10, wantLen: 2},
		{name: "same size", first: 20, second: 20, wantBytes: 1 + 20 + 1 + 10, wantLen: 2},
		{name: "to empty", first: 20, second: 0, wantBytes: 1 + 0 + 1 + 10, wantLen: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			c := cache.NewLRU(100)
			c.Set(ctx, "o", value(10, 'o'))
			c.Set(ctx, "k", value(tt.first, '1'))
			c.Set(ctx, "k", value(tt.second, '2'))
			mustGet(t, c, "k", value(tt.second, '2'))
			mustGet(t, c, "o", value(10, 'o'))
			checkSize(t, c, tt.wantLen, tt.wantBytes)
		})
	}
}

func TestOverwriteGrowingEvictsOthers(t *testing.T) {
	ctx := t.Context()
	c := cache.NewLRU(30)
	c.Set(ctx, "a", value(9, 'a'))
	c.Set(ctx, "b", value(9, 'b'))
	c.Set(ctx, "c", value(9, 'c'))
	// "c" grows to 20 bytes: only "a" (the least recent) has to go.
	c.Set(ctx, "c", value(19, 'C'))
	mustMiss(t, c, "a")
	mustGet(t, c, "b", value(9, 'b'))
	mustGet(t, c, "c", value(19, 'C'))
	checkSize(t, c, 2, 30)
}

func TestTooLargeNotStored(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		size   int
		stored bool
	}{
		{name: "exactly the bound", key: "k", size: 99, stored: true},
		{name: "one byte over", key: "k", size: 100, stored: false},
		{name: "key counts", key: "long-key", size: 95, stored: false},
		{name: "far over", key: "k", size: 10 << 10, stored: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			c := cache.NewLRU(100)
			c.Set(ctx, "keep", value(10, 'x'))
			c.Set(ctx, tt.key, value(tt.size, 'v'))
			_, ok := c.Get(ctx, tt.key)
			if ok != tt.stored {
				t.Fatalf("stored = %v, want %v", ok, tt.stored)
			}
			if !tt.stored {
				// A refused value must not push anything else out.
				mustGet(t, c, "keep", value(10, 'x'))
				checkSize(t, c, 1, 14)
			}
			if c.Bytes() > 100 {
				t.Fatalf("Bytes = %d, over the bound of 100", c.Bytes())
			}
		})
	}
}

func TestBoundNeverExceeded(t *testing.T) {
	const max = 4 << 10
	ctx := t.Context()
	c := cache.NewLRU(max)
	var last string
	for i := range 2000 {
		// Sizes cycle through small and large values, and keys repeat, so sets both add and
		// overwrite.
		last = fmt.Sprintf("key-%d", i%300)
		v := value((i*37)%1500, byte(i))
		c.Set(ctx, last, v)
		if b := c.Bytes(); b > max {
			t.Fatalf("after set %d: Bytes = %d, over the bound of %d", i, b, max)
		}
		mustGet(t, c, last, v)
	}
	if c.Len() == 0 {
		t.Fatal("cache is empty after 2000 sets")
	}
}

func TestConcurrent(t *testing.T) {
	const (
		max        = 8 << 10
		goroutines = 16
		ops        = 500
	)
	ctx := context.Background()
	c := cache.NewLRU(max)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range ops {
				key := fmt.Sprintf("k%d", (g*ops+i)%97)
				// The value is derived from the key, so whatever goroutine wrote it, a hit
				// must carry the key's content.
				want := []byte(key + ":" + key + key)
				c.Set(ctx, key, want)
				if got, ok := c.Get(ctx, key); ok && !bytes.Equal(got, want) {
					errs <- fmt.Errorf("Get(%q) = %q, want %q", key, got, want)
					return
				}
				if b := c.Bytes(); b > max {
					errs <- fmt.Errorf("Bytes = %d, over the bound of %d", b, max)
					return
				}
				_ = c.Len()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The keys' contents add up to far less than the bound, so every key must be present.
	if c.Len() != 97 {
		t.Errorf("Len = %d after concurrent use, want 97", c.Len())
	}
	var total int64
	for i := range 97 {
		key := fmt.Sprintf("k%d", i)
		v, ok := c.Get(ctx, key)
		if !ok {
			t.Fatalf("Get(%q): missing", key)
		}
		total += int64(len(key) + len(v))
	}
	if c.Bytes() != total {
		t.Errorf("Bytes = %d, want the sum of keys and values %d", c.Bytes(), total)
	}
}
