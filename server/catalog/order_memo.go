package catalog

import (
	"context"
	"sync"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// orderMemo keeps, for a moment, the tag order (store.TagOrder rows) of the repositories
// last sorted or measured: a 10,000-tag repository's order is a 10,000-row read (41 ms on
// a quiet server, 0.1–0.3 s while a visit's other answers and the revalidation run), and a
// visit reads it for its page, then for its storage use, within a second or two. The rows
// are the index's, the same for every caller (each answer checks its caller's access and
// matches the rows against the caller's own tag list first).
//
// A write of this process that moves a tag, adds one or describes a manifest drops the
// repository's entry (flush, invalidate); a revalidation that only confirms tags updates
// their check times in it. Another replica's writes show once the entry is orderMemoAge
// old.
type orderMemo struct {
	mu   sync.Mutex
	m    map[string]*orderEntry
	rows int
}

type orderEntry struct {
	order  []store.TagOrder
	byName map[string]int // index in order, by tag
	at     time.Time
}

const (
	// orderMemoAge bounds how long an entry is used: what another replica wrote is seen
	// after it at the latest.
	orderMemoAge = 2 * time.Second
	// orderMemoRows bounds the rows kept, all repositories together; past it, it starts
	// again. Repositories under orderMemoMin tags are read each time (a few ms).
	orderMemoRows = 200_000
	orderMemoMin  = 1_000
)

// tagOrder returns the index's tag order of repository and its rows by name, from the memo
// while it is younger than orderMemoAge.
func (s *Service) tagOrder(ctx context.Context, repository string) ([]store.TagOrder, map[string]int, error) {
	m := &s.orders
	m.mu.Lock()
	e, ok := m.m[repository]
	m.mu.Unlock()
	if ok && time.Since(e.at) < orderMemoAge {
		return e.order, e.byName, nil
	}
	at := time.Now() // before the read: a write during it is newer than the entry
	order, err := s.idx.IndexTagOrder(ctx, repository)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]int, len(order))
	for i, o := range order {
		byName[o.Tag] = i
	}
	if len(order) >= orderMemoMin {
		m.mu.Lock()
		if m.m == nil || m.rows+len(order) > orderMemoRows {
			m.m, m.rows = map[string]*orderEntry{}, 0
		}
		if old, ok := m.m[repository]; ok {
			m.rows -= len(old.order)
		}
		m.m[repository] = &orderEntry{order: order, byName: byName, at: at}
		m.rows += len(order)
		m.mu.Unlock()
	}
	return order, byName, nil
}

// forget drops repository's entry: its tags moved, came or went, or a manifest of it
// was described.
func (m *orderMemo) forget(repository string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.m[repository]; ok {
		m.rows -= len(e.order)
		delete(m.m, repository)
	}
}

// written applies tag rows written to the index: rows that only confirm a tag where the
// entry has it (same digest) update its check time, a copy of the rows so that readers
// holding the old slice see no change; any other row drops the repository's entry.
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
			m.rows -= len(e.order)
			delete(m.m, t.Repository)
			continue
		}
		if !copied[t.Repository] {
			e = &orderEntry{order: append([]store.TagOrder(nil), e.order...), byName: e.byName, at: e.at}
			m.m[t.Repository] = e
			copied[t.Repository] = true
		}
		if t.Checked.After(e.order[i].Checked) {
			e.order[i].Checked = t.Checked
		}
	}
}
