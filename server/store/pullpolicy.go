package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PullPolicy is what a namespace's images must meet to be pulled through Berth: no finding
// at or above Severity ("" does not look at findings), and, with Signed, a cosign signature
// (by one of Keys, PEM public keys, when given).
type PullPolicy struct {
	Namespace string
	Severity  string
	Signed    bool
	Keys      string
	UpdatedBy string
	Updated   time.Time
}

// Off says the policy refuses nothing (storing it removes the namespace's).
func (p PullPolicy) Off() bool { return p.Severity == "" && !p.Signed }

// PullPolicies keeps the namespaces' pull policies. Every Store that Open returns implements
// it (PullPoliciesOf).
type PullPolicies interface {
	// PullPolicy returns namespace's policy; ok is false when it has none.
	PullPolicy(ctx context.Context, namespace string) (p PullPolicy, ok bool, err error)
	// SetPullPolicy stores p, replacing the namespace's (an Off policy removes it).
	SetPullPolicy(ctx context.Context, p PullPolicy) error
}

// PullPoliciesOf returns the PullPolicies side of a Store opened by Open.
func PullPoliciesOf(s Store) (PullPolicies, error) {
	p, ok := s.(PullPolicies)
	if !ok {
		return nil, fmt.Errorf("store %T keeps no pull policies", s)
	}
	return p, nil
}

// pullPolicyMigration is the table of pull policies, the same in both dialects.
const pullPolicyMigration = `CREATE TABLE pull_policies (
	namespace TEXT PRIMARY KEY REFERENCES namespaces (name) ON DELETE CASCADE,
	severity TEXT NOT NULL DEFAULT '',
	signed BOOLEAN NOT NULL DEFAULT FALSE,
	public_keys TEXT NOT NULL DEFAULT '',
	updated_by TEXT NOT NULL DEFAULT '',
	updated BIGINT NOT NULL
)`

func scanPullPolicy(r *sql.Rows) (PullPolicy, error) {
	var p PullPolicy
	var updated int64
	err := r.Scan(&p.Namespace, &p.Severity, &p.Signed, &p.Keys, &p.UpdatedBy, &updated)
	p.Updated = fromNanos(updated)
	return p, err
}

// PullPolicy implements PullPolicies.
func (s *sqlStore) PullPolicy(ctx context.Context, namespace string) (PullPolicy, bool, error) {
	return one(ctx, s, "pull policy", `SELECT namespace, severity, signed, public_keys, updated_by, updated FROM pull_policies WHERE namespace = ?`, scanPullPolicy, namespace)
}

// SetPullPolicy implements PullPolicies.
func (s *sqlStore) SetPullPolicy(ctx context.Context, p PullPolicy) error {
	if p.Off() {
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM pull_policies WHERE namespace = ?`), p.Namespace); err != nil {
			return fmt.Errorf("%s: delete pull policy: %w", s.d.name, err)
		}
		return nil
	}
	if p.Updated.IsZero() {
		p.Updated = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO pull_policies (namespace, severity, signed, public_keys, updated_by, updated) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace) DO UPDATE SET severity = excluded.severity, signed = excluded.signed, public_keys = excluded.public_keys,
		updated_by = excluded.updated_by, updated = excluded.updated`),
		p.Namespace, p.Severity, p.Signed, p.Keys, p.UpdatedBy, nanos(p.Updated))
	if err != nil {
		return fmt.Errorf("%s: set pull policy: %w", s.d.name, s.notFoundOnFK(err, "namespace "+p.Namespace))
	}
	return nil
}
