package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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
	jobsMigration("BYTEA"),
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
		data BYTEA NOT NULL
	);
	CREATE TABLE index_state (
		key TEXT PRIMARY KEY,
		value TEXT NOT NULL,
		updated BIGINT NOT NULL
	)`,
	// Access control: accounts, teams, namespaces, robots, tokens, signing keys, audit.
	accessSchema("BIGSERIAL PRIMARY KEY", "BYTEA"),
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
	postgresTrigramMigration,
	// Catalog tag counts leave referrer tags out (see summary.go).
	summaryImageCountMigration,
	// Registry endpoints, replication rules and their runs (see replication.go).
	replicationSchema("BYTEA"),
	// Per-namespace governance: immutable tag rules, quotas (see governance.go).
	governanceSchema("BIGSERIAL PRIMARY KEY"),
	// Outbound webhooks and their delivery log (see webhooks.go).
	webhookSchema("BIGSERIAL PRIMARY KEY", "BYTEA"),
	// Scheduled retention policies and their runs (see retention.go).
	retentionSchema("BIGSERIAL PRIMARY KEY"),
	// Berth's own scans and the vulnerability database (see scan.go).
	scanMigration("BYTEA"),
	// Registry endpoints' own repository lists, shown where _catalog is refused (see replication.go).
	endpointRepositoriesMigration,
	// Per-namespace pull policies (see pullpolicy.go).
	pullPolicyMigration,
	// Search looks through the distinct terms, not every row (see search_terms.go).
	postgresSearchTermsMigration,
	// Search hits read from indexes alone (see search_terms.go).
	searchCoveringMigration,
	// Catalog pages newest and largest first read in index order (see search_terms.go).
	catalogNewestMigration,
	// Each summary row says which write last recomputed it (see index_order.go).
	summaryChangedMigration,
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
		lock:      `SELECT pg_advisory_xact_lock(7467826)`,
		indexLock: `SELECT pg_advisory_xact_lock(7467827)`,
		notify:    `SELECT pg_notify('berth_job_events', $1)`,
		now:       `now()`,
		rejected:  postgresRejected,
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

// Backend implements Store.
func (s *pgStore) Backend() Backend { return Backend{Postgres: s.pool} }

// ListenJobEvents implements Store with LISTEN on a connection of its own.
func (s *pgStore) ListenJobEvents(ctx context.Context, heard func(job int64)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	// The connection has LISTEN state: it is taken out of the pool and closed at the end.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, `LISTEN berth_job_events`); err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("postgres: listen: %w", err)
		}
		if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			heard(id)
		}
	}
}

// postgresRejected reports errors caused by the values written: SQLSTATE classes 22 (data
// exception: a NUL byte in text, a malformed value), 23 (integrity constraint violation) and
// 54 (program limit exceeded: an index entry over its size limit, as an 8 KB event id is).
// Everything else — a lost connection, a server shutting down, a timeout — may pass.
func postgresRejected(err error) bool {
	pe, ok := errors.AsType[*pgconn.PgError](err)
	if !ok {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
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
