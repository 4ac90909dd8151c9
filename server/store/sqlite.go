package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	// Registers the pure-Go "sqlite" database/sql driver.
	"modernc.org/sqlite"
)

// sqliteMigrations is SQLite's schema history; append, never edit.
var sqliteMigrations = []string{
	`CREATE TABLE events (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		ts BIGINT NOT NULL,
		action TEXT NOT NULL,
		repository TEXT NOT NULL DEFAULT '',
		tag TEXT NOT NULL DEFAULT '',
		digest TEXT NOT NULL DEFAULT '',
		media_type TEXT NOT NULL DEFAULT '',
		size BIGINT NOT NULL DEFAULT 0,
		length BIGINT NOT NULL DEFAULT 0,
		url TEXT NOT NULL DEFAULT '',
		refs TEXT NOT NULL DEFAULT '[]',
		manifest BOOLEAN NOT NULL DEFAULT 0,
		actor TEXT NOT NULL DEFAULT '',
		request_id TEXT NOT NULL DEFAULT '',
		request_addr TEXT NOT NULL DEFAULT '',
		request_host TEXT NOT NULL DEFAULT '',
		request_method TEXT NOT NULL DEFAULT '',
		user_agent TEXT NOT NULL DEFAULT '',
		source_addr TEXT NOT NULL DEFAULT '',
		source_instance TEXT NOT NULL DEFAULT '',
		source TEXT NOT NULL DEFAULT 'webhook'
	);
	CREATE INDEX events_ts ON events (ts, id);
	CREATE INDEX events_repository_ts ON events (repository, ts);
	CREATE INDEX events_action_ts ON events (action, ts);
	CREATE TABLE tags (
		repository TEXT NOT NULL,
		tag TEXT NOT NULL,
		digest TEXT NOT NULL,
		updated BIGINT NOT NULL,
		PRIMARY KEY (repository, tag)
	)`,
	// Layer file indexes, keyed by layer digest and shared by every image holding the layer.
	`CREATE TABLE layer_indexes (
		digest TEXT PRIMARY KEY,
		entries INTEGER NOT NULL,
		files INTEGER NOT NULL,
		data BLOB NOT NULL,
		created BIGINT NOT NULL
	)`,
	jobsMigration("BLOB"),
	// The metadata index (tags → digests and what each digest is), shared by replicas and
	// surviving restarts. Content-addressed rows (manifests, children, labels, documents) never
	// change once written.
	`CREATE TABLE index_repositories (
		name TEXT PRIMARY KEY,
		seen BIGINT NOT NULL
	);
	CREATE TABLE index_tags (
		repository TEXT NOT NULL,
		tag TEXT NOT NULL,
		digest TEXT NOT NULL,
		checked BIGINT NOT NULL,
		pushed BIGINT NOT NULL,
		PRIMARY KEY (repository, tag)
	);
	CREATE INDEX index_tags_digest ON index_tags (digest);
	CREATE TABLE index_manifests (
		digest TEXT PRIMARY KEY,
		media_type TEXT NOT NULL DEFAULT '',
		kind TEXT NOT NULL DEFAULT '',
		artifact_type TEXT NOT NULL DEFAULT '',
		size BIGINT NOT NULL DEFAULT 0,
		created BIGINT NOT NULL DEFAULT 0,
		platforms TEXT NOT NULL DEFAULT '[]',
		attestations INTEGER NOT NULL DEFAULT 0,
		subject TEXT NOT NULL DEFAULT '',
		note TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX index_manifests_subject ON index_manifests (subject);
	CREATE TABLE index_children (
		digest TEXT NOT NULL,
		child TEXT NOT NULL,
		PRIMARY KEY (digest, child)
	);
	CREATE INDEX index_children_child ON index_children (child);
	CREATE TABLE index_labels (
		digest TEXT NOT NULL,
		name TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (digest, name)
	);
	CREATE INDEX index_labels_name ON index_labels (name, value);
	CREATE TABLE index_repository_manifests (
		repository TEXT NOT NULL,
		digest TEXT NOT NULL,
		PRIMARY KEY (repository, digest)
	);
	CREATE TABLE index_documents (
		key TEXT PRIMARY KEY,
		data BLOB NOT NULL
	);
	CREATE TABLE index_state (
		key TEXT PRIMARY KEY,
		value TEXT NOT NULL,
		updated BIGINT NOT NULL
	)`,
	// Access control: accounts, teams, namespaces, robots, tokens, signing keys, audit.
	accessSchema("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
	// Digests a tag of the repository pointed to at some time: evidence that a manifest stood
	// alone rather than as a platform of an index, which untagged listings want where the
	// registry cannot list every manifest.
	`CREATE TABLE index_tagged (
		repository TEXT NOT NULL,
		digest TEXT NOT NULL,
		PRIMARY KEY (repository, digest)
	);
	INSERT INTO index_tagged (repository, digest) SELECT DISTINCT repository, digest FROM index_tags`,
	// Per-repository aggregates for catalog pages, kept on writes (see summary.go).
	repositorySummaryMigration,
	// Which replica revalidates what (see lease.go).
	leaseMigration,
	// Substring search by name and label value through trigram indexes (see trigram.go).
	sqliteTrigramMigration,
	// Catalog tag counts leave referrer tags out (see summary.go).
	summaryImageCountMigration,
	// Registry endpoints, replication rules and their runs (see replication.go).
	replicationSchema("BLOB"),
	// Per-namespace governance: immutable tag rules, quotas (see governance.go).
	governanceSchema("INTEGER PRIMARY KEY AUTOINCREMENT"),
	// Outbound webhooks and their delivery log (see webhooks.go).
	webhookSchema("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
	// Scheduled retention policies and their runs (see retention.go).
	retentionSchema("INTEGER PRIMARY KEY AUTOINCREMENT"),
	// Berth's own scans and the vulnerability database (see scan.go).
	scanMigration("BLOB"),
	// Registry endpoints' own repository lists, shown where _catalog is refused (see replication.go).
	endpointRepositoriesMigration,
	// Per-namespace pull policies (see pullpolicy.go).
	pullPolicyMigration,
	// Search looks through the distinct terms, not every row (see search_terms.go).
	sqliteSearchTermsMigration,
	// Search hits read from indexes alone (see search_terms.go).
	searchCoveringMigration,
	// Catalog pages newest and largest first read in index order (see search_terms.go).
	catalogNewestMigration,
	// Each summary row says which write last recomputed it (see index_order.go).
	summaryChangedMigration,
}

// uriPath escapes what would end or change a file name in a SQLite URI.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")

// OpenSQLite opens (creating if needed) the SQLite database file at path, in WAL mode with
// full sync, so a committed transaction survives a crash.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty SQLite path", ErrBadDSN)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	q := url.Values{}
	// Reads map the file (up to 256 MiB) instead of copying each page into a connection's
	// page cache: a connection whose cache is cold (new, or another connection wrote
	// meanwhile) read a 10,000-tag repository's tag order in 53–64 ms here (medians of 8),
	// and in 35–40 ms mapped, about what a warm cache takes.
	//
	// The page cache is up to 8 MiB a connection (SQLite's default is 2 MiB). It was 64 MiB,
	// before the mapping: at a million tags, catalog pages by size took 7.8 ms at p99 with
	// the default and 1.4 ms with it. But a connection empties its cache whenever another
	// one has written, and freeing a full one page by page (each free a madvise call in the
	// pure-Go allocator) cost a page's read 190 ms of CPU after a large write. With the
	// mapping and 8 MiB, the million-tag reads at p99 (BenchmarkIndexMillionTags, two runs
	// each): catalog newest first 1.0–1.2 ms, by size 1.2–1.3 ms (0.5–0.8 with 64 MiB and
	// no mapping), search by name and label 4–6 ms (5–6 before).
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)", "cache_size(-8192)", "mmap_size(268435456)"} {
		q.Add("_pragma", p)
	}
	// Write transactions take the lock at BEGIN, so two writers wait on busy_timeout instead of
	// one failing with SQLITE_BUSY when it upgrades a read lock.
	q.Set("_txlock", "immediate")
	// The path goes into a URI: '#', '?' and '%' in it (a directory named "build#2") would
	// end or change the file name; SQLite decodes %HH in URI paths.
	dsn := "file:" + uriPath.Replace(path) + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Idle connections keep their page caches; a connection closed after a burst loses its
	// cache, and its successor pays for growing one again. Four stay open (database/sql keeps
	// two by default); busier moments open more, each with a cache that grows only with the
	// pages its queries read.
	db.SetMaxIdleConns(4)
	s := &sqlStore{db: db, d: dialect{
		name:       "sqlite",
		rebind:     func(q string) string { return q },
		migrations: sqliteMigrations,
		rejected:   sqliteRejected,
		// River's SQLite times are text in exactly this format, compared as text.
		now: `datetime('now', 'subsec')`,
		// Analyze tables without statistics or whose size changed much since, reading at
		// most 1,000 rows of each index: milliseconds even at a million tags.
		optimize:  `PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002`,
		fts:       true,
		unindexed: "+",
	}}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	queue, err := sql.Open("sqlite", dsn)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	queue.SetMaxOpenConns(1)
	return &liteStore{sqlStore: s, queue: queue}, nil
}

// liteStore is the SQLite store with the second handle River works through.
type liteStore struct {
	*sqlStore
	queue *sql.DB
}

// Backend implements Store.
func (s *liteStore) Backend() Backend { return Backend{SQLite: s.queue} }

// Close implements Store.
func (s *liteStore) Close() error {
	return errors.Join(s.queue.Close(), s.sqlStore.Close())
}

// SQLite's primary result codes for values it refuses (sqlite3.h).
const (
	sqliteTooBig     = 18
	sqliteConstraint = 19
	sqliteMismatch   = 20
)

// sqliteRejected reports errors caused by the values written: a constraint, a value over
// SQLite's size limit, a type mismatch. Busy, I/O and full-disk errors may pass.
func sqliteRejected(err error) bool {
	se, ok := errors.AsType[*sqlite.Error](err)
	if !ok {
		return false
	}
	switch se.Code() & 0xff {
	case sqliteTooBig, sqliteConstraint, sqliteMismatch:
		return true
	}
	return false
}
