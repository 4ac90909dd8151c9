package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// TagOrder is what orders a repository's tags on a page sorted by creation, size or push
// time, without the rest of their summaries.
type TagOrder struct {
	Tag    string
	Digest string
	// Described is whether the index has the summary of the tag's digest; Size and Created
	// come from it.
	Described bool
	Size      int64
	Created   time.Time
	Pushed    time.Time
	Checked   time.Time
}

// IndexTagOrder implements Index: one narrow row per tag (also what storage usage resolves
// tags with) (no platforms, no referrer counts),
// so a sorted page of a large repository reads its window's full rows alone.
func (s *sqlStore) IndexTagOrder(ctx context.Context, repository string) ([]TagOrder, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT t.tag, t.digest, m.kind IS NOT NULL, m.size, m.created, t.pushed, t.checked
		FROM index_tags t LEFT JOIN index_manifests m ON m.digest = t.digest
		WHERE t.repository = ?`), repository)
	if err != nil {
		return nil, fmt.Errorf("%s: tag order of %s: %w", s.d.name, repository, err)
	}
	defer rows.Close()
	out := []TagOrder{}
	for rows.Next() {
		var o TagOrder
		var size, created sql.NullInt64
		var pushed, checked int64
		if err := rows.Scan(&o.Tag, &o.Digest, &o.Described, &size, &created, &pushed, &checked); err != nil {
			return nil, fmt.Errorf("%s: read tag order: %w", s.d.name, err)
		}
		o.Size = size.Int64
		if created.Int64 != 0 {
			o.Created = time.Unix(0, created.Int64).UTC()
		}
		o.Pushed, o.Checked = time.Unix(0, pushed).UTC(), time.Unix(0, checked).UTC()
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read tag order: %w", s.d.name, err)
	}
	return out, nil
}
