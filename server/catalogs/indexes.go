package catalogs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Indexes gives each endpoint a persistent metadata index of its own, like the main
// registry's: repository rows with tag counts, sizes and kinds, tag rows with their
// summaries, labels and the manifests seen, shared by replicas and kept across restarts. An
// endpoint's pages then sort by size and push time, filter by kind, search labels and list
// untagged manifests as the main registry's do.
type Indexes struct {
	// Open opens the index of the endpoint name (store.OpenEndpoint beside the main
	// database).
	Open func(ctx context.Context, name string) (store.Store, error)
	// Remove deletes the index of an endpoint that is gone (store.RemoveEndpoint); nil
	// keeps it.
	Remove func(ctx context.Context, name string) error
	// SyncInterval is how often the index of an endpoint someone browsed is reconciled with
	// it (a walk of its catalog and tags, one replica per period); 0 means only the pages'
	// own reads and catalog walks fill it.
	SyncInterval time.Duration
}

// endpointIndex is an open endpoint index and the sync keeping it for the endpoint's current
// settings.
type endpointIndex struct {
	st       store.Store
	stopSync context.CancelFunc
}

// openTimeout bounds opening (and migrating) an endpoint's index.
const openTimeout = 30 * time.Second

// syncLease is the lease key that makes one replica per period sync an endpoint's index.
const syncLease = "endpoint-sync"

// StopWaits answers every wait for changes of every registry's pages (the server shuts down).
func (s *Set) StopWaits() {
	s.main.StopWaits()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.cats {
		b.cat.StopWaits()
	}
}

// Close stops every endpoint's sync and closes their indexes.
func (s *Set) Close() error {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, ix := range s.indexes {
		ix.stopSync()
		_ = ix.st.Close()
		delete(s.indexes, name)
	}
	return nil
}

// index returns the open index of endpoint name, opening it on first use; nil without
// indexes (or when it will not open: the endpoint's pages are then read live). Called with
// s.mu held.
func (s *Set) index(ctx context.Context, name string) *endpointIndex {
	if s.idx.Open == nil {
		return nil
	}
	if ix, ok := s.indexes[name]; ok {
		return ix
	}
	// Not the request's deadline: a search gives each endpoint a few seconds, and migrating
	// a new index can take longer.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), openTimeout)
	defer cancel()
	st, err := s.idx.Open(octx, name)
	if err != nil {
		slog.Warn("endpoint index unavailable; its pages are read live", "endpoint", name, "err", err)
		return nil
	}
	ix := &endpointIndex{st: st, stopSync: func() {}}
	s.indexes[name] = ix
	return ix
}

// indexed fills opts with the endpoint's index and starts the sync keeping it for this
// version of the endpoint's settings, stopping the one for the previous version. Called
// with s.mu held.
func (s *Set) indexed(ctx context.Context, name, version string, client *registry.Client, opts *catalog.Options) (started func(*catalog.Service), ok bool) {
	ix := s.index(ctx, name)
	if ix == nil {
		return func(*catalog.Service) {}, false
	}
	opts.Index = ix.st
	opts.Progress = func(ctx context.Context) (api.IndexProgress, error) { return events.ReadProgress(ctx, ix.st) }
	var syncer atomic.Pointer[events.Syncer]
	opts.Opened = func(repository string) {
		if sy := syncer.Load(); sy != nil {
			sy.Prioritize(repository)
		}
	}
	return func(cat *catalog.Service) {
		ix.stopSync()
		ix.stopSync = func() {}
		if s.idx.SyncInterval <= 0 {
			return
		}
		sy, err := events.NewSyncer(events.SyncOptions{Index: cat, Registry: client, Store: ix.st})
		if err != nil {
			slog.Warn("endpoint index sync", "endpoint", name, "err", err)
			return
		}
		syncer.Store(sy)
		sctx, cancel := context.WithCancel(s.bg)
		ix.stopSync = cancel
		go s.keepSynced(sctx, name, version, sy, ix)
	}, true
}

// keepSynced syncs the endpoint's index every SyncInterval while the endpoint keeps these
// settings, one replica per period (a lease in the endpoint's index). An endpoint removed
// since has its index closed and removed.
func (s *Set) keepSynced(ctx context.Context, name, version string, syncer *events.Syncer, ix *endpointIndex) {
	ctx = access.With(ctx, access.Identity{Kind: access.Service, Name: "berth"})
	interval := s.idx.SyncInterval
	for {
		b, err := s.eps.Browse(ctx, name)
		switch {
		case httperr.Is(err, api.CodeNotFound):
			s.forget(ctx, name, ix)
			return
		case err == nil && b.Version != version:
			return // rebuilt with the new settings on its next visit
		case err == nil:
			s.syncOnce(ctx, name, syncer, ix.st, interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// syncOnce runs one sync of the endpoint's index unless another replica holds this period's
// lease.
func (s *Set) syncOnce(ctx context.Context, name string, syncer *events.Syncer, st store.Store, interval time.Duration) {
	now := time.Now()
	// Held for the period: the next replica's attempt after it finds the lease free.
	ok, err := st.TakeLease(ctx, syncLease, s.holder, now, now.Add(interval-interval/10))
	if err != nil || !ok {
		return
	}
	start := time.Now()
	res, err := syncer.Sync(ctx)
	if err != nil {
		if ctx.Err() == nil {
			slog.Warn("endpoint index sync failed", "endpoint", name, "err", err)
		}
		return
	}
	slog.Debug("endpoint index synced", "endpoint", name, "repositories", res.Repositories, "tags", res.Tags,
		"indexed", res.Indexed, "took", time.Since(start).Round(time.Millisecond))
}

// forget drops the catalog service and index of an endpoint that was removed.
func (s *Set) forget(ctx context.Context, name string, ix *endpointIndex) {
	s.mu.Lock()
	if s.indexes[name] == ix {
		delete(s.indexes, name)
		delete(s.cats, name)
	} else {
		ix = nil // already replaced by a new endpoint of the same name
	}
	s.mu.Unlock()
	if ix == nil {
		return
	}
	_ = ix.st.Close()
	if s.idx.Remove != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), openTimeout)
		defer cancel()
		if err := s.idx.Remove(rctx, name); err != nil {
			slog.Warn("remove a removed endpoint's index", "endpoint", name, "err", err)
		}
	}
}

// newHolder names this process in the sync leases.
func newHolder() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
