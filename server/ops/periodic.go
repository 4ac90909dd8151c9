package ops

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/server/store"
)

// PruneJobsName is the periodic task that deletes finished jobs past their retention.
const PruneJobsName = "prune-jobs"

// periodic is every periodic task: the configured ones and the Manager's own cleanup.
func (m *Manager) periodic() []Periodic {
	return append(slices.Clone(m.opts.Periodic), Periodic{Name: PruneJobsName, Interval: pruneEvery(m.opts.Retention), RunOnStart: true, Run: m.prune})
}

// pruneEvery is how often finished jobs are looked for: hourly, or more often for short
// retentions.
func pruneEvery(retention time.Duration) time.Duration {
	return min(time.Hour, max(retention/4, time.Second))
}

var finished = []rivertype.JobState{rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded}

// prune deletes jobs finished longer than Retention ago, with their events, and sealed
// credentials no unfinished job refers to (those of jobs cancelled before they ran).
func (m *Manager) prune(ctx context.Context) error {
	cutoff := time.Now().Add(-m.opts.Retention)
	deleted := 0
	for {
		kinds := append([]string{kindOp, kindPeriodic}, m.opts.Kinds...)
		for _, q := range m.opts.Queues {
			kinds = append(kinds, q.Name)
		}
		res, err := m.queue.JobList(ctx, river.NewJobListParams().Kinds(kinds...).States(finished...).
			OrderBy(river.JobListOrderByFinalizedAt, river.SortOrderAsc).First(500))
		if err != nil {
			return err
		}
		var ids []int64
		for _, row := range res.Jobs {
			if row.FinalizedAt != nil && row.FinalizedAt.Before(cutoff) {
				ids = append(ids, row.ID)
			}
		}
		if len(ids) == 0 {
			break
		}
		// Events first: a job without events still shows; events without a job would be lost.
		if err := m.store.DeleteJobEvents(ctx, ids); err != nil {
			return err
		}
		if _, err := m.queue.JobDeleteMany(ctx, river.NewJobDeleteManyParams().IDs(ids...)); err != nil {
			return err
		}
		deleted += len(ids)
		if len(ids) < len(res.Jobs) || len(res.Jobs) < 500 {
			break
		}
	}
	secrets, err := m.store.JobSecretIDs(ctx, time.Now().Add(-time.Minute))
	if err != nil {
		return err
	}
	// What unfinished jobs still need: their sealed credentials, an import's archive.
	live := map[string]bool{}
	var after *river.JobListCursor
	for {
		p := river.NewJobListParams().Kinds(kindOp).States(unfinished...).First(1000)
		if after != nil {
			p = p.After(after)
		}
		res, err := m.queue.JobList(ctx, p)
		if err != nil {
			return err
		}
		for _, row := range res.Jobs {
			var args opArgs
			if json.Unmarshal(row.EncodedArgs, &args) == nil {
				if args.Secret != "" {
					live[args.Secret] = true
				}
				if args.Request.Archive != "" {
					live[args.Request.Archive] = true
				}
			}
		}
		if len(res.Jobs) < 1000 {
			break
		}
		after = res.LastCursor
	}
	var drop []string
	for _, id := range secrets {
		if !live[id] {
			drop = append(drop, id)
		}
	}
	if err := m.pruneArchives(ctx, live); err != nil {
		return err
	}
	if err := m.store.DeleteJobSecrets(ctx, drop); err != nil {
		return err
	}
	if deleted > 0 || len(drop) > 0 {
		slog.InfoContext(ctx, "pruned finished jobs", "jobs", deleted, "credentials", len(drop), "retention", m.opts.Retention)
	}
	return nil
}

// followers wakes readers of job event streams when a job has new events: pushed by the
// database where it can (PostgreSQL's LISTEN/NOTIFY), else the readers poll.
type followers struct {
	st store.Store

	mu      sync.Mutex
	pushed  bool
	waiting map[int64]map[chan struct{}]bool
}

// Poll intervals of event stream readers: when notifications are pushed, polling is only a
// safety net.
const (
	pollEvents   = 100 * time.Millisecond
	pollAsBackup = 2 * time.Second
)

func newFollowers(st store.Store) *followers {
	return &followers{st: st, waiting: map[int64]map[chan struct{}]bool{}}
}

// listen subscribes to the database's notifications until ctx is done, reconnecting after
// failures.
func (f *followers) listen(ctx context.Context) {
	go func() {
		for ctx.Err() == nil {
			f.setPushed(true)
			err := f.st.ListenJobEvents(ctx, f.wake)
			f.setPushed(false)
			if errors.Is(err, store.ErrNoListen) {
				return
			}
			if err != nil && ctx.Err() == nil {
				slog.Warn("listening for job events failed; polling until it is back", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
}

func (f *followers) setPushed(v bool) {
	f.mu.Lock()
	f.pushed = v
	f.mu.Unlock()
}

func (f *followers) wake(job int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.waiting[job] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wait returns when job may have new events, ctx is done, or a poll interval passed.
func (f *followers) wait(ctx context.Context, job int64) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	if f.waiting[job] == nil {
		f.waiting[job] = map[chan struct{}]bool{}
	}
	f.waiting[job][ch] = true
	every := pollEvents
	if f.pushed {
		every = pollAsBackup
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.waiting[job], ch)
		if len(f.waiting[job]) == 0 {
			delete(f.waiting, job)
		}
		f.mu.Unlock()
	}()
	t := time.NewTimer(every)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}
