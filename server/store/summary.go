package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// The catalog sorts and filters repositories by aggregates over their tags (last push, size,
// kind); computing those over every repository on each request takes seconds at 200,000
// tags. index_repository_summary keeps one row per index_repositories row with the
// aggregates, recomputed for the touched repositories inside every write that can change
// them, so catalog pages are index range scans.

// repositorySummaryMigration creates and backfills index_repository_summary. Its SQL is
// spelled out here rather than built from summaryColumns, so the migration stays as applied
// even if the runtime query changes. kind is an index into kinds. The indexes serve each sort
// with and without the kind filter, so a page reads its rows in order instead of sorting.
const repositorySummaryMigration = `CREATE TABLE index_repository_summary (
		name TEXT PRIMARY KEY,
		tags INTEGER NOT NULL,
		last_push BIGINT NOT NULL,
		size BIGINT NOT NULL,
		kind INTEGER NOT NULL
	);
	CREATE INDEX index_repository_summary_last_push ON index_repository_summary (last_push, name);
	CREATE INDEX index_repository_summary_size ON index_repository_summary (size, name);
	CREATE INDEX index_repository_summary_kind ON index_repository_summary (kind, name);
	CREATE INDEX index_repository_summary_kind_last_push ON index_repository_summary (kind, last_push, name);
	CREATE INDEX index_repository_summary_kind_size ON index_repository_summary (kind, size, name);
	INSERT INTO index_repository_summary (name, tags, last_push, kind, size)
		SELECT r.name, COUNT(t.tag), COALESCE(MAX(t.pushed), 0),
			COALESCE(MAX(CASE WHEN m.artifact_type LIKE '%helm%' THEN 3 WHEN m.kind IN ('image', 'index') THEN 2 WHEN m.kind <> '' THEN 1 ELSE 0 END), 0),
			COALESCE((SELECT CAST(SUM(d.size) AS BIGINT) FROM index_manifests d WHERE d.digest IN (SELECT t2.digest FROM index_tags t2 WHERE t2.repository = r.name)), 0)
		FROM index_repositories r LEFT JOIN index_tags t ON t.repository = r.name
			LEFT JOIN index_manifests m ON m.digest = t.digest
		GROUP BY r.name`

// kindExpr is a repository's kind as an index into kinds: the most telling kind among its
// tags (a chart beats an image beats another artifact).
const kindExpr = `COALESCE(MAX(CASE WHEN m.artifact_type LIKE '%helm%' THEN 3 WHEN m.kind IN ('image', 'index') THEN 2 WHEN m.kind <> '' THEN 1 ELSE 0 END), 0)`

// countedTag is api.IsReferrerTag negated in SQL, for the tag column of alias t: a tag named
// sha256-<64 characters>, alone or followed by a dot and a suffix, is a referrer tag (cosign's
// .sig/.att/.sbom, the OCI referrers fallback index) and does not count as one of the
// repository's tags, as app/api.CountTags says. substr and length read the same in SQLite and
// PostgreSQL, and unlike LIKE, compare case-sensitively in both.
const countedTag = `NOT (substr(t.tag, 1, 7) = 'sha256-' AND (length(t.tag) = 71 OR (length(t.tag) > 72 AND substr(t.tag, 72, 1) = '.')))`

// summaryImageCountMigration recounts the summaries' tags under countedTag, spelled out as
// applied.
const summaryImageCountMigration = `UPDATE index_repository_summary SET tags = (SELECT COUNT(*) FROM index_tags t
	WHERE t.repository = index_repository_summary.name
	AND NOT (substr(t.tag, 1, 7) = 'sha256-' AND (length(t.tag) = 71 OR (length(t.tag) > 72 AND substr(t.tag, 72, 1) = '.'))))`

// summaryColumns aggregates one repository's tags (alias t, joined with their manifests m)
// into a catalog row: tag count (referrer tags left out), last push, kind rank (3 chart, 2 image, 1 artifact) and the
// size of its distinct manifests; summarize stores it in index_repository_summary.
const summaryColumns = `r.name, COUNT(CASE WHEN ` + countedTag + ` THEN 1 END), COALESCE(MAX(t.pushed), 0),
	` + kindExpr + `,
	COALESCE((SELECT CAST(SUM(d.size) AS BIGINT) FROM index_manifests d WHERE d.digest IN (SELECT t2.digest FROM index_tags t2 WHERE t2.repository = r.name)), 0) AS total_size`

const summaryFrom = ` FROM index_repositories r LEFT JOIN index_tags t ON t.repository = r.name
	LEFT JOIN index_manifests m ON m.digest = t.digest`

// upsertSummary recomputes summary rows from the tags; the caller appends the WHERE clause
// choosing the repositories (SQLite needs one before ON CONFLICT after a join anyway).
//
// Each row also takes the write's mark (summaryMark, its first argument), which
// IndexTagOrderMark reads back.
const upsertSummary = `INSERT INTO index_repository_summary (name, tags, last_push, kind, size, changed)
	SELECT ` + summaryColumns + `, CAST(? AS BIGINT)` + summaryFrom

const upsertSummaryEnd = ` GROUP BY r.name ON CONFLICT (name) DO UPDATE SET tags = excluded.tags,
	last_push = excluded.last_push, kind = excluded.kind, size = excluded.size, changed = excluded.changed`

// summarize recomputes the summary rows of the named repositories in tx. Names not in
// index_repositories get no row: the catalog lists only those.
func (s *sqlStore) summarize(ctx context.Context, tx *sql.Tx, names []string) error {
	return s.summarizeWhere(ctx, tx, names, "")
}

// summarizeNew adds the summary rows of those of names that have none yet.
func (s *sqlStore) summarizeNew(ctx context.Context, tx *sql.Tx, names []string) error {
	return s.summarizeWhere(ctx, tx, names, ` AND NOT EXISTS (SELECT 1 FROM index_repository_summary x WHERE x.name = r.name)`)
}

func (s *sqlStore) summarizeWhere(ctx context.Context, tx *sql.Tx, names []string, cond string) error {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	for chunk := range slices.Chunk(names, 500) {
		args := []any{summaryMark()}
		for _, n := range chunk {
			args = append(args, n)
		}
		if _, err := tx.ExecContext(ctx, s.q(upsertSummary+` WHERE r.name IN (`+marks(len(chunk))+`)`+cond+upsertSummaryEnd), args...); err != nil {
			return fmt.Errorf("summarize repositories: %w", err)
		}
	}
	return nil
}

// summarizeDigests recomputes the rows of the repositories with a tag pointing to one of
// digests, whose summaries just arrived.
func (s *sqlStore) summarizeDigests(ctx context.Context, tx *sql.Tx, digests []string) error {
	var names []string
	for chunk := range slices.Chunk(digests, 500) {
		args := make([]any, len(chunk))
		for i, d := range chunk {
			args[i] = d
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT DISTINCT repository FROM index_tags WHERE digest IN (`+marks(len(chunk))+`)`), args...)
		if err != nil {
			return fmt.Errorf("repositories of manifests: %w", err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			names = append(names, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return s.summarize(ctx, tx, names)
}

// indexTx runs f in one transaction that may change summary rows. On PostgreSQL, under READ
// COMMITTED, two such transactions at once could each recompute a repository without seeing
// the other's uncommitted tag or manifest, leaving a stale row; they take a transaction lock
// first, so the second one's statements see the first one's commit. SQLite's write
// transactions are serialized already.
func (s *sqlStore) indexTx(ctx context.Context, what string, f func(tx *sql.Tx) error) error {
	return s.inTx(ctx, what, func(tx *sql.Tx) error {
		if err := s.lockIndex(ctx, tx); err != nil {
			return err
		}
		return f(tx)
	})
}

// lockIndex takes the index write lock in tx, where the database needs one.
func (s *sqlStore) lockIndex(ctx context.Context, tx *sql.Tx) error {
	if s.d.indexLock == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.indexLock); err != nil {
		return fmt.Errorf("lock index: %w", err)
	}
	return nil
}
