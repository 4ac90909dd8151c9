package catalog

import (
	"sync"
	"sync/atomic"
)

// maxSummaryBytes bounds the memory the summary cache accounts for; past it the cache starts
// over, as the per-principal tag caches do.
const maxSummaryBytes = 32 << 20

// summaryCache keeps complete summaries by digest. Content under a digest never changes, so
// a listing computes a summary once instead of parsing the manifest and its children again on
// every request. Like the document cache it is shared by principals: a digest is reached only
// through an answer the registry gave the caller.
type summaryCache struct {
	mu    sync.Mutex
	m     map[string]summary
	bytes int
	// computed counts summaries computed, cached or not: the work the cache saves.
	computed atomic.Int64
}

func (c *summaryCache) get(key string) (summary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum, ok := c.m[key]
	return sum, ok
}

func (c *summaryCache) put(key string, sum summary) {
	// The bytes, plus what each parsed entry costs (an index's repeats are collapsed by now).
	n := len(sum.raw) + 256*(len(sum.m.Manifests)+len(sum.m.Layers)+len(sum.platforms))
	if n > maxSummaryBytes/2 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.bytes+n > maxSummaryBytes {
		c.m, c.bytes = map[string]summary{}, 0
	}
	if _, ok := c.m[key]; !ok {
		c.m[key] = sum
		c.bytes += n
	}
}
