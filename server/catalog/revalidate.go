package catalog

import (
	"context"
	"crypto/rand"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Stale-while-revalidate for indexed tag rows: a read answers from the index at once and hands
// the rows older than TagTTL to the revalidator, which confirms them with HEADs in the
// background: paced per registry, one run per repository in this process, and one replica at
// a time through a lease row in the store. A moved tag is described and its caches dropped.

// Revalidation paces the background HEADs that confirm stale tag rows.
type Revalidation struct {
	// Rate is HEADs per second to the registry over all repositories; default 200.
	Rate float64
	// Workers is how many of those HEADs are in flight at once; default a quarter of the
	// registry client's concurrency, so pages keep the rest.
	Workers int
	// Now is the clock tag rows are aged by; nil means time.Now (tests move it).
	Now func() time.Time
}

type revalidator struct {
	limit   *rate.Limiter
	workers int
	holder  string // this process, in lease rows
	mu      sync.Mutex
	running map[string]bool      // repositories under way here
	pages   atomic.Int64         // answers being built here (pages, tags, storage use): HEADs wait for them (yield)
	front   atomic.Int64         // of those, pages and tag answers: storage walks wait for them too (behindAnswers)
	quiet   map[string]time.Time // under mu: until when a repository's HEADs also wait (its page is starting)
}

// maxYield is how long one revalidating HEAD waits at most for the tag answers being built
// in this process: a page never waits on the revalidation, and never shares its CPU with it
// either while it is built (on a busy server the HEADs go on at ten a second or more).
const maxYield = 100 * time.Millisecond

// quietAfter is how long after a tag answer of a repository the HEADs revalidating that
// repository keep yielding: a page prerendered with its first rows asks for every tag once
// its app runs, 0.5–1 s after the first answer, and a repository's tags go stale together,
// so the revalidation the first answer started would otherwise run at full rate exactly
// then. Other repositories' revalidation goes on at its pace.
const quietAfter = time.Second

// answering marks an answer about repository being built until the returned func runs. A
// front answer (a page's tags) also holds storage walks back (behindAnswers), and after it
// the repository's revalidation and storage walks stay quiet for quietAfter; a storage
// answer holds back neither itself nor the next one.
func (r *revalidator) answering(repository string, front bool) func() {
	done := r.mark(front)
	if !front {
		return done
	}
	return func() {
		now := time.Now()
		r.mu.Lock()
		if len(r.quiet) >= 1000 {
			for name, until := range r.quiet {
				if now.After(until) {
					delete(r.quiet, name)
				}
			}
		}
		r.quiet[repository] = now.Add(quietAfter)
		r.mu.Unlock()
		done()
	}
}

// mark counts an answer being built (and, if front, one storage walks wait for) until the
// returned func runs.
func (r *revalidator) mark(front bool) func() {
	r.pages.Add(1)
	if front {
		r.front.Add(1)
	}
	return func() {
		if front {
			r.front.Add(-1)
		}
		r.pages.Add(-1)
	}
}

// yield holds a HEAD revalidating repository back while answers are being built or a tag
// answer about repository was just sent, for at most maxYield.
func (r *revalidator) yield(ctx context.Context, repository string) {
	r.holdBack(ctx, &r.pages, repository, time.Now().Add(maxYield))
}

// behindAnswers holds a storage walk of repository back, until the deadline, while pages or
// tag answers are being built in this process or one about repository was just sent (the
// quiet that holds its revalidation back too: the page's app then paints its first rows
// and asks for the rest); it returns at once otherwise. With both cores shared, a page's
// answer took 0.2–0.27 s instead of 0.02–0.1 s while the previous page's storage walk ran.
func (r *revalidator) behindAnswers(ctx context.Context, repository string, deadline time.Time) {
	r.holdBack(ctx, &r.front, repository, deadline)
}

// holdBack waits, until the deadline or ctx ends, while answers counts some being built or
// repository is quiet after a tag answer.
func (r *revalidator) holdBack(ctx context.Context, answers *atomic.Int64, repository string, deadline time.Time) {
	busy := func() bool {
		if answers.Load() > 0 {
			return true
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return time.Now().Before(r.quiet[repository])
	}
	for busy() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Answering marks a page's answer being built until the returned func runs: the background
// revalidation, tag list refreshes, storage walks and the tag table's severities hold back
// meanwhile (a page prerendered with its data is marked while it is rendered, not only for
// its tag answer).
func (s *Service) Answering() func() { return s.reval.mark(true) }

// BehindAnswers holds work about repository that no page waits for (the tag table's
// severities) back while pages or tag answers are being built in this process, and for the
// quiet after a tag answer about repository (the page that got it then paints its rows and
// asks for the rest), until deadline at the latest; it returns at once otherwise. A page
// left within the wait cancels the work it asked for, so a quick visit leaves the next one
// the server.
func (s *Service) BehindAnswers(ctx context.Context, repository string, deadline time.Time) {
	s.reval.behindAnswers(ctx, repository, deadline)
}

func newRevalidator(o Revalidation, concurrency int) (func() time.Time, *revalidator) {
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Workers <= 0 {
		o.Workers = max(1, concurrency/4)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o.Now, &revalidator{
		limit: rate.NewLimiter(rate.Limit(o.Rate), o.Workers), workers: o.Workers,
		holder: rand.Text(), running: map[string]bool{}, quiet: map[string]time.Time{},
	}
}

// chunk is how many rows one batch of the revalidation confirms and writes: progress reaches
// the store (and other replicas) as it goes.
const chunk = 500

// revalidate confirms tags' stale rows of repository in the background, as the caller in ctx
// (who was just allowed to list them), unless a run for the repository is under way.
func (s *Service) revalidate(ctx context.Context, repository string, tags []string) {
	r := s.reval
	r.mu.Lock()
	if r.running[repository] {
		r.mu.Unlock()
		return
	}
	r.running[repository] = true
	r.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer func() {
			r.mu.Lock()
			delete(r.running, repository)
			r.mu.Unlock()
		}()
		if err := s.revalidateRepository(ctx, repository, tags); err != nil {
			slog.Debug("index: revalidate tags", "repository", repository, "err", err)
		}
	}()
}

// revalidateRepository takes the repository's lease and HEADs the rows of tags still stale.
func (s *Service) revalidateRepository(ctx context.Context, repository string, tags []string) error {
	r := s.reval
	key := "revalidate/" + repository
	// Twice the time the rate allows for, so the lease outlives the run; a crashed holder's
	// lease frees itself then.
	hold := 2*time.Duration(float64(len(tags))/float64(r.limit.Limit())*float64(time.Second)) + time.Minute
	now := s.now()
	if ok, err := s.idx.TakeLease(ctx, key, r.holder, now, now.Add(hold)); err != nil || !ok {
		return err
	}
	defer func() {
		if err := s.idx.ReleaseLease(ctx, key, r.holder); err != nil {
			slog.Warn("index: release revalidation lease", "repository", repository, "err", err)
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, hold) // ctx stays uncancelled for the release
	defer cancel()
	// Read after taking the lease: rows another replica confirmed meanwhile are not asked again.
	// Only what a HEAD confirms is read (the tag order's narrow rows: a 10,000-tag
	// repository's full rows cost 80–110 ms of the server's CPU, taken from the page that
	// asked).
	order, err := s.idx.IndexTagOrder(rctx, repository)
	if err != nil {
		return err
	}
	s.orders.refresh(repository, order) // what other replicas confirmed (order_memo.go)
	want := make(map[string]bool, len(tags))
	for _, t := range tags {
		want[t] = true
	}
	var rows []store.IndexedTag
	for _, o := range order {
		if want[o.Tag] && !s.fresh(o.Checked) {
			rows = append(rows, store.IndexedTag{IndexTag: store.IndexTag{Repository: repository, Tag: o.Tag, Digest: o.Digest, Checked: o.Checked, Pushed: o.Pushed}})
		}
	}
	slices.SortFunc(rows, func(a, b store.IndexedTag) int { return strings.Compare(a.Tag, b.Tag) }) // by name, as before
	for batch := range slices.Chunk(rows, chunk) {
		if err := s.confirm(rctx, repository, batch); err != nil {
			return err
		}
	}
	return nil
}

// confirm HEADs rows at the paced rate and stores what they say: the same digest confirmed,
// a moved tag described anew. Caches of moved or vanished tags are dropped after the write,
// so the next read shows the change. The first error other than a vanished tag ends the run.
func (s *Service) confirm(ctx context.Context, repository string, rows []store.IndexedTag) error {
	wctx, w := s.withWrites(ctx)
	g, gctx := errgroup.WithContext(wctx)
	g.SetLimit(s.reval.workers)
	var mu sync.Mutex
	var changed []string
	var moved bool
	for _, row := range rows {
		s.reval.yield(gctx, repository)
		if s.reval.limit.Wait(gctx) != nil {
			break
		}
		g.Go(func() error {
			desc, err := s.client(gctx).Head(gctx, repository, row.Tag)
			switch {
			case httperr.Is(err, api.CodeNotFound):
				// Deleted: the tag list, read again after the invalidation below, leaves it out.
			case err != nil:
				return err
			case desc.Digest.String() == row.Digest:
				w.confirm(store.IndexTag{Repository: repository, Tag: row.Tag, Digest: row.Digest, Checked: w.now, Pushed: row.Pushed})
				return nil
			default:
				if t := s.describe(gctx, repository, row.Tag, desc); t.Error == "" {
					mu.Lock()
					moved = true // open pages are told once the new row is written
					mu.Unlock()
				}
			}
			mu.Lock()
			changed = append(changed, row.Tag)
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	s.flush(ctx, w)
	for _, tag := range changed {
		s.invalidate(repository, tag)
	}
	// Only a tag described anew is news for open pages: a tag the registry lists but cannot
	// serve (404) or one that failed to read stays as it was, and telling of it each run
	// would make every open page read its tags again and again.
	if moved {
		s.changes.changed(repository)
	}
	return err
}
