package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// SyncOptions configures a Syncer.
type SyncOptions struct {
	// Registry reaches the registry; the sync reads with Berth's service credentials and its
	// requests in flight are bounded by the client's concurrency.
	Registry *registry.Client
	// Store holds the tag state the events imply.
	Store store.Store
	// Record commits synthesized events; nil means Store.AddEvents. Pass Webhook.Record so
	// every write goes through the one writer.
	Record func(ctx context.Context, events []store.Event) error
	// Registerer receives the sync metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Timeout bounds one sync; 0 means 10 minutes.
	Timeout time.Duration
	// Index, if set, is told what each sync saw, and fills in what it does not describe yet.
	Index Indexer
}

// Indexer keeps a metadata index in step with the registry (catalog.Service does).
type Indexer interface {
	// SyncRepositories records a complete catalog walk that started at start.
	SyncRepositories(ctx context.Context, names []string, start time.Time) error
	// SyncTags records complete tag lists as resolved at asOf.
	SyncTags(ctx context.Context, lists map[string]map[string]v1.Descriptor, asOf time.Time) error
	// FillIndex describes the digests tags point to that the index lacks; it returns how
	// many, and tells described each batch's count as it goes (nil: not told).
	FillIndex(ctx context.Context, described func(n int)) (int, error)
	// RefusedCatalog records that the registry refused its catalog to a walk that started at
	// start, and returns the repositories known instead.
	RefusedCatalog(ctx context.Context, start time.Time) ([]string, error)
}

// SyncResult says what one sync changed.
type SyncResult struct {
	Repositories int
	Tags         int
	// Pushes and Deletes count the synthesized events.
	Pushes  int
	Deletes int
	// Skipped counts repositories or tags that could not be read and were left alone.
	Skipped int
	// Indexed counts the manifests newly described in the index.
	Indexed int
}

// Syncer reconciles the store with the registry: notifications can be lost (Berth down
// longer than the registry retries, a registry restarted with events queued in memory), so
// it walks the catalog and tags and records a push or delete with source "sync" for every
// tag whose digest differs from what the stored events imply.
type Syncer struct {
	opts    SyncOptions
	reg     *registry.Client
	mu      sync.Mutex // one sync at a time
	missed  atomic.Bool
	runs    *prometheus.CounterVec
	changes *prometheus.CounterVec

	progress progress
	queue    atomic.Pointer[repoQueue] // the running walk's, for Prioritize
}

// NewSyncer returns a Syncer for opts.
func NewSyncer(opts SyncOptions) (*Syncer, error) {
	if opts.Store == nil {
		return nil, errors.New("events: sync needs a store")
	}
	if opts.Registry == nil {
		return nil, errors.New("events: sync needs a registry")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Minute
	}
	if opts.Record == nil {
		opts.Record = func(ctx context.Context, events []store.Event) error {
			_, err := opts.Store.AddEvents(ctx, events)
			return err
		}
	}
	s := &Syncer{
		opts: opts, reg: opts.Registry,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_sync_runs_total", Help: "Registry reconciliation runs, by result.",
		}, []string{"result"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_sync_events_total", Help: "Events synthesized by reconciliation, by action.",
		}, []string{"action"}),
	}
	s.progress.idx = opts.Store
	if opts.Registerer != nil {
		for _, c := range append([]prometheus.Collector{s.runs, s.changes}, s.progress.metrics()...) {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("events: register sync metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Run syncs after delay and then every interval until ctx is done. A short delay at start
// lets the registry deliver its queued notifications first, so the first sync does not
// record as "sync" what the webhook is about to report anyway.
func (s *Syncer) Run(ctx context.Context, delay, interval time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(delay):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		start := time.Now()
		res, err := s.Sync(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Warn("registry sync failed", "err", err)
		} else if err == nil {
			level := slog.LevelDebug
			if res.Pushes+res.Deletes > 0 {
				level = slog.LevelInfo
			}
			slog.Log(ctx, level, "registry sync done", "repositories", res.Repositories, "tags", res.Tags,
				"pushes", res.Pushes, "deletes", res.Deletes, "skipped", res.Skipped, "indexed", res.Indexed, "took", time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type tagKey struct{ repo, tag string }

type remoteTag struct {
	digest, mediaType string
	size              int64
}

// Sync walks the registry once and records the differences.
func (s *Syncer) Sync(ctx context.Context) (SyncResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	s.progress.start(ctx)
	res, err := s.sync(ctx)
	s.progress.end(ctx, err == nil)
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.runs.WithLabelValues(result).Inc()
	if err == nil {
		s.missed.Store(res.Pushes+res.Deletes > 0)
	}
	return res, err
}

// Missed reports whether the last sync found changes the notifications had not brought:
// until one finds none, notifications are not to be trusted on their own.
func (s *Syncer) Missed() bool { return s.missed.Load() }

func (s *Syncer) sync(ctx context.Context) (SyncResult, error) {
	var res SyncResult
	// The stored state is read, and the synthesized events stamped, before the registry is
	// walked: a webhook event for a change made during the walk then carries a later time
	// and wins over what the walk saw.
	stamp := time.Now().UTC()
	known, err := s.opts.Store.Tags(ctx)
	if err != nil {
		return res, fmt.Errorf("sync: read tag state: %w", err)
	}
	deleted, err := s.opts.Store.DeletedTags(ctx)
	if err != nil {
		return res, fmt.Errorf("sync: read deleted tags: %w", err)
	}
	repos, err := s.reg.Catalog(ctx)
	// A registry refusing its catalog is walked over the repositories known instead, and
	// none is dropped from the index for not being listed.
	refused := err != nil && s.opts.Index != nil && s.reg.CatalogRefused(ctx, err)
	if refused {
		repos, err = s.opts.Index.RefusedCatalog(ctx, stamp)
	}
	if err != nil {
		return res, fmt.Errorf("sync: %w", err)
	}
	res.Repositories = len(repos)
	if s.opts.Index != nil && !refused {
		if err := s.opts.Index.SyncRepositories(ctx, repos, stamp); err != nil {
			return res, fmt.Errorf("sync: index repositories: %w", err)
		}
	}

	inCatalog := map[string]bool{}
	for _, r := range repos {
		inCatalog[r] = true
	}
	w, err := s.walkTags(ctx, repos, stamp, &res)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return res, fmt.Errorf("sync: %w", err)
	}
	found, listed := w.found, w.listed
	if s.opts.Index != nil {
		s.progress.phase(ctx, "details")
		n, err := s.opts.Index.FillIndex(ctx, func(n int) {
			s.progress.update(ctx, false, func(p *api.IndexProgress) { p.Manifests += n })
		})
		res.Indexed = n
		if err != nil {
			return res, fmt.Errorf("sync: fill index: %w", err)
		}
	}

	have := map[tagKey]store.TagRef{}
	for _, t := range known {
		have[tagKey{t.Repository, t.Tag}] = t
	}
	gone := map[tagKey]store.TagRef{}
	for _, t := range deleted {
		gone[tagKey{t.Repository, t.Tag}] = t
	}
	recorded, err := s.recordedDuring(ctx, found, have)
	if err != nil {
		return res, err
	}
	var out []store.Event
	for k, rt := range found {
		prev, ok := have[k]
		if (ok && prev.Digest == rt.digest) || recorded[k] == rt.digest {
			continue
		}
		if !ok {
			prev = gone[k] // the deletion this push follows, if one is stored
		}
		e := syncEvent(store.ActionPush, k, rt.digest, prev, stamp)
		e.MediaType, e.Size = rt.mediaType, rt.size
		out = append(out, e)
		res.Pushes++
	}
	for k, prev := range have {
		if _, ok := found[k]; ok {
			continue
		}
		// Only a repository read completely, or one gone from the catalog, proves a tag gone.
		if inCatalog[k.repo] && !listed[k.repo] {
			continue
		}
		out = append(out, syncEvent(store.ActionDelete, k, prev.Digest, prev, stamp))
		res.Deletes++
	}
	if len(out) == 0 {
		return res, nil
	}
	if err := s.opts.Record(ctx, out); err != nil {
		return res, fmt.Errorf("sync: record %d events: %w", len(out), err)
	}
	s.changes.WithLabelValues(store.ActionPush).Add(float64(res.Pushes))
	s.changes.WithLabelValues(store.ActionDelete).Add(float64(res.Deletes))
	return res, nil
}

// recordedDuring returns, of the tags the walk found at a digest the stored state read before
// it did not have, those a notification recorded meanwhile, with their digest now: a push
// made just before the sync started, whose notification was still on its way, is the
// notification's, not a second push.
func (s *Syncer) recordedDuring(ctx context.Context, found map[tagKey]remoteTag, have map[tagKey]store.TagRef) (map[tagKey]string, error) {
	changed := false
	for k, rt := range found {
		if prev, ok := have[k]; !ok || prev.Digest != rt.digest {
			changed = true
			break
		}
	}
	if !changed {
		return nil, nil
	}
	now, err := s.opts.Store.Tags(ctx)
	if err != nil {
		return nil, fmt.Errorf("sync: read tag state again: %w", err)
	}
	out := map[tagKey]string{}
	for _, t := range now {
		k := tagKey{t.Repository, t.Tag}
		if rt, ok := found[k]; ok && rt.digest == t.Digest && have[k].Digest != t.Digest {
			out[k] = t.Digest
		}
	}
	return out, nil
}

// syncEvent builds a synthesized event that changes the tag k from the stored state prev (a
// live tag, a deleted one, or the zero TagRef for a tag never seen) to digest. Its id is
// derived from the change and from prev, the time of the event that made the state it
// replaces included: a sync repeated before the first one's events are visible reads the same
// state and records nothing twice, while a tag that returns to an earlier digest, or is
// deleted a second time, replaces a different state and is recorded again.
func syncEvent(action string, k tagKey, digest string, prev store.TagRef, ts time.Time) store.Event {
	var since string
	if !prev.Updated.IsZero() {
		since = strconv.FormatInt(prev.Updated.UnixNano(), 10)
	}
	h := sha256.Sum256([]byte(strings.Join([]string{k.repo, k.tag, digest, action, prev.Digest, since}, "\x00")))
	return store.Event{
		ID: "sync-" + hex.EncodeToString(h[:16]), Timestamp: ts, Action: action,
		Repository: k.repo, Tag: k.tag, Digest: digest, Actor: "berth-sync",
		RequestMethod: "SYNC", Source: store.SourceSync,
	}
}
