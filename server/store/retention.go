package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// retentionSchema is the migration of scheduled retention policies and their runs.
func retentionSchema(id string) string {
	return `CREATE TABLE retention_policies (
		id TEXT PRIMARY KEY,
		namespace TEXT NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
		repositories TEXT NOT NULL,
		rule TEXT NOT NULL,
		every BIGINT NOT NULL,
		next_run BIGINT NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL
	);
	CREATE TABLE retention_runs (
		id ` + id + `,
		policy TEXT NOT NULL REFERENCES retention_policies (id) ON DELETE CASCADE,
		started BIGINT NOT NULL,
		finished BIGINT NOT NULL,
		deleted TEXT NOT NULL,
		freed BIGINT NOT NULL,
		error TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX retention_runs_policy ON retention_runs (policy, id)`
}

// RetentionPolicy runs a cleanup rule over the repositories of a namespace matching a glob,
// every Every.
type RetentionPolicy struct {
	ID           string
	Namespace    string
	Repositories string
	// Rule is the cleanup rule as JSON (the retention package's to read).
	Rule      string
	Every     time.Duration
	NextRun   time.Time
	CreatedBy string
	Created   time.Time
}

// RetentionRun is what one run of a policy deleted and freed.
type RetentionRun struct {
	ID             int64
	Policy         string
	Started, Ended time.Time
	Deleted        []string // repository:tag
	Freed          int64
	Error          string
}

// Retention keeps retention policies and their runs (RetentionOf).
type Retention interface {
	AddRetentionPolicy(ctx context.Context, p RetentionPolicy) error
	// RetentionPolicies returns namespace's policies (every one when empty).
	RetentionPolicies(ctx context.Context, namespace string) ([]RetentionPolicy, error)
	DeleteRetentionPolicy(ctx context.Context, namespace, id string) error
	// ClaimRetentionRun moves a policy's next run from due to next; ok is false when another
	// replica moved it first, so each due run is claimed once.
	ClaimRetentionRun(ctx context.Context, id string, due, next time.Time) (ok bool, err error)
	AddRetentionRun(ctx context.Context, r RetentionRun) error
	// RetentionRuns returns a policy's latest runs, newest first.
	RetentionRuns(ctx context.Context, policy string, limit int) ([]RetentionRun, error)
}

// RetentionOf returns the Retention side of a Store opened by Open.
func RetentionOf(s Store) (Retention, error) {
	r, ok := s.(Retention)
	if !ok {
		return nil, fmt.Errorf("store %T keeps no retention policies", s)
	}
	return r, nil
}

const policyColumns = `id, namespace, repositories, rule, every, next_run, created_by, created`

func scanPolicy(r *sql.Rows) (RetentionPolicy, error) {
	var p RetentionPolicy
	var every, next, created int64
	err := r.Scan(&p.ID, &p.Namespace, &p.Repositories, &p.Rule, &every, &next, &p.CreatedBy, &created)
	p.Every, p.NextRun, p.Created = time.Duration(every), fromNanos(next), fromNanos(created)
	return p, err
}

// AddRetentionPolicy implements Retention.
func (s *sqlStore) AddRetentionPolicy(ctx context.Context, p RetentionPolicy) error {
	if p.Created.IsZero() {
		p.Created = time.Now()
	}
	err := s.insert(ctx, "retention policy "+p.ID, `INSERT INTO retention_policies (`+policyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Namespace, p.Repositories, p.Rule, int64(p.Every), nanos(p.NextRun), p.CreatedBy, nanos(p.Created))
	if err != nil {
		return s.notFoundOnFK(err, "namespace "+p.Namespace)
	}
	return nil
}

// RetentionPolicies implements Retention.
func (s *sqlStore) RetentionPolicies(ctx context.Context, namespace string) ([]RetentionPolicy, error) {
	if namespace == "" {
		return list(ctx, s, "retention policies", `SELECT `+policyColumns+` FROM retention_policies ORDER BY created, id`, scanPolicy)
	}
	return list(ctx, s, "retention policies", `SELECT `+policyColumns+` FROM retention_policies WHERE namespace = ? ORDER BY created, id`, scanPolicy, namespace)
}

// DeleteRetentionPolicy implements Retention.
func (s *sqlStore) DeleteRetentionPolicy(ctx context.Context, namespace, id string) error {
	return s.change(ctx, "retention policy "+id, `DELETE FROM retention_policies WHERE namespace = ? AND id = ?`, namespace, id)
}

// ClaimRetentionRun implements Retention.
func (s *sqlStore) ClaimRetentionRun(ctx context.Context, id string, due, next time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE retention_policies SET next_run = ? WHERE id = ? AND next_run = ?`), nanos(next), id, nanos(due))
	if err != nil {
		return false, fmt.Errorf("%s: claim retention run: %w", s.d.name, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AddRetentionRun implements Retention.
func (s *sqlStore) AddRetentionRun(ctx context.Context, r RetentionRun) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO retention_runs (policy, started, finished, deleted, freed, error) VALUES (?, ?, ?, ?, ?, ?)`),
		r.Policy, nanos(r.Started), nanos(r.Ended), strings.Join(r.Deleted, "\n"), r.Freed, r.Error)
	if err != nil {
		return fmt.Errorf("%s: add retention run: %w", s.d.name, err)
	}
	return nil
}

// RetentionRuns implements Retention.
func (s *sqlStore) RetentionRuns(ctx context.Context, policy string, limit int) ([]RetentionRun, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	return list(ctx, s, "retention runs", `SELECT id, policy, started, finished, deleted, freed, error FROM retention_runs WHERE policy = ? ORDER BY id DESC LIMIT ?`,
		func(r *sql.Rows) (RetentionRun, error) {
			var x RetentionRun
			var started, ended int64
			var deleted string
			err := r.Scan(&x.ID, &x.Policy, &started, &ended, &deleted, &x.Freed, &x.Error)
			x.Started, x.Ended = fromNanos(started), fromNanos(ended)
			if deleted != "" {
				x.Deleted = strings.Split(deleted, "\n")
			}
			return x, err
		}, policy, limit)
}
