package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// endpointIndexName is the grammar of the endpoint names an index is opened for (the same as
// server/replication's): they become a file name or part of a schema name.
var endpointIndexName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// OpenEndpoint opens the metadata index of the registry endpoint name, kept apart from the
// main registry's next to the database dsn names: for SQLite a database file of its own in
// a directory beside the main file (berth.db → berth.db.endpoints/NAME.db), for PostgreSQL
// a schema of its own (berth_ep_NAME) in the same database. Its rows, documents and the
// events its sync records are the endpoint's alone, so nothing read with the endpoint's
// credentials shows on the main registry's pages, and the main registry's queries stay as
// they are. The schema is the full one; only the index and the sync's tables are used.
func OpenEndpoint(ctx context.Context, dsn, name string) (Store, error) {
	if !endpointIndexName.MatchString(name) {
		return nil, fmt.Errorf("store: bad endpoint name %q", name)
	}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgresSchema(ctx, dsn, EndpointSchema(name))
	case strings.HasPrefix(dsn, "sqlite:"):
		dsn = strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
	case dsn == "" || strings.Contains(dsn, "://"):
		return nil, fmt.Errorf("%w: %q (want postgres://…, sqlite:PATH or a file path)", ErrBadDSN, redact(dsn))
	}
	return OpenSQLite(ctx, filepath.Join(dsn+".endpoints", name+".db"))
}

// RemoveEndpoint deletes the metadata index of the endpoint name (closed first by the
// caller): its SQLite file, or its PostgreSQL schema. A missing one is no error.
func RemoveEndpoint(ctx context.Context, dsn, name string) error {
	if !endpointIndexName.MatchString(name) {
		return fmt.Errorf("store: bad endpoint name %q", name)
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return fmt.Errorf("postgres: connect to %s: %w", redact(dsn), err)
		}
		defer func() { _ = conn.Close(ctx) }()
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{EndpointSchema(name)}.Sanitize()+" CASCADE")
		return err
	}
	path := filepath.Join(strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")+".endpoints", name+".db")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("sqlite: remove %s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// EndpointSchema is the PostgreSQL schema of the endpoint name's index: berth_ep_NAME, or
// for a name too long for an identifier (63 bytes), berth_ep_ and a hash of it.
func EndpointSchema(name string) string {
	const prefix = "berth_ep_"
	if len(prefix)+len(name) <= 63 {
		return prefix + name
	}
	sum := sha256.Sum256([]byte(name))
	return prefix + hex.EncodeToString(sum[:16])
}

// openPostgresSchema opens the store in schema (created if needed) of the database at dsn:
// every connection of its pool looks there first, and in public for the extensions the main
// store created (pg_trgm).
func openPostgresSchema(ctx context.Context, dsn, schema string) (Store, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s: %w", redact(dsn), err)
	}
	_, err = conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
	_ = conn.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: create schema %s: %w", schema, err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN %s: %w", redact(dsn), err)
	}
	q := u.Query()
	// The endpoint's schema first, then where the main store looks (its extensions: pg_trgm).
	then := "public"
	if sp := q.Get("search_path"); sp != "" {
		then = sp
	}
	q.Set("search_path", pgx.Identifier{schema}.Sanitize()+","+then)
	// An endpoint's index is read by its pages and one sync at a time: a few connections.
	if q.Get("pool_max_conns") == "" {
		q.Set("pool_max_conns", "4")
	}
	u.RawQuery = q.Encode()
	return OpenPostgres(ctx, u.String())
}
