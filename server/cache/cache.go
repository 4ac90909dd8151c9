// Package cache stores content-addressed bytes (manifests and configs keyed by digest), which
// never go stale, so entries leave only to respect the memory bound.
package cache

import (
	"container/list"
	"context"
	"sync"
)

// Cache is a store of immutable values by key. Implementations are safe for concurrent use.
type Cache interface {
	// Get returns the value stored under key, if any.
	Get(ctx context.Context, key string) ([]byte, bool)
	// Set stores value under key. Callers must not modify value afterwards.
	Set(ctx context.Context, key string, value []byte)
}

// LRU is an in-process Cache bounded by the total bytes of its keys and values; the least
// recently used entries go first.
type LRU struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	order    *list.List // front = most recently used
	items    map[string]*list.Element
}

type entry struct {
	key   string
	value []byte
}

// NewLRU returns an LRU holding at most maxBytes of keys and values.
func NewLRU(maxBytes int64) *LRU {
	return &LRU{maxBytes: maxBytes, order: list.New(), items: make(map[string]*list.Element)}
}

// Get implements Cache.
func (c *LRU) Get(_ context.Context, key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry).value, true
}

// Set implements Cache. A value larger than the whole bound is not stored.
func (c *LRU) Set(_ context.Context, key string, value []byte) {
	size := int64(len(key) + len(value))
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		old := el.Value.(*entry)
		c.bytes += size - int64(len(old.key)+len(old.value))
		old.value = value
		c.order.MoveToFront(el)
	} else {
		c.items[key] = c.order.PushFront(&entry{key: key, value: value})
		c.bytes += size
	}
	for c.bytes > c.maxBytes {
		el := c.order.Back()
		e := el.Value.(*entry)
		c.order.Remove(el)
		delete(c.items, e.key)
		c.bytes -= int64(len(e.key) + len(e.value))
	}
}

// Len returns the number of entries.
func (c *LRU) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Bytes returns the bytes held.
func (c *LRU) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
