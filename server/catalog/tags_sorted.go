package catalog

import (
	"context"
	"log/slog"
	"slices"
	"strings"
)

// sortedWindow returns the window q asks of names sorted by creation, size or push time, and
// the names whose rows are stale, when the index describes every one of names: the order
// then comes from one narrow read of the index, and only the window's full rows are read
// after it (a 10,000-tag repository's newest 100 without reading 10,000 summaries). ok is
// false when the page has to be chosen the long way: filters by platform, kind or label, a
// tag the index does not describe yet (missing counts them), or the index failing.
func (s *Service) sortedWindow(ctx context.Context, repository string, names []string, q TagQuery) (win, stale []string, missing int, ok bool) {
	if s.idx == nil || q.Platform != "" || q.Kind != "" || q.Label != "" {
		return nil, nil, 0, false
	}
	order, byName, err := s.tagOrder(ctx, repository, len(names)) // order_memo.go
	if err != nil {
		slog.Warn("index: read tag order", "repository", repository, "err", err)
		return nil, nil, 0, false
	}
	keys := make([]orderKey, 0, len(names))
	for _, n := range names {
		i, found := byName[n]
		if !found || !order[i].Described {
			missing++
			continue
		}
		o := order[i]
		keys = append(keys, orderKey{name: n, size: o.Size, created: o.Created, pushed: o.Pushed})
		if !s.fresh(o.Checked) {
			stale = append(stale, n)
		}
	}
	if missing > 0 {
		return nil, nil, missing, false
	}
	slices.SortFunc(keys, q.compare)
	if strings.HasPrefix(q.Sort, "-") {
		slices.Reverse(keys)
	}
	for _, k := range window(keys, q.Offset, q.Limit) {
		win = append(win, k.name)
	}
	return win, stale, 0, true
}
