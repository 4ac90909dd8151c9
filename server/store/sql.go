package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// dialect is what differs between the SQL databases: driver, placeholders, schema.
type dialect struct {
	name string
	// rebind turns ? placeholders into the database's own.
	rebind func(string) string
	// migrations are applied in order; their index+1 is the schema version.
	migrations []string
	// lock, if set, serializes concurrent migrators inside the migration transaction.
	lock string
	// notify, if set, tells listeners that a job (the one argument) has new events.
	notify string
	// indexLock, if set, serializes transactions that recompute repository summary rows.
	indexLock string
	// now is the current time as the job queue (River) stores it in its tables.
	now string

	// rejected reports whether a failed statement failed because of the values it was given
	// (constraint, encoding, size limits), so the same values will fail again.
	rejected func(error) bool
	// optimize, if set, refreshes the planner's statistics where they are stale. SQLite keeps
	// none on its own: without them it joins index_labels through its name index (every row
	// of a common label) instead of by digest, and a repository's labeled tags take seconds
	// at a million tags. PostgreSQL's autovacuum analyzes by itself.
	optimize string
	// fts: SQLite's FTS5 trigram tables narrow substring searches (trigram.go).
	fts bool
	// unindexed prefixes a column in a condition the planner must not serve from an index
	// (SQLite's unary +); empty where the planner's statistics choose well (PostgreSQL).
	unindexed string
}

// sqlStore implements Store over database/sql. Times are stored as Unix nanoseconds in
// BIGINT columns, so both databases bucket them with the same integer arithmetic.
type sqlStore struct {
	db *sql.DB
	d  dialect
	// optimized is when (Unix nanoseconds) the statistics were last refreshed.
	optimized atomic.Int64
}

// optimizeEvery is how often, at most, index writes refresh the planner's statistics.
const optimizeEvery = time.Minute

// maybeOptimize refreshes the planner's statistics after writes, at most once per
// optimizeEvery; a failure only costs query plans, so it is not reported.
func (s *sqlStore) maybeOptimize(ctx context.Context) {
	now := time.Now().UnixNano()
	last := s.optimized.Load()
	if s.d.optimize == "" || now-last < int64(optimizeEvery) || !s.optimized.CompareAndSwap(last, now) {
		return
	}
	_, _ = s.db.ExecContext(ctx, s.d.optimize)
}

func (s *sqlStore) q(query string) string { return s.d.rebind(query) }

// migrate applies the pending migrations, each in its own transaction with its version row.
func (s *sqlStore) migrate(ctx context.Context) error {
	// Under the migration lock: two replicas' CREATE TABLE IF NOT EXISTS at once can both
	// try to create it on PostgreSQL.
	if err := s.applyMigration(ctx, 0, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("%s: create schema_migrations: %w", s.d.name, err)
	}
	for i, m := range s.d.migrations {
		version := i + 1
		if err := s.applyMigration(ctx, version, m); err != nil {
			return fmt.Errorf("%s: migration %d: %w", s.d.name, version, err)
		}
	}
	s.maybeOptimize(ctx)
	return nil
}

// statements splits a migration script at its semicolons, keeping a trigger's body (BEGIN …
// END, whose statements end in semicolons too) and a function's ($$ … $$) whole.
func statements(script string) []string {
	var out []string
	var cur strings.Builder
	for part := range strings.SplitSeq(script, ";") {
		cur.WriteString(part)
		stmt := strings.TrimSpace(cur.String())
		upper := strings.ToUpper(stmt)
		body := strings.HasPrefix(upper, "CREATE TRIGGER") && strings.Contains(upper, " BEGIN") && !strings.HasSuffix(upper, "END")
		if body || strings.Count(stmt, "$$")%2 == 1 {
			cur.WriteString(";")
			continue
		}
		if stmt != "" {
			out = append(out, stmt)
		}
		cur.Reset()
	}
	return out
}

func (s *sqlStore) applyMigration(ctx context.Context, version int, script string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if s.d.lock != "" {
		if _, err := tx.ExecContext(ctx, s.d.lock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if version == 0 {
		if _, err := tx.ExecContext(ctx, script); err != nil {
			return err
		}
		return tx.Commit()
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range statements(script) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), version, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

const eventColumns = `id, ts, action, repository, tag, digest, media_type, size, length, url, refs, manifest,
	actor, request_id, request_addr, request_host, request_method, user_agent, source_addr, source_instance, source`

// AddEvents implements Store.
func (s *sqlStore) AddEvents(ctx context.Context, events []Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: begin: %w", s.d.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Taken before any row is written, so it is always the first lock an index writer waits on.
	if slices.ContainsFunc(events, changesIndex) {
		if err := s.lockIndex(ctx, tx); err != nil {
			return 0, fmt.Errorf("%s: %w", s.d.name, err)
		}
	}
	insert, err := tx.PrepareContext(ctx, s.q(`INSERT INTO events (`+eventColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`))
	if err != nil {
		return 0, fmt.Errorf("%s: prepare insert: %w", s.d.name, err)
	}
	defer insert.Close()
	added := 0
	var touched []string
	for _, e := range events {
		if e.ID == "" {
			return 0, fmt.Errorf("%w: %s: event without id", ErrRejected, s.d.name)
		}
		refs, err := json.Marshal(e.References)
		if err != nil {
			return 0, fmt.Errorf("%w: encode references: %w", ErrRejected, err)
		}
		if e.References == nil {
			refs = []byte("[]")
		}
		res, err := insert.ExecContext(ctx, e.ID, e.Timestamp.UnixNano(), e.Action, e.Repository, e.Tag, e.Digest,
			e.MediaType, e.Size, e.Length, e.URL, string(refs), e.Manifest(), e.Actor, e.RequestID, e.RequestAddr,
			e.RequestHost, e.RequestMethod, e.UserAgent, e.SourceAddr, e.SourceInstance, e.Source)
		if err != nil {
			return 0, s.writeError(fmt.Sprintf("insert event %s", clip(e.ID)), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("%s: insert event %s: %w", s.d.name, e.ID, err)
		}
		added += int(n)
		// Duplicates update the tag state too: it is guarded by timestamps, so applying an
		// event twice changes nothing, and a re-synthesized sync event is still current.
		if err := s.applyTagState(ctx, tx, e); err != nil {
			return 0, err
		}
		changed, err := s.applyIndex(ctx, tx, e)
		if err != nil {
			return 0, err
		}
		if changed {
			touched = append(touched, e.Repository)
		}
	}
	if err := s.summarize(ctx, tx, touched); err != nil {
		return 0, s.writeError("summarize repositories", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.writeError("commit", err)
	}
	return added, nil
}

// writeError wraps a failed write, marking it ErrRejected when the database refused the
// values rather than failed.
func (s *sqlStore) writeError(what string, err error) error {
	if s.d.rejected != nil && s.d.rejected(err) {
		return fmt.Errorf("%w: %s: %s: %w", ErrRejected, s.d.name, what, err)
	}
	return fmt.Errorf("%s: %s: %w", s.d.name, what, err)
}

// clip keeps a value quoted in an error short: an id can be as long as whoever sent it liked.
func clip(v string) string {
	if len(v) > 80 {
		return strings.ToValidUTF8(v[:80], "") + "…"
	}
	return v
}

// applyTagState keeps the tags table in step with push and delete events. Deliveries can
// arrive out of order after retries, so an event older than the row it would change is
// ignored. A deleted tag keeps its row, with an empty digest and the delete's time: a late
// push older than the delete then cannot bring it back, and the sync can tell one deletion
// of a tag from the next (see DeletedTags).
func (s *sqlStore) applyTagState(ctx context.Context, tx *sql.Tx, e Event) error {
	ts := e.Timestamp.UnixNano()
	var err error
	switch {
	case e.Action == ActionPush && e.Tag != "" && e.Digest != "":
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO tags (repository, tag, digest, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, updated = excluded.updated
			WHERE tags.updated <= excluded.updated`), e.Repository, e.Tag, e.Digest, ts)
	case e.Action == ActionDelete && e.Tag != "":
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO tags (repository, tag, digest, updated) VALUES (?, ?, '', ?)
			ON CONFLICT (repository, tag) DO UPDATE SET digest = '', updated = excluded.updated
			WHERE tags.updated <= excluded.updated`), e.Repository, e.Tag, ts)
	case e.Action == ActionDelete && e.Digest != "":
		_, err = tx.ExecContext(ctx, s.q(`UPDATE tags SET digest = '', updated = ? WHERE repository = ? AND digest = ? AND updated <= ?`), ts, e.Repository, e.Digest, ts)
	case e.Action == ActionDelete && e.Repository != "":
		_, err = tx.ExecContext(ctx, s.q(`UPDATE tags SET digest = '', updated = ? WHERE repository = ? AND digest <> '' AND updated <= ?`), ts, e.Repository, ts)
	}
	if err != nil {
		return s.writeError(fmt.Sprintf("update tag state for event %s", clip(e.ID)), err)
	}
	return nil
}

// Events implements Store.
func (s *sqlStore) Events(ctx context.Context, f Filter) ([]Event, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.Repository != "" {
		add("repository = ?", f.Repository)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if !f.Since.IsZero() {
		add("ts >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("ts < ?", f.Until.UnixNano())
	}
	if f.ManifestsOnly {
		// The feed counts what the statistics count: a HEAD of a manifest only resolves a tag
		// (clients and Berth's own sync do it before every pull), so it is not a pull here.
		add("manifest = ? AND NOT (action = 'pull' AND request_method = 'HEAD')", true)
	}
	if f.Before != "" {
		// Row-value comparison pages by (ts, id) so equal timestamps neither repeat nor skip.
		add("(ts, id) < (SELECT ts, id FROM events WHERE id = ?)", f.Before)
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	query := `SELECT ` + eventColumns + ` FROM events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY ts DESC, id DESC LIMIT ` + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: query events: %w", s.d.name, err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var ts int64
		var refs string
		var manifest bool
		if err := rows.Scan(&e.ID, &ts, &e.Action, &e.Repository, &e.Tag, &e.Digest, &e.MediaType, &e.Size,
			&e.Length, &e.URL, &refs, &manifest, &e.Actor, &e.RequestID, &e.RequestAddr, &e.RequestHost,
			&e.RequestMethod, &e.UserAgent, &e.SourceAddr, &e.SourceInstance, &e.Source); err != nil {
			return nil, fmt.Errorf("%s: read event: %w", s.d.name, err)
		}
		e.Timestamp = time.Unix(0, ts).UTC()
		if err := json.Unmarshal([]byte(refs), &e.References); err != nil {
			return nil, fmt.Errorf("%s: event %s references: %w", s.d.name, e.ID, err)
		}
		if len(e.References) == 0 {
			e.References = nil
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read events: %w", s.d.name, err)
	}
	return out, nil
}

// countedPull is the condition for a pull that counts in statistics: a manifest fetched with
// GET. Distribution reports HEAD requests as pulls too, and clients (and Berth's own sync)
// use HEAD only to resolve tags.
const countedPull = `action = 'pull' AND manifest = ? AND request_method <> 'HEAD'`

// Counts implements Store.
func (s *sqlStore) Counts(ctx context.Context, repo string, bucket time.Duration, since, until time.Time) ([]Bucket, error) {
	if bucket <= 0 {
		return nil, errors.New("store: bucket must be positive")
	}
	if !until.After(since) {
		return []Bucket{}, nil
	}
	width := int64(bucket)
	first := floorDiv(since.UnixNano(), width)
	last := floorDiv(until.UnixNano()-1, width)
	const maxBuckets = 10000
	if last-first >= maxBuckets {
		return nil, fmt.Errorf("store: %d buckets asked for, at most %d", last-first+1, maxBuckets)
	}
	// ts >= since is never negative in practice, so integer division floors.
	query := `SELECT ts / ? AS b,
			SUM(CASE WHEN action = 'push' THEN 1 ELSE 0 END),
			SUM(CASE WHEN ` + countedPull + ` THEN 1 ELSE 0 END)
		FROM events WHERE manifest = ? AND ts >= ? AND ts < ?`
	args := []any{width, true, true, since.UnixNano(), until.UnixNano()}
	if repo != "" {
		query += ` AND repository = ?`
		args = append(args, repo)
	}
	query += ` GROUP BY b`
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: count events: %w", s.d.name, err)
	}
	defer rows.Close()
	out := make([]Bucket, last-first+1)
	for i := range out {
		out[i].Start = time.Unix(0, (first+int64(i))*width).UTC()
	}
	for rows.Next() {
		var b, pushes, pulls int64
		if err := rows.Scan(&b, &pushes, &pulls); err != nil {
			return nil, fmt.Errorf("%s: read counts: %w", s.d.name, err)
		}
		if i := b - first; i >= 0 && i < int64(len(out)) {
			out[i].Pushes, out[i].Pulls = int(pushes), int(pulls)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read counts: %w", s.d.name, err)
	}
	return out, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// TopPulled implements Store.
func (s *sqlStore) TopPulled(ctx context.Context, since time.Time, limit int) ([]RepositoryCount, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT repository, COUNT(*) AS n FROM events
		WHERE `+countedPull+` AND ts >= ?
		GROUP BY repository ORDER BY n DESC, repository LIMIT `+strconv.Itoa(limit)), true, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("%s: top pulled: %w", s.d.name, err)
	}
	defer rows.Close()
	out := []RepositoryCount{}
	for rows.Next() {
		var rc RepositoryCount
		if err := rows.Scan(&rc.Repository, &rc.Count); err != nil {
			return nil, fmt.Errorf("%s: read top pulled: %w", s.d.name, err)
		}
		out = append(out, rc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read top pulled: %w", s.d.name, err)
	}
	return out, nil
}

// LastActivity implements Store.
func (s *sqlStore) LastActivity(ctx context.Context, repo string) (Activity, error) {
	var push, pull sql.NullInt64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT
			(SELECT MAX(ts) FROM events WHERE repository = ? AND action = 'push' AND manifest = ?),
			(SELECT MAX(ts) FROM events WHERE repository = ? AND `+countedPull+`)`),
		repo, true, repo, true).Scan(&push, &pull)
	if err != nil {
		return Activity{}, fmt.Errorf("%s: last activity of %s: %w", s.d.name, repo, err)
	}
	var a Activity
	if push.Valid {
		a.LastPush = time.Unix(0, push.Int64).UTC()
	}
	if pull.Valid {
		a.LastPull = time.Unix(0, pull.Int64).UTC()
	}
	return a, nil
}

// Tags implements Store.
func (s *sqlStore) Tags(ctx context.Context) ([]TagRef, error) {
	return s.tagRows(ctx, `SELECT repository, tag, digest, updated FROM tags WHERE digest <> '' ORDER BY repository, tag`)
}

// DeletedTags implements Store.
func (s *sqlStore) DeletedTags(ctx context.Context) ([]TagRef, error) {
	return s.tagRows(ctx, `SELECT repository, tag, digest, updated FROM tags WHERE digest = '' ORDER BY repository, tag`)
}

func (s *sqlStore) tagRows(ctx context.Context, query string) ([]TagRef, error) {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("%s: query tags: %w", s.d.name, err)
	}
	defer rows.Close()
	out := []TagRef{}
	for rows.Next() {
		var t TagRef
		var updated int64
		if err := rows.Scan(&t.Repository, &t.Tag, &t.Digest, &updated); err != nil {
			return nil, fmt.Errorf("%s: read tag: %w", s.d.name, err)
		}
		t.Updated = time.Unix(0, updated).UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read tags: %w", s.d.name, err)
	}
	return out, nil
}

// Prune implements Store.
func (s *sqlStore) Prune(ctx context.Context, olderThan time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM events WHERE ts < ?`), olderThan.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("%s: prune: %w", s.d.name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: prune: %w", s.d.name, err)
	}
	// Deletions as old as the pruned events are forgotten with them.
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM tags WHERE digest = '' AND updated < ?`), olderThan.UnixNano()); err != nil {
		return 0, fmt.Errorf("%s: prune deleted tags: %w", s.d.name, err)
	}
	return int(n), nil
}

// Ping implements Store.
func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close implements Store.
func (s *sqlStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", s.d.name, err)
	}
	return nil
}

// LayerIndex implements Store.
func (s *sqlStore) LayerIndex(ctx context.Context, digest string) (LayerIndex, bool, error) {
	idx := LayerIndex{Digest: digest}
	var created int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT entries, files, data, created FROM layer_indexes WHERE digest = ?`), digest).
		Scan(&idx.Entries, &idx.Files, &idx.Data, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return LayerIndex{}, false, nil
	}
	if err != nil {
		return LayerIndex{}, false, fmt.Errorf("%s: layer index %s: %w", s.d.name, digest, err)
	}
	idx.Created = time.Unix(0, created).UTC()
	return idx, true, nil
}

// PutLayerIndex implements Store.
func (s *sqlStore) PutLayerIndex(ctx context.Context, idx LayerIndex) error {
	if idx.Digest == "" || idx.Data == nil {
		return fmt.Errorf("%s: layer index without digest or data", s.d.name)
	}
	created := idx.Created
	if created.IsZero() {
		created = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO layer_indexes (digest, entries, files, data, created) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (digest) DO NOTHING`), idx.Digest, idx.Entries, idx.Files, idx.Data, created.UnixNano())
	if err != nil {
		return fmt.Errorf("%s: store layer index %s: %w", s.d.name, idx.Digest, err)
	}
	return nil
}

// LayerIndexStats implements Store.
func (s *sqlStore) LayerIndexStats(ctx context.Context, digests []string) (map[string]LayerIndex, error) {
	out := map[string]LayerIndex{}
	// Chunks keep every query well under both databases' parameter limits.
	for chunk := range slices.Chunk(digests, 500) {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
		args := make([]any, len(chunk))
		for i, d := range chunk {
			args[i] = d
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT digest, entries, files, created FROM layer_indexes WHERE digest IN (`+marks+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("%s: layer index stats: %w", s.d.name, err)
		}
		for rows.Next() {
			var idx LayerIndex
			var created int64
			if err := rows.Scan(&idx.Digest, &idx.Entries, &idx.Files, &created); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: read layer index stats: %w", s.d.name, err)
			}
			idx.Created = time.Unix(0, created).UTC()
			out[idx.Digest] = idx
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: read layer index stats: %w", s.d.name, err)
		}
	}
	return out, nil
}
