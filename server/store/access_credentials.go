package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Robots, tokens, signing keys and the audit log: the credentials side of Accounts.

func scanRobot(r *sql.Rows) (Robot, error) {
	var b Robot
	var created, expires, revoked, used int64
	err := r.Scan(&b.Name, &b.Namespace, &b.Role, &b.SecretHash, &b.Description, &b.CreatedBy, &created, &expires, &revoked, &used, &b.LastAddr)
	b.Created, b.Expires, b.Revoked, b.LastUsed = fromNanos(created), fromNanos(expires), fromNanos(revoked), fromNanos(used)
	return b, err
}

// CreateRobot implements Accounts.
func (s *sqlStore) CreateRobot(ctx context.Context, r Robot) error {
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	err := s.insert(ctx, "robot "+r.Name, `INSERT INTO robots (`+robotColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.Namespace, r.Role, r.SecretHash, r.Description, r.CreatedBy, nanos(r.Created), nanos(r.Expires), nanos(r.Revoked), nanos(r.LastUsed), r.LastAddr)
	if err != nil && isForeignKey(err) {
		return fmt.Errorf("namespace %s of robot %s: %w", r.Namespace, r.Name, ErrNotFound)
	}
	return err
}

// Robot implements Accounts.
func (s *sqlStore) Robot(ctx context.Context, name string) (Robot, bool, error) {
	return one(ctx, s, "robot", `SELECT `+robotColumns+` FROM robots WHERE name = ?`, scanRobot, name)
}

// RobotBySecret implements Accounts.
func (s *sqlStore) RobotBySecret(ctx context.Context, hash string) (Robot, bool, error) {
	return one(ctx, s, "robot", `SELECT `+robotColumns+` FROM robots WHERE secret_hash = ?`, scanRobot, hash)
}

// Robots implements Accounts; an empty namespace lists every robot.
func (s *sqlStore) Robots(ctx context.Context, namespace string) ([]Robot, error) {
	if namespace == "" {
		return list(ctx, s, "robots", `SELECT `+robotColumns+` FROM robots ORDER BY name`, scanRobot)
	}
	return list(ctx, s, "robots", `SELECT `+robotColumns+` FROM robots WHERE namespace = ? ORDER BY name`, scanRobot, namespace)
}

// RevokeRobot implements Accounts.
func (s *sqlStore) RevokeRobot(ctx context.Context, name string, at time.Time) error {
	return s.change(ctx, "robot "+name, `UPDATE robots SET revoked = ? WHERE name = ? AND revoked = 0`, nanos(at), name)
}

// TouchRobot implements Accounts.
func (s *sqlStore) TouchRobot(ctx context.Context, name string, at time.Time, addr string) error {
	return s.change(ctx, "robot "+name, `UPDATE robots SET last_used = ?, last_addr = ? WHERE name = ?`, nanos(at), addr, name)
}

const tokenColumns = `id, kind, username, name, hash, read_only, created, expires, revoked, last_used, last_addr`

func scanToken(r *sql.Rows) (Token, error) {
	var t Token
	var created, expires, revoked, used int64
	err := r.Scan(&t.ID, &t.Kind, &t.User, &t.Name, &t.Hash, &t.ReadOnly, &created, &expires, &revoked, &used, &t.LastAddr)
	t.Created, t.Expires, t.Revoked, t.LastUsed = fromNanos(created), fromNanos(expires), fromNanos(revoked), fromNanos(used)
	return t, err
}

// CreateToken implements Accounts.
func (s *sqlStore) CreateToken(ctx context.Context, t Token) error {
	if t.Created.IsZero() {
		t.Created = time.Now()
	}
	err := s.insert(ctx, "token "+t.ID, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Kind, t.User, t.Name, t.Hash, t.ReadOnly, nanos(t.Created), nanos(t.Expires), nanos(t.Revoked), nanos(t.LastUsed), t.LastAddr)
	if err != nil && isForeignKey(err) {
		return fmt.Errorf("user %s of token: %w", t.User, ErrNotFound)
	}
	return err
}

// TokenByHash implements Accounts.
func (s *sqlStore) TokenByHash(ctx context.Context, hash string) (Token, bool, error) {
	return one(ctx, s, "token", `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, scanToken, hash)
}

// Tokens implements Accounts.
func (s *sqlStore) Tokens(ctx context.Context, user, kind string) ([]Token, error) {
	return list(ctx, s, "tokens", `SELECT `+tokenColumns+` FROM tokens WHERE username = ? AND kind = ? ORDER BY created DESC, id`, scanToken, user, kind)
}

// RevokeToken implements Accounts.
func (s *sqlStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "token "+id, `UPDATE tokens SET revoked = ? WHERE id = ? AND revoked = 0`, nanos(at), id)
}

// RevokeUserTokens implements Accounts.
func (s *sqlStore) RevokeUserTokens(ctx context.Context, user string, at time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE tokens SET revoked = ? WHERE username = ? AND revoked = 0`), nanos(at), user)
	if err != nil {
		return 0, fmt.Errorf("%s: revoke tokens of %s: %w", s.d.name, user, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// TouchToken implements Accounts.
func (s *sqlStore) TouchToken(ctx context.Context, id string, at time.Time, addr string) error {
	return s.change(ctx, "token "+id, `UPDATE tokens SET last_used = ?, last_addr = ? WHERE id = ?`, nanos(at), addr, id)
}

func scanKey(r *sql.Rows) (SigningKey, error) {
	var k SigningKey
	var created, retired int64
	err := r.Scan(&k.ID, &k.Alg, &k.Private, &k.Certificate, &k.State, &created, &retired)
	k.Created, k.Retired = fromNanos(created), fromNanos(retired)
	return k, err
}

// PutSigningKey implements Accounts.
func (s *sqlStore) PutSigningKey(ctx context.Context, k SigningKey) error {
	if k.Created.IsZero() {
		k.Created = time.Now()
	}
	return s.insert(ctx, "signing key "+k.ID, `INSERT INTO signing_keys (id, alg, private_key, certificate, state, created, retired) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Alg, k.Private, k.Certificate, k.State, nanos(k.Created), nanos(k.Retired))
}

// SigningKeys implements Accounts: oldest first.
func (s *sqlStore) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	return list(ctx, s, "signing keys", `SELECT id, alg, private_key, certificate, state, created, retired FROM signing_keys ORDER BY created, id`, scanKey)
}

// SetKeyState implements Accounts.
func (s *sqlStore) SetKeyState(ctx context.Context, id, state string, at time.Time) error {
	retired := int64(0)
	if state == KeyRetired {
		retired = nanos(at)
	}
	return s.change(ctx, "signing key "+id, `UPDATE signing_keys SET state = ?, retired = ? WHERE id = ?`, state, retired, id)
}

// DeleteSigningKey implements Accounts.
func (s *sqlStore) DeleteSigningKey(ctx context.Context, id string) error {
	return s.change(ctx, "signing key "+id, `DELETE FROM signing_keys WHERE id = ?`, id)
}

// AddAudit implements Accounts.
func (s *sqlStore) AddAudit(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit (ts, actor, action, target, scope, granted, addr, detail, ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		e.Time.UnixNano(), e.Actor, e.Action, e.Target, e.Scope, e.Granted, e.Addr, e.Detail, e.OK)
	if err != nil {
		return fmt.Errorf("%s: add audit entry: %w", s.d.name, err)
	}
	return nil
}

// Audit implements Accounts.
func (s *sqlStore) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	add := func(cond string, a any) { where = append(where, cond); args = append(args, a) }
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("ts >= ?", f.Since.UnixNano())
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	query := `SELECT id, ts, actor, action, target, scope, granted, addr, detail, ok FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	// Ids grow with insertion, so they order entries even when two share a timestamp.
	query += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(limit)
	return list(ctx, s, "audit", query, func(r *sql.Rows) (AuditEntry, error) {
		var e AuditEntry
		var ts int64
		err := r.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Target, &e.Scope, &e.Granted, &e.Addr, &e.Detail, &e.OK)
		e.Time = fromNanos(ts)
		return e, err
	}, args...)
}

var _ Accounts = (*sqlStore)(nil)
