package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/store"
)

// StateIndexing is the index state key under which the running sync publishes its
// progress (api.IndexProgress as JSON), so every replica can show it.
const StateIndexing = "indexing"

// publishEvery bounds how often progress is written to the store.
const publishEvery = 500 * time.Millisecond

// progress is how far the running sync has come: kept in memory for the metrics and written
// to the store, at most every publishEvery, for the API.
type progress struct {
	idx store.Index

	mu        sync.Mutex
	p         api.IndexProgress
	published time.Time
}

func (g *progress) snapshot() api.IndexProgress {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.p
}

// update changes the progress with fn and publishes it when due (or when force is set).
func (g *progress) update(ctx context.Context, force bool, fn func(p *api.IndexProgress)) {
	g.mu.Lock()
	fn(&g.p)
	now := time.Now().UTC()
	due := force || now.Sub(g.published) >= publishEvery
	if due {
		g.published = now
		g.p.Updated = now
	}
	p := g.p
	g.mu.Unlock()
	if !due || g.idx == nil {
		return
	}
	b, _ := json.Marshal(p)
	if err := g.idx.SetIndexState(context.WithoutCancel(ctx), StateIndexing, string(b)); err != nil {
		slog.Debug("sync: publish progress", "err", err)
	}
}

// start begins a walk's progress; the last walk's end, read from the store, says whether
// this one fills the index for the first time.
func (g *progress) start(ctx context.Context) {
	var finished time.Time
	if g.idx != nil {
		last, err := ReadProgress(ctx, g.idx)
		if err != nil {
			slog.Debug("sync: read progress", "err", err)
		}
		finished = last.Finished
	}
	g.update(ctx, true, func(p *api.IndexProgress) {
		*p = api.IndexProgress{Running: true, First: finished.IsZero(), Phase: "catalog", Started: time.Now().UTC(), Finished: finished}
	})
}

func (g *progress) phase(ctx context.Context, phase string) {
	g.update(ctx, true, func(p *api.IndexProgress) { p.Phase = phase })
}

// end closes the walk's progress; only a walk that succeeded counts as finished.
func (g *progress) end(ctx context.Context, ok bool) {
	g.update(ctx, true, func(p *api.IndexProgress) {
		p.Running, p.Phase = false, ""
		if ok {
			p.First, p.Finished = false, time.Now().UTC()
		}
	})
}

// metrics are the berth_index_* gauges, read from the progress when scraped.
func (g *progress) metrics() []prometheus.Collector {
	gauge := func(name, help string, v func(p api.IndexProgress) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return float64(v(g.snapshot()))
		})
	}
	return []prometheus.Collector{
		gauge("berth_index_running", "1 while a registry walk fills the index.", func(p api.IndexProgress) int {
			if p.Running {
				return 1
			}
			return 0
		}),
		gauge("berth_index_repositories", "Repositories the running (or last) walk found in the catalog.", func(p api.IndexProgress) int { return p.Repositories }),
		gauge("berth_index_repositories_done", "Repositories whose tags the walk has indexed.", func(p api.IndexProgress) int { return p.RepositoriesDone }),
		gauge("berth_index_tags", "Tags the walk has listed.", func(p api.IndexProgress) int { return p.Tags }),
		gauge("berth_index_tags_done", "Tags whose digest the walk has indexed.", func(p api.IndexProgress) int { return p.TagsDone }),
		gauge("berth_index_manifests_described", "Manifests the walk has described (details phase).", func(p api.IndexProgress) int { return p.Manifests }),
	}
}

// repoQueue hands out the repositories of a walk in catalog order, except that those users
// open meanwhile (bumped) go first.
type repoQueue struct {
	mu     sync.Mutex
	names  []string
	next   int
	known  map[string]bool // in this walk and not handed out yet
	bumped []string
}

func newRepoQueue(names []string) *repoQueue {
	q := &repoQueue{names: names, known: make(map[string]bool, len(names))}
	for _, n := range names {
		q.known[n] = true
	}
	return q
}

// pop returns the next repository to walk; false when none is left.
func (q *repoQueue) pop() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.bumped) > 0 {
		n := q.bumped[0]
		q.bumped = q.bumped[1:]
		if q.known[n] {
			delete(q.known, n)
			return n, true
		}
	}
	for q.next < len(q.names) {
		n := q.names[q.next]
		q.next++
		if q.known[n] {
			delete(q.known, n)
			return n, true
		}
	}
	return "", false
}

// bump moves name to the front if it is still waiting; the newest bump goes first.
func (q *repoQueue) bump(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.known[name] && !slices.Contains(q.bumped, name) {
		q.bumped = slices.Insert(q.bumped, 0, name)
	}
}

// Prioritize moves repository to the front of the running walk's queue (a user opened it),
// if that walk has not reached it yet.
func (s *Syncer) Prioritize(repository string) {
	if q := s.queue.Load(); q != nil {
		q.bump(repository)
	}
}

// Progress returns how far the running (or last) walk came in this process.
func (s *Syncer) Progress() api.IndexProgress { return s.progress.snapshot() }

// ReadProgress reads the progress the running sync published to the store, whichever
// replica runs it. A walk whose progress has not been written for a minute is taken as
// ended (its replica stopped).
func ReadProgress(ctx context.Context, idx store.Index) (api.IndexProgress, error) {
	if idx == nil {
		return api.IndexProgress{}, nil
	}
	v, _, ok, err := idx.IndexState(ctx, StateIndexing)
	if err != nil || !ok {
		return api.IndexProgress{}, err
	}
	var p api.IndexProgress
	if json.Unmarshal([]byte(v), &p) != nil {
		return api.IndexProgress{}, nil
	}
	if p.Running && time.Since(p.Updated) > time.Minute {
		p.Running, p.Phase, p.First = false, "", false
	}
	return p, nil
}
