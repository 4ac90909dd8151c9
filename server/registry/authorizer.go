package registry

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
)

// Authorizer is access.Authorizer when the registry decides (no --access-control): Berth asks
// the registry as the caller and passes its answer on. A read is allowed when the registry
// lists the repository's tags to the caller (a repository it says is gone counts: registries
// refuse access before they say whether something exists); a write needs that too, and is
// then made with the caller's own credentials, so the registry refuses it if it must (Berth
// refuses outright a write no one signed in asked for, unless --anonymous-writes). Answers are kept per caller for ttl; while the registry
// cannot be reached, the last answer a caller got stands (so stored history stays visible
// through an outage to exactly those who could read it).
type Authorizer struct {
	c   *Client
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	answers map[string]answer
}

type answer struct {
	err error
	at  time.Time
}

// maxAnswers bounds the answers kept; past it they start over.
const maxAnswers = 100_000

// NewAuthorizer returns the registry's authorizer over c, keeping answers for ttl (0: 10 s).
func NewAuthorizer(c *Client, ttl time.Duration) *Authorizer {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	return &Authorizer{c: c, ttl: ttl, now: time.Now, answers: map[string]answer{}}
}

// Authorize implements access.Authorizer.
func (z *Authorizer) Authorize(ctx context.Context, repository string, want access.Actions) error {
	if err := ValidateRepository(repository); err != nil {
		return err
	}
	if want&^access.Pull != 0 && !z.c.CanWrite(ctx) {
		return access.Refuse(access.From(ctx), repository, want, 0)
	}
	// Every action starts with the caller reading the repository: the registry's answer
	// refuses wrong credentials and strangers before any write is queued; the write itself
	// then runs with the caller's credentials, which the registry checks again.
	key := z.c.principal(ctx).Key + "\x00" + repository
	z.mu.Lock()
	last, ok := z.answers[key]
	z.mu.Unlock()
	if ok && z.now().Sub(last.at) < z.ttl {
		return last.err
	}
	err := z.probe(ctx, repository)
	if unreachable(err) && ok {
		return last.err
	}
	if !unreachable(err) {
		z.mu.Lock()
		if len(z.answers) >= maxAnswers {
			clear(z.answers)
		}
		z.answers[key] = answer{err: err, at: z.now()}
		z.mu.Unlock()
	}
	return err
}

// listKeptKey marks a context whose caller keeps the repository's tag list (WithListKept).
type listKeptKey struct{}

// WithListKept marks ctx as asking for a repository whose tag list the caller keeps (and
// refreshes on its own): an access probe then reads one tag, not the list.
func WithListKept(ctx context.Context) context.Context {
	return context.WithValue(ctx, listKeptKey{}, true)
}

// probe lists repository's tags as the caller: the registry checks access first. The list
// is left for the read that follows the check (Client.Tags takes it), so checking costs no
// request of its own. A caller that keeps a recent list (WithListKept) is probed with one
// tag instead: 5–9 ms where distribution 3 took 60–65 ms to list 10,000 tags (108 kB),
// which a page after the answers' TTL waited for.
func (z *Authorizer) probe(ctx context.Context, repository string) error {
	var names []string
	var err error
	whole := true
	kept, _ := ctx.Value(listKeptKey{}).(bool)
	if kept {
		names, whole, err = z.c.firstTags(ctx, repository)
	}
	// Without a kept list, or when the one-tag page could not be read although the registry
	// may have answered (a Link header to another host is refused as unreachable), the
	// whole list: a registry that is down fails it at once too, and a hung one (a timeout)
	// is not asked twice.
	if !kept || httperr.Is(err, api.CodeRegistryUnavailable) {
		names, err = z.c.tags(ctx, repository)
		whole = true
	}
	if err == nil && whole {
		if key, ok := handoffKey(ctx, z.c.principal(ctx).Key, repository); ok {
			z.c.handoff.leave(key, names)
		}
		return nil
	}
	if httperr.Is(err, api.CodeNotFound) {
		return nil
	}
	return err
}

func unreachable(err error) bool {
	return httperr.Is(err, api.CodeRegistryUnavailable) || httperr.Is(err, api.CodeRegistryTimeout) || httperr.Is(err, api.CodeRegistryError)
}

// Repositories implements access.Authorizer: the registry's catalog as the caller sees it.
// Each repository listed stands as readable for the caller while the registry is out of reach
// (never fresh, so it is asked again once it answers).
func (z *Authorizer) Repositories(ctx context.Context) ([]string, error) {
	names, err := z.c.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	who := z.c.principal(ctx).Key + "\x00"
	z.mu.Lock()
	defer z.mu.Unlock()
	if len(z.answers)+len(names) > maxAnswers {
		clear(z.answers)
	}
	for _, n := range names {
		if _, ok := z.answers[who+n]; !ok && len(names) <= maxAnswers {
			z.answers[who+n] = answer{}
		}
	}
	return names, nil
}

// Everything implements access.Authorizer: a caller without credentials of its own reads
// with Berth's (or anonymously), which is what Berth's index holds.
func (z *Authorizer) Everything(ctx context.Context) (bool, error) {
	_, own := credentialsIn(ctx)
	return !own, nil
}

// Forget drops the answers kept for a principal (its session ended).
func (z *Authorizer) Forget(key string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for k := range z.answers {
		if len(k) > len(key) && k[:len(key)] == key && k[len(key)] == 0 {
			delete(z.answers, k)
		}
	}
}

// handoff keeps tag lists the Authorizer read for a moment, for the one read that follows.
type handoff struct {
	mu sync.Mutex
	m  map[string]handed
}

type handed struct {
	names []string
	at    time.Time
}

// handoffFor is how long a handed-over list may wait for its read.
const handoffFor = 2 * time.Second

func (h *handoff) leave(key string, names []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) > 1000 {
		h.m = map[string]handed{}
	}
	h.m[key] = handed{names: names, at: time.Now()}
}

// take returns and forgets the list left under key, if it is fresh.
func (h *handoff) take(key string) ([]string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[key]
	if !ok {
		return nil, false
	}
	delete(h.m, key)
	return e.names, time.Since(e.at) < handoffFor
}

// drop forgets every list left for repository.
func (h *handoff) drop(repository string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.m {
		if strings.HasSuffix(k, "\x00"+repository) {
			delete(h.m, k)
		}
	}
}

// Changed tells the client repository changed (a write, a push notification): nothing read
// of it before is handed over.
func (c *Client) Changed(repository string) { c.handoff.drop(repository) }

type scopeKey struct{}

// scope is one request: what is handed over stays within it. It is not zero-sized: Go may
// give every zero-sized allocation the same address.
type scope struct{ _ byte }

// WithRequestScope marks ctx as one request's: a tag list the Authorizer read to check it is
// handed to the read that follows in the same request, never to another.
func WithRequestScope(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, &scope{})
}

// handoffKey names a hand-over within ctx's request; none outside a request scope.
func handoffKey(ctx context.Context, principal, repository string) (string, bool) {
	sc, ok := ctx.Value(scopeKey{}).(*scope)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%p\x00%s\x00%s", sc, principal, repository), true
}
