package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// ImmutableRule protects tags of a namespace from being overwritten or deleted: a tag is
// protected when it matches one of Patterns without a leading "!" and none with one.
type ImmutableRule struct {
	ID        int64
	Namespace string
	Patterns  []string
	// Lifted is set while an administrator allows changes to the tags it protects.
	Lifted    bool
	CreatedBy string
	Created   time.Time
}

// Quota limits what a namespace stores; zero limits do not limit.
type Quota struct {
	Namespace string
	// StorageLimit is in bytes, counting each blob once within the namespace.
	StorageLimit int64
	TagLimit     int64
	// Warned is when the 80 % warning was last given; zero while usage stayed below it.
	Warned  time.Time
	Updated time.Time
}

// Governance keeps per-namespace policies. Every Store that Open returns implements it
// (GovernanceOf).
type Governance interface {
	// ImmutableRules returns the rules of namespace (every namespace's when empty), oldest
	// first.
	ImmutableRules(ctx context.Context, namespace string) ([]ImmutableRule, error)
	// AddImmutableRule stores r and returns its id.
	AddImmutableRule(ctx context.Context, r ImmutableRule) (int64, error)
	// SetRuleLifted lifts (or restores) rule id of namespace.
	SetRuleLifted(ctx context.Context, namespace string, id int64, lifted bool) error
	// DeleteImmutableRule deletes rule id of namespace.
	DeleteImmutableRule(ctx context.Context, namespace string, id int64) error

	// Quota returns namespace's quota; ok is false when it has none.
	Quota(ctx context.Context, namespace string) (q Quota, ok bool, err error)
	// SetQuota stores q, replacing the namespace's quota (both limits zero removes it).
	SetQuota(ctx context.Context, q Quota) error
	// MarkQuotaWarned records when the 80 % warning was given (zero: usage went below).
	MarkQuotaWarned(ctx context.Context, namespace string, at time.Time) error
}

// GovernanceOf returns the Governance side of a Store opened by Open.
func GovernanceOf(s Store) (Governance, error) {
	g, ok := s.(Governance)
	if !ok {
		return nil, fmt.Errorf("store %T keeps no governance", s)
	}
	return g, nil
}

func scanRule(r *sql.Rows) (ImmutableRule, error) {
	var x ImmutableRule
	var patterns string
	var created int64
	err := r.Scan(&x.ID, &x.Namespace, &patterns, &x.Lifted, &x.CreatedBy, &created)
	x.Patterns = strings.Split(patterns, "\n")
	x.Created = fromNanos(created)
	return x, err
}

const ruleColumns = `id, namespace, patterns, lifted, created_by, created`

// ImmutableRules implements Governance.
func (s *sqlStore) ImmutableRules(ctx context.Context, namespace string) ([]ImmutableRule, error) {
	if namespace == "" {
		return list(ctx, s, "immutable rules", `SELECT `+ruleColumns+` FROM immutable_rules ORDER BY id`, scanRule)
	}
	return list(ctx, s, "immutable rules", `SELECT `+ruleColumns+` FROM immutable_rules WHERE namespace = ? ORDER BY id`, scanRule, namespace)
}

// AddImmutableRule implements Governance.
func (s *sqlStore) AddImmutableRule(ctx context.Context, r ImmutableRule) (int64, error) {
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	var id int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO immutable_rules (namespace, patterns, lifted, created_by, created) VALUES (?, ?, ?, ?, ?) RETURNING id`),
		r.Namespace, strings.Join(r.Patterns, "\n"), r.Lifted, r.CreatedBy, nanos(r.Created)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("%s: create immutable rule: %w", s.d.name, s.notFoundOnFK(err, "namespace "+r.Namespace))
	}
	return id, nil
}

// notFoundOnFK turns a foreign key violation (the namespace is gone) into ErrNotFound.
func (s *sqlStore) notFoundOnFK(err error, what string) error {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "foreign key") {
		return fmt.Errorf("%s %w", what, ErrNotFound)
	}
	return err
}

// SetRuleLifted implements Governance.
func (s *sqlStore) SetRuleLifted(ctx context.Context, namespace string, id int64, lifted bool) error {
	return s.change(ctx, fmt.Sprintf("immutable rule %d", id), `UPDATE immutable_rules SET lifted = ? WHERE namespace = ? AND id = ?`, lifted, namespace, id)
}

// DeleteImmutableRule implements Governance.
func (s *sqlStore) DeleteImmutableRule(ctx context.Context, namespace string, id int64) error {
	return s.change(ctx, fmt.Sprintf("immutable rule %d", id), `DELETE FROM immutable_rules WHERE namespace = ? AND id = ?`, namespace, id)
}

func scanQuota(r *sql.Rows) (Quota, error) {
	var q Quota
	var warned, updated int64
	err := r.Scan(&q.Namespace, &q.StorageLimit, &q.TagLimit, &warned, &updated)
	q.Warned, q.Updated = fromNanos(warned), fromNanos(updated)
	return q, err
}

// Quota implements Governance.
func (s *sqlStore) Quota(ctx context.Context, namespace string) (Quota, bool, error) {
	return one(ctx, s, "quota", `SELECT namespace, storage_limit, tag_limit, warned, updated FROM namespace_quotas WHERE namespace = ?`, scanQuota, namespace)
}

// SetQuota implements Governance.
func (s *sqlStore) SetQuota(ctx context.Context, q Quota) error {
	if q.StorageLimit == 0 && q.TagLimit == 0 {
		_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM namespace_quotas WHERE namespace = ?`), q.Namespace)
		if err != nil {
			return fmt.Errorf("%s: delete quota: %w", s.d.name, err)
		}
		return nil
	}
	if q.Updated.IsZero() {
		q.Updated = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO namespace_quotas (namespace, storage_limit, tag_limit, warned, updated) VALUES (?, ?, ?, 0, ?)
		ON CONFLICT (namespace) DO UPDATE SET storage_limit = excluded.storage_limit, tag_limit = excluded.tag_limit, updated = excluded.updated`),
		q.Namespace, q.StorageLimit, q.TagLimit, nanos(q.Updated))
	if err != nil {
		return fmt.Errorf("%s: set quota: %w", s.d.name, s.notFoundOnFK(err, "namespace "+q.Namespace))
	}
	return nil
}

// MarkQuotaWarned implements Governance.
func (s *sqlStore) MarkQuotaWarned(ctx context.Context, namespace string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE namespace_quotas SET warned = ? WHERE namespace = ?`), nanos(at), namespace)
	if err != nil {
		return fmt.Errorf("%s: mark quota warned: %w", s.d.name, err)
	}
	return nil
}
