package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresMigrations is PostgreSQL's schema history; append, never edit.
var postgresMigrations = []string{
	`CREATE TABLE events (
		seq BIGSERIAL,
		id TEXT PRIMARY KEY,
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
		manifest BOOLEAN NOT NULL DEFAULT FALSE,
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
		data BYTEA NOT NULL,
		created BIGINT NOT NULL
	)`,
}

// OpenPostgres connects to the PostgreSQL server at dsn (a postgres:// URL) through a pgx
// pool and migrates the schema.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN %s: %w", redact(dsn), err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", redact(dsn), err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &sqlStore{db: db, d: dialect{
		name:       "postgres",
		rebind:     numberPlaceholders,
		migrations: postgresMigrations,
		// Two Berth replicas starting at once must not both run a migration.
		lock: `SELECT pg_advisory_xact_lock(7467826)`,
	}}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		pool.Close()
		return nil, err
	}
	return &pgStore{sqlStore: s, pool: pool}, nil
}

// pgStore closes the pgx pool under the database/sql handle.
type pgStore struct {
	*sqlStore
	pool *pgxpool.Pool
}

// Close implements Store.
func (s *pgStore) Close() error {
	err := s.sqlStore.Close()
	s.pool.Close()
	return err
}

// numberPlaceholders turns ? into $1, $2, … (no query here has ? inside a string literal).
func numberPlaceholders(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var _ Store = (*pgStore)(nil)
