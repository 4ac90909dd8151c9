package governance

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/berth-registry/berth/server/registry"
)

// usageTTL is how long a namespace's walked usage answers quota checks on this replica.
// Pushes admitted meanwhile are added to it as they are admitted, so N pushes cost one walk
// per period instead of N walks (each over the whole namespace); deletes, and pushes through
// other replicas, show at the next walk.
const usageTTL = time.Minute

// usageCache holds each namespace's last walked usage on this replica.
type usageCache struct {
	mu sync.Mutex
	m  map[string]cachedUsage
}

type cachedUsage struct {
	u      usage
	walked time.Time
}

// usage returns the namespace's usage, walked again when the last walk is older than
// usageTTL. The caller owns the copy it gets.
func (s *Service) usage(ctx context.Context, reg *registry.Client, namespace string) (usage, error) {
	c := &s.usages
	c.mu.Lock()
	e, ok := c.m[namespace]
	c.mu.Unlock()
	if ok && s.o.Now().Sub(e.walked) < usageTTL {
		u := e.u
		u.seen = maps.Clone(e.u.seen)
		return u, nil
	}
	u, err := usageOf(ctx, reg, namespace)
	if err != nil {
		return u, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedUsage{}
	}
	c.m[namespace] = cachedUsage{u: usage{seen: maps.Clone(u.seen), used: u.used, tags: u.tags, repositories: u.repositories}, walked: s.o.Now()}
	c.mu.Unlock()
	return u, nil
}

// admitted adds an admitted put to the namespace's cached usage: the manifests and blobs it
// reaches (seen after the put) and its new tag.
func (s *Service) admitted(namespace string, seen map[string]int64, used int64, newTag bool) {
	c := &s.usages
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[namespace]
	if !ok {
		return
	}
	e.u.seen, e.u.used = seen, used
	if newTag {
		e.u.tags++
	}
	c.m[namespace] = e
}
