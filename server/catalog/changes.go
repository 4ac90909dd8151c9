package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// Open repository pages are told when what they show changed: a notification, a revalidation
// finding a moved or deleted tag, or a tag list read again that differs. Each tag page carries
// a token (TagPage.Changes) of the repository's changes as this replica knows them; the page
// waits with it (GET …/changes?since=TOKEN, a long poll) and reads the tags again when told.
// The tokens are this process's: a token from another replica waits for the next change here.

// changeWait is how long one wait for a change lasts before it answers "unchanged" (under the
// read routes' deadline and the proxies' idle timeouts).
const changeWait = 25 * time.Second

// maxChangeWaiters and maxChangeWaitersTotal bound the waits held at once, per repository and
// in all; past them a wait answers at once, unchanged (the page waits again later).
const (
	maxChangeWaiters      = 1000
	maxChangeWaitersTotal = 20_000
)

// maxCounted bounds the repositories whose changes are counted.
const maxCounted = 100_000

// changes counts each repository's changes and wakes the waits on them.
type changes struct {
	prefix string // this process's, so tokens of another replica are told apart

	mu      sync.Mutex
	count   map[string]uint64
	waiters map[string][]chan struct{}
	held    int  // waits held, in all
	closed  bool // the server shuts down: waits answer at once
}

func newChanges() *changes {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &changes{prefix: hex.EncodeToString(b[:]) + ".", count: map[string]uint64{}, waiters: map[string][]chan struct{}{}}
}

// token is the repository's changes so far, as a page carries it.
func (c *changes) token(repository string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.prefix + strconv.FormatUint(c.count[repository], 10)
}

// changed records a change of repository and wakes its waits.
func (c *changes) changed(repository string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.count) >= maxCounted {
		// Counts start over (throwaway repositories come and go): a page waiting with an
		// older token is told "changed" once and reads its tags again.
		clear(c.count)
	}
	c.count[repository]++
	for _, w := range c.waiters[repository] {
		close(w)
	}
	c.held -= len(c.waiters[repository])
	delete(c.waiters, repository)
}

// close answers every wait, unchanged, and every later one at once: a server shutting down
// waits for its requests, and a long poll would hold it.
func (c *changes) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, ws := range c.waiters {
		for _, w := range ws {
			close(w)
		}
	}
	c.waiters, c.held = map[string][]chan struct{}{}, 0
}

// wait answers at once when repository changed since the token, else when it changes or
// within d: the current token, and whether it changed.
func (c *changes) wait(ctx context.Context, repository, since string, d time.Duration) (string, bool) {
	c.mu.Lock()
	now := c.prefix + strconv.FormatUint(c.count[repository], 10)
	if strings.HasPrefix(since, c.prefix) && since != now {
		c.mu.Unlock()
		return now, true
	}
	if c.closed || len(c.waiters[repository]) >= maxChangeWaiters || c.held >= maxChangeWaitersTotal {
		c.mu.Unlock()
		return now, false
	}
	w := make(chan struct{})
	c.waiters[repository] = append(c.waiters[repository], w)
	c.held++
	c.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w:
		token := c.token(repository)
		return token, token != now
	case <-t.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiters[repository]
	for i := range ws {
		if ws[i] == w {
			c.waiters[repository] = append(ws[:i:i], ws[i+1:]...)
			c.held--
			break
		}
	}
	if len(c.waiters[repository]) == 0 {
		delete(c.waiters, repository)
	}
	return now, false
}

// StopWaits answers every wait for changes at once, now and from now on (the server shuts
// down; the pages wait again on another replica or after the restart).
func (s *Service) StopWaits() { s.changes.close() }

// Changes waits for a change of repository after the token since (TagPage.Changes), as the
// caller in ctx, who must be allowed to read it: at most d, or at once when it changed
// already.
func (s *Service) Changes(ctx context.Context, repository, since string, d time.Duration) (api.RepositoryChanges, error) {
	if err := s.authorize(ctx, repository); err != nil {
		return api.RepositoryChanges{}, err
	}
	token, changed := s.changes.wait(ctx, repository, since, d)
	return api.RepositoryChanges{Repository: repository, Changes: token, Changed: changed}, nil
}

// ServeChanges answers GET /api/v1/repositories/{name}/changes?since=TOKEN: a long poll that
// answers when the repository's tags changed since the token a tag page carried, or after
// changeWait unchanged.
func (s *Service) ServeChanges(w http.ResponseWriter, r *http.Request, repository string) {
	d := changeWait
	if dl, ok := r.Context().Deadline(); ok {
		d = min(d, time.Until(dl)-time.Second)
	}
	c, err := s.Changes(r.Context(), repository, r.URL.Query().Get("since"), max(d, 0))
	respond(w, r, c, err)
}
