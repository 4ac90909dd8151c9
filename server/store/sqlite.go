package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	// Registers the pure-Go "sqlite" database/sql driver.
	_ "modernc.org/sqlite"
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
}

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
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	// Write transactions take the lock at BEGIN, so two writers wait on busy_timeout instead of
	// one failing with SQLITE_BUSY when it upgrades a read lock.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s := &sqlStore{db: db, d: dialect{
		name:       "sqlite",
		rebind:     func(q string) string { return q },
		migrations: sqliteMigrations,
	}}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}
