package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// replicationSchema is the migration adding registry endpoints, replication rules and their
// runs; blob is the dialect's binary column type. Rules and runs keep their settings as JSON
// (the replication package's to read): only what queries select on has a column.
func replicationSchema(blob string) string {
	return `CREATE TABLE replication_endpoints (
		name TEXT PRIMARY KEY,
		url TEXT NOT NULL,
		username TEXT NOT NULL DEFAULT '',
		secret ` + blob + `,
		ca_file TEXT NOT NULL DEFAULT '',
		insecure BOOLEAN NOT NULL DEFAULT FALSE,
		catalog BOOLEAN NOT NULL DEFAULT TRUE,
		created BIGINT NOT NULL,
		updated BIGINT NOT NULL
	);
	CREATE TABLE replication_rules (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		data TEXT NOT NULL,
		created BIGINT NOT NULL,
		updated BIGINT NOT NULL
	);
	CREATE TABLE replication_runs (
		id TEXT PRIMARY KEY,
		rule TEXT NOT NULL,
		state TEXT NOT NULL,
		started BIGINT NOT NULL,
		data TEXT NOT NULL
	);
	CREATE INDEX replication_runs_rule ON replication_runs (rule, started)`
}

// RegistryEndpoint is a registry an administrator added by name. Secret is its password,
// sealed by the caller; the store never sees it in clear.
type RegistryEndpoint struct {
	Name, URL, Username string
	Secret              []byte
	CAFile              string
	Insecure            bool
	// Catalog is whether the registry's _catalog may be used to list repositories.
	Catalog bool
	// Repositories are the operator's list of repositories to show where Catalog is false.
	Repositories     []string
	Created, Updated time.Time
}

// endpointRepositoriesMigration adds an endpoint's own list of repositories, one per line.
const endpointRepositoriesMigration = `ALTER TABLE replication_endpoints ADD COLUMN repositories TEXT NOT NULL DEFAULT ''`

// ReplicationRule is a rule as stored: its id, unique name and settings (JSON).
type ReplicationRule struct {
	ID, Name         string
	Data             []byte
	Created, Updated time.Time
}

// ReplicationRun is one run of a rule: its state and what it did (JSON).
type ReplicationRun struct {
	ID, Rule, State string
	Started         time.Time
	Data            []byte
}

// Replications keeps registry endpoints, replication rules and their runs. Every Store that
// Open returns implements it (ReplicationsOf).
type Replications interface {
	// PutEndpoint adds or replaces the endpoint of e.Name.
	PutEndpoint(ctx context.Context, e RegistryEndpoint) error
	Endpoints(ctx context.Context) ([]RegistryEndpoint, error)
	// DeleteEndpoint removes the endpoint name; ErrNotFound when there is none.
	DeleteEndpoint(ctx context.Context, name string) error
	// PutRule adds or replaces the rule of r.ID; ErrExists when another rule has its name.
	PutRule(ctx context.Context, r ReplicationRule) error
	Rules(ctx context.Context) ([]ReplicationRule, error)
	// DeleteRule removes rule id and its runs; ErrNotFound when there is none.
	DeleteRule(ctx context.Context, id string) error
	// PutRun adds or replaces the run of r.ID.
	PutRun(ctx context.Context, r ReplicationRun) error
	Run(ctx context.Context, id string) (ReplicationRun, bool, error)
	// Runs returns rule's runs, newest first, at most limit.
	Runs(ctx context.Context, rule string, limit int) ([]ReplicationRun, error)
}

// ReplicationsOf returns the Replications side of a Store opened by Open.
func ReplicationsOf(s Store) (Replications, error) {
	r, ok := s.(Replications)
	if !ok {
		return nil, fmt.Errorf("store %T keeps no replication rules", s)
	}
	return r, nil
}

// PutEndpoint implements Replications.
func (s *sqlStore) PutEndpoint(ctx context.Context, e RegistryEndpoint) error {
	now := time.Now()
	if e.Created.IsZero() {
		e.Created = now
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO replication_endpoints (name, url, username, secret, ca_file, insecure, catalog, repositories, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET url = excluded.url, username = excluded.username, secret = excluded.secret,
		ca_file = excluded.ca_file, insecure = excluded.insecure, catalog = excluded.catalog, repositories = excluded.repositories,
		updated = excluded.updated`),
		e.Name, e.URL, e.Username, e.Secret, e.CAFile, e.Insecure, e.Catalog, strings.Join(e.Repositories, "\n"), nanos(e.Created), now.UnixNano())
	if err != nil {
		return s.writeError("put endpoint "+clip(e.Name), err)
	}
	return nil
}

// Endpoints implements Replications, by name.
func (s *sqlStore) Endpoints(ctx context.Context) ([]RegistryEndpoint, error) {
	return list(ctx, s, "endpoints", `SELECT name, url, username, secret, ca_file, insecure, catalog, repositories, created, updated FROM replication_endpoints ORDER BY name`,
		func(r *sql.Rows) (RegistryEndpoint, error) {
			var e RegistryEndpoint
			var repos string
			var created, updated int64
			err := r.Scan(&e.Name, &e.URL, &e.Username, &e.Secret, &e.CAFile, &e.Insecure, &e.Catalog, &repos, &created, &updated)
			e.Created, e.Updated = fromNanos(created), fromNanos(updated)
			if repos != "" {
				e.Repositories = strings.Split(repos, "\n")
			}
			return e, err
		})
}

// DeleteEndpoint implements Replications.
func (s *sqlStore) DeleteEndpoint(ctx context.Context, name string) error {
	return s.change(ctx, "endpoint "+clip(name), `DELETE FROM replication_endpoints WHERE name = ?`, name)
}

// PutRule implements Replications.
func (s *sqlStore) PutRule(ctx context.Context, r ReplicationRule) error {
	now := time.Now()
	if r.Created.IsZero() {
		r.Created = now
	}
	var other string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id FROM replication_rules WHERE name = ?`), r.Name).Scan(&other)
	switch {
	case err == nil && other != r.ID:
		return fmt.Errorf("rule %s %w", clip(r.Name), ErrExists)
	case err != nil && err != sql.ErrNoRows:
		return fmt.Errorf("%s: read rule: %w", s.d.name, err)
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO replication_rules (id, name, data, created, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, data = excluded.data, updated = excluded.updated`),
		r.ID, r.Name, string(r.Data), nanos(r.Created), now.UnixNano())
	if err != nil {
		return s.writeError("put rule "+clip(r.Name), err)
	}
	return nil
}

// Rules implements Replications, by name.
func (s *sqlStore) Rules(ctx context.Context) ([]ReplicationRule, error) {
	return list(ctx, s, "rules", `SELECT id, name, data, created, updated FROM replication_rules ORDER BY name`,
		func(r *sql.Rows) (ReplicationRule, error) {
			var x ReplicationRule
			var data string
			var created, updated int64
			err := r.Scan(&x.ID, &x.Name, &data, &created, &updated)
			x.Data, x.Created, x.Updated = []byte(data), fromNanos(created), fromNanos(updated)
			return x, err
		})
}

// DeleteRule implements Replications.
func (s *sqlStore) DeleteRule(ctx context.Context, id string) error {
	if err := s.change(ctx, "rule "+clip(id), `DELETE FROM replication_rules WHERE id = ?`, id); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM replication_runs WHERE rule = ?`), id); err != nil {
		return fmt.Errorf("%s: delete runs: %w", s.d.name, err)
	}
	return nil
}

// PutRun implements Replications.
func (s *sqlStore) PutRun(ctx context.Context, r ReplicationRun) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO replication_runs (id, rule, state, started, data) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, data = excluded.data`),
		r.ID, r.Rule, r.State, nanos(r.Started), string(r.Data))
	if err != nil {
		return s.writeError("put run "+clip(r.ID), err)
	}
	return nil
}

func scanRun(r interface{ Scan(...any) error }) (ReplicationRun, error) {
	var x ReplicationRun
	var data string
	var started int64
	err := r.Scan(&x.ID, &x.Rule, &x.State, &started, &data)
	x.Data, x.Started = []byte(data), fromNanos(started)
	return x, err
}

// Run implements Replications.
func (s *sqlStore) Run(ctx context.Context, id string) (ReplicationRun, bool, error) {
	x, err := scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT id, rule, state, started, data FROM replication_runs WHERE id = ?`), id))
	if err == sql.ErrNoRows {
		return ReplicationRun{}, false, nil
	}
	if err != nil {
		return ReplicationRun{}, false, fmt.Errorf("%s: read run: %w", s.d.name, err)
	}
	return x, true, nil
}

// Runs implements Replications.
func (s *sqlStore) Runs(ctx context.Context, rule string, limit int) ([]ReplicationRun, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	return list(ctx, s, "runs", `SELECT id, rule, state, started, data FROM replication_runs WHERE rule = ? ORDER BY started DESC, id DESC LIMIT `+strconv.Itoa(limit),
		func(r *sql.Rows) (ReplicationRun, error) { return scanRun(r) }, rule)
}

var _ Replications = (*sqlStore)(nil)
