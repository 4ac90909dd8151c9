package events

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
)

// walked is what a tag walk found.
type walked struct {
	// listed holds the repositories whose tag list and every tag's digest were read: only
	// for them does a missing tag mean deleted.
	listed map[string]bool
	found  map[tagKey]remoteTag
}

// Batches of complete repositories handed to the index while the walk goes on: when this
// many tags or repositories wait, or this long after the last batch.
const (
	flushTags  = 2000
	flushRepos = 200
	flushAfter = time.Second
)

// walkTags reads every repository's tags and their digests, those users open meanwhile
// first (Prioritize), and hands each completely read repository to the index in batches, so
// the index, and the pages reading it, fill as the walk goes. The registry client bounds the
// requests in flight; the walk keeps at most Concurrency repositories and HEADs under way.
func (s *Syncer) walkTags(ctx context.Context, repos []string, stamp time.Time, res *SyncResult) (walked, error) {
	out := walked{listed: map[string]bool{}, found: map[tagKey]remoteTag{}}
	q := newRepoQueue(repos)
	s.queue.Store(q)
	defer s.queue.Store(nil)
	s.progress.update(ctx, true, func(p *api.IndexProgress) { p.Phase, p.Repositories = "tags", len(repos) })

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu      sync.Mutex // guards out, res, batch
		batch   = map[string]map[string]v1.Descriptor{}
		pending int
		flushed = time.Now()
		flushMu sync.Mutex // one index write at a time, in order
	)
	flush := func(force bool) {
		mu.Lock()
		if !force && pending < flushTags && len(batch) < flushRepos && time.Since(flushed) < flushAfter {
			mu.Unlock()
			return
		}
		lists := batch
		batch, pending, flushed = map[string]map[string]v1.Descriptor{}, 0, time.Now()
		mu.Unlock()
		if len(lists) == 0 || s.opts.Index == nil {
			return
		}
		flushMu.Lock()
		defer flushMu.Unlock()
		if err := s.opts.Index.SyncTags(ctx, lists, stamp); err != nil {
			cancel(fmt.Errorf("index tags: %w", err))
		}
	}
	heads := make(chan struct{}, s.reg.Concurrency())
	var workers sync.WaitGroup
	for range min(s.reg.Concurrency(), max(len(repos), 1)) {
		workers.Go(func() {
			for name, ok := q.pop(); ok && ctx.Err() == nil; name, ok = q.pop() {
				descs, listed, failed, err := s.walkRepository(ctx, name, heads)
				complete := err == nil && failed == 0 && ctx.Err() == nil
				mu.Lock()
				if err != nil {
					res.Skipped++
				} else {
					res.Tags += listed
					res.Skipped += failed
				}
				for tag, d := range descs {
					out.found[tagKey{name, tag}] = remoteTag{d.Digest.String(), string(d.MediaType), d.Size}
				}
				if complete {
					out.listed[name] = true
					batch[name] = descs
					pending += len(descs)
				}
				mu.Unlock()
				s.progress.update(ctx, false, func(p *api.IndexProgress) { p.RepositoriesDone++ })
				flush(false)
			}
		})
	}
	workers.Wait()
	flush(true)
	if err := context.Cause(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// walkRepository lists one repository's tags (listed counts them) and HEADs each of them,
// at most cap(heads) at once across the walk; failed counts the HEADs that failed.
func (s *Syncer) walkRepository(ctx context.Context, name string, heads chan struct{}) (descs map[string]v1.Descriptor, listed, failed int, err error) {
	tags, err := s.reg.Tags(ctx, name)
	if registry.Status(err) == http.StatusNotFound {
		// Distribution answers 404 for a repository whose tags were all deleted.
		tags, err = nil, nil
	}
	if err != nil {
		slog.Debug("sync: list tags", "repository", name, "err", err)
		return nil, 0, 0, err
	}
	s.progress.update(ctx, false, func(p *api.IndexProgress) { p.Tags += len(tags) })
	descs = make(map[string]v1.Descriptor, len(tags))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, tag := range tags {
		select {
		case heads <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return descs, len(tags), failed, nil
		}
		wg.Go(func() {
			defer func() { <-heads }()
			desc, err := s.reg.Head(ctx, name, tag)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				slog.Debug("sync: head tag", "repository", name, "tag", tag, "err", err)
				failed++
				return
			}
			descs[tag] = desc
		})
	}
	wg.Wait()
	s.progress.update(ctx, false, func(p *api.IndexProgress) { p.TagsDone += len(descs) })
	return descs, len(tags), failed, nil
}
