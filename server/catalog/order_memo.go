package catalog

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// orderMemo keeps the tag order (store.TagOrder rows) of the large repositories last sorted
// or measured: a 10,000-tag repository's order is a 10,000-row read (35–40 ms on a quiet
// server, 0.1–0.3 s while a visit's other answers and the revalidation run), and a visit
// reads it for its page, then for its storage use, and the next visit again. The rows are
// the index's, the same for every caller (each answer checks its caller's access and
// matches the rows against the caller's own tag list first).
//
// An entry is used as read for orderMemoAge; after that, as long as the index's mark of the
// repository's order (store.Index.IndexTagOrderMark, one row) is still the one read before
// the entry: any replica's write that adds, moves, deletes or describes a tag changes it.
// A write of this process also drops the entry at once (flush, invalidate). Check times,
// which the mark leaves out, follow this process's confirmations (written) and the rows
// each revalidation run reads (refresh); another replica's confirmations reach it there.
// A repository without a mark (not in the catalog yet) is read again after orderMemoAge.
type orderMemo struct {
	mu      sync.Mutex
	m       map[string]*orderEntry
	rows    int
	dropped map[string]time.Time // when this process last dropped a repository's entry
}

type orderEntry struct {
	order  []store.TagOrder
	byName map[string]int // index in order, by tag
	at     time.Time
	mark   int64 // the index's mark of the order, read before it
	marked bool
}

const (
	// orderMemoAge is how long an entry is used without asking the index whether the order
	// changed: what another replica wrote is seen after it at the latest.
	orderMemoAge = 2 * time.Second
	// orderMemoRows bounds the rows kept, all repositories together; past it, it starts
	// again. Repositories under orderMemoMin tags are read each time (a few ms).
	orderMemoRows = 200_000
	orderMemoMin  = 1_000
	// orderMemoMaxAge bounds how long a mark vouches for an entry: a write that sets no
	// mark (a replica on an older Berth, during an upgrade) shows after it at the latest.
	orderMemoMaxAge = time.Minute
	// orderReadTimeout bounds a shared read of the order, whoever waits for it.
	orderReadTimeout = 30 * time.Second
	// maxDropped bounds the repositories whose drop times are noted.
	maxDropped = 10_000
)

// tagOrder returns the index's tag order of repository and its rows by name, from the memo
// while it is younger than orderMemoAge or the index's mark of the order is unchanged.
// expect is how many tags the caller knows of: the mark is read only for a repository
// that may be kept (one row less per page of a small repository).
func (s *Service) tagOrder(ctx context.Context, repository string, expect int) ([]store.TagOrder, map[string]int, error) {
	m := &s.orders
	m.mu.Lock()
	e, had := m.m[repository]
	dropped := m.dropped[repository]
	m.mu.Unlock()
	if had && time.Since(e.at) < orderMemoAge {
		return e.order, e.byName, nil
	}
	// One read at a time per repository: a page asked for while the previous one's storage
	// use reads the order shares that read. The rows are the same for every caller; the
	// read goes on, bounded, if the caller that started it leaves, and a caller leaves when
	// it must. A caller after this process's own write does not join a read from before it.
	key := "order/" + repository + "/" + strconv.FormatInt(dropped.UnixNano(), 10)
	ch := s.flight.DoChan(key, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orderReadTimeout)
		defer cancel()
		return s.readOrder(rctx, repository, e, had, had || expect >= orderMemoMin)
	})
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, nil, r.Err
		}
		e = r.Val.(*orderEntry)
		return e.order, e.byName, nil
	}
}

// readOrder reads repository's tag order from the index unless the mark of memo entry old
// (when had) says it is still current, and keeps a large one in the memo. With marks false,
// no mark is read (and the entry kept has none).
func (s *Service) readOrder(ctx context.Context, repository string, old *orderEntry, had, marks bool) (*orderEntry, error) {
	at := time.Now() // before the reads: a write during them is newer than the entry
	var mark int64
	var marked bool
	if marks {
		var err error
		if mark, marked, err = s.idx.IndexTagOrderMark(ctx, repository); err != nil {
			return nil, err
		}
	}
	if had && marked && old.marked && old.mark == mark && time.Since(old.at) < orderMemoMaxAge {
		return old, nil
	}
	order, err := s.idx.IndexTagOrder(ctx, repository)
	if err != nil {
		return nil, err
	}
	e := &orderEntry{order: order, byName: make(map[string]int, len(order)), at: at, mark: mark, marked: marked}
	for i, o := range order {
		e.byName[o.Tag] = i
	}
	if len(order) >= orderMemoMin {
		s.orders.put(repository, e)
	}
	return e, nil
}

// put keeps e for repository, unless this process dropped the repository's entry since e's
// reads began (they may predate its write).
func (m *orderMemo) put(repository string, e *orderEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.dropped[repository]; ok && !d.Before(e.at) {
		return
	}
	if m.m == nil || m.rows+len(e.order) > orderMemoRows {
		m.m, m.rows = map[string]*orderEntry{}, 0
	}
	if old, ok := m.m[repository]; ok {
		m.rows -= len(old.order)
	}
	m.m[repository] = e
	m.rows += len(e.order)
}

// drop removes repository's entry and notes when; m.mu is held. The notes are bounded:
// past maxDropped they start again (a read from before a forgotten drop is then caught by
// the mark once orderMemoAge has passed).
func (m *orderMemo) drop(repository string) {
	if e, ok := m.m[repository]; ok {
		m.rows -= len(e.order)
		delete(m.m, repository)
	}
	if m.dropped == nil || len(m.dropped) >= maxDropped {
		m.dropped = map[string]time.Time{}
	}
	m.dropped[repository] = time.Now()
}

// forget drops repository's entry: its tags moved, came or went, or a manifest of it
// was described.
func (m *orderMemo) forget(repository string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drop(repository)
}

// written applies tag rows written to the index: rows that only confirm a tag where the
// entry has it (same digest) update its check time; any other row drops the repository's
// entry.
func (m *orderMemo) written(tags []store.IndexTag) {
	m.mu.Lock()
	defer m.mu.Unlock()
	copied := map[string]bool{}
	for _, t := range tags {
		e, ok := m.m[t.Repository]
		if !ok {
			continue
		}
		i, found := e.byName[t.Tag]
		if !found || e.order[i].Digest != t.Digest {
			m.drop(t.Repository)
			continue
		}
		m.checked(t.Repository, e, i, t.Checked, copied)
	}
}

// refresh takes the check times of rows just read from the index (a revalidation run's)
// into repository's entry, where it has the tag at the same digest.
func (m *orderMemo) refresh(repository string, rows []store.TagOrder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	copied := map[string]bool{}
	for _, r := range rows {
		e, ok := m.m[repository]
		if !ok {
			return
		}
		if i, found := e.byName[r.Tag]; found && e.order[i].Digest == r.Digest {
			m.checked(repository, e, i, r.Checked, copied)
		}
	}
}

// checked moves the check time of row i of repository's entry e to at if that is later, in
// a copy of the rows made once per repository and call (copied), so that readers holding
// the old slice see no change. m.mu is held.
func (m *orderMemo) checked(repository string, e *orderEntry, i int, at time.Time, copied map[string]bool) {
	if !at.After(e.order[i].Checked) {
		return
	}
	if !copied[repository] {
		c := *e
		c.order = append([]store.TagOrder(nil), e.order...)
		m.m[repository] = &c
		copied[repository] = true
		e = &c
	}
	e.order[i].Checked = at
}
