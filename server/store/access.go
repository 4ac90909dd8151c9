package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Roles a user (or robot) can hold in a namespace or team, weakest first. What each allows
// is decided by server/auth; the store only keeps the names.
const (
	RoleViewer     = "viewer"
	RoleDeveloper  = "developer"
	RoleMaintainer = "maintainer"
	RoleOwner      = "owner"
)

// Kinds of namespace.
const (
	// NamespaceUser is a user's personal namespace, named after the user.
	NamespaceUser = "user"
	// NamespaceTeam belongs to a team; the team's members hold their team roles in it.
	NamespaceTeam = "team"
)

// Kinds of stored token.
const (
	// TokenPersonal is a personal access token, usable as a password.
	TokenPersonal = "pat"
	// TokenRefresh is an OAuth2 refresh token handed to docker login.
	TokenRefresh = "refresh"
)

// States of a signing key: the next key is published before it signs, the active key signs,
// a retired key is published until the last token it signed has expired.
const (
	KeyNext    = "next"
	KeyActive  = "active"
	KeyRetired = "retired"
)

// ErrExists is returned when a record with the same name is stored already.
var ErrExists = errors.New("store: already exists")

// ErrNotFound is returned when the record to change does not exist.
var ErrNotFound = errors.New("store: not found")

// User is a local account.
type User struct {
	Name string
	// PasswordHash is the argon2id hash in PHC form; empty means no password sign-in.
	PasswordHash string
	Admin        bool
	Disabled     bool
	Created      time.Time
	Updated      time.Time
}

// Team is a group of users with roles.
type Team struct {
	Name        string
	Description string
	Created     time.Time
}

// Member is a user and their role in a team or namespace.
type Member struct {
	// Group is the team or namespace.
	Group string
	User  string
	Role  string
}

// Namespace is the first path component of repository names, with who may use it.
type Namespace struct {
	Name string
	// Kind is NamespaceUser or NamespaceTeam.
	Kind string
	// Owner is the user (personal namespace) or team (team namespace) it belongs to.
	Owner       string
	Public      bool
	Description string
	Created     time.Time
}

// Robot is a namespace-scoped machine account.
type Robot struct {
	// Name is the full account name (robot$namespace+name).
	Name       string
	Namespace  string
	Role       string
	SecretHash string
	// Description and CreatedBy are for people reading the list.
	Description string
	CreatedBy   string
	Created     time.Time
	// Expires, Revoked and LastUsed are zero when never.
	Expires  time.Time
	Revoked  time.Time
	LastUsed time.Time
	LastAddr string
}

// Token is a personal access token or a refresh token; only its hash is stored.
type Token struct {
	ID       string
	Kind     string
	User     string
	Name     string
	Hash     string
	ReadOnly bool
	Created  time.Time
	// Expires, Revoked and LastUsed are zero when never.
	Expires  time.Time
	Revoked  time.Time
	LastUsed time.Time
	LastAddr string
}

// SigningKey is a token signing key with its self-signed certificate.
type SigningKey struct {
	// ID is the key id (kid).
	ID  string
	Alg string
	// Private is the private key as the auth package sealed it; the store keeps it as given.
	Private []byte
	// Certificate is the PEM certificate of the public key.
	Certificate string
	State       string
	Created     time.Time
	// Retired is when the key stopped signing; zero while it has not.
	Retired time.Time
}

// AuditEntry is one record of the audit log.
type AuditEntry struct {
	ID     int64
	Time   time.Time
	Actor  string
	Action string
	Target string
	// Scope is what was asked (token requests), Granted what was given.
	Scope   string
	Granted string
	Addr    string
	Detail  string
	OK      bool
}

// AuditFilter selects audit entries; zero fields do not filter.
type AuditFilter struct {
	Actor  string
	Action string
	Since  time.Time
	// Before is the id of the last entry of the previous page.
	Before int64
	// Limit caps the result; 0 or more than MaxLimit means MaxLimit.
	Limit int
}

// Accounts keeps who may do what: users, teams, namespaces, robots, tokens, signing keys
// and the audit log. Every Store that Open returns implements it (AccountsOf).
type Accounts interface {
	CreateUser(ctx context.Context, u User) error
	User(ctx context.Context, name string) (User, bool, error)
	Users(ctx context.Context) ([]User, error)
	// UpdateUser replaces the password hash, admin and disabled flags of u.Name.
	UpdateUser(ctx context.Context, u User) error

	CreateTeam(ctx context.Context, t Team) error
	Team(ctx context.Context, name string) (Team, bool, error)
	Teams(ctx context.Context) ([]Team, error)
	DeleteTeam(ctx context.Context, name string) error
	// SetTeamMember adds, changes or (with role "") removes a member.
	SetTeamMember(ctx context.Context, team, user, role string) error
	TeamMembers(ctx context.Context, team string) ([]Member, error)
	// Memberships returns the teams user belongs to (Group is the team).
	Memberships(ctx context.Context, user string) ([]Member, error)

	CreateNamespace(ctx context.Context, n Namespace) error
	Namespace(ctx context.Context, name string) (Namespace, bool, error)
	Namespaces(ctx context.Context) ([]Namespace, error)
	// UpdateNamespace replaces the public flag and description of n.Name.
	UpdateNamespace(ctx context.Context, n Namespace) error
	DeleteNamespace(ctx context.Context, name string) error
	SetNamespaceMember(ctx context.Context, namespace, user, role string) error
	NamespaceMembers(ctx context.Context, namespace string) ([]Member, error)
	// NamespaceRoles returns the namespaces user is a direct member of (Group is the namespace).
	NamespaceRoles(ctx context.Context, user string) ([]Member, error)

	CreateRobot(ctx context.Context, r Robot) error
	Robot(ctx context.Context, name string) (Robot, bool, error)
	RobotBySecret(ctx context.Context, hash string) (Robot, bool, error)
	Robots(ctx context.Context, namespace string) ([]Robot, error)
	RevokeRobot(ctx context.Context, name string, at time.Time) error
	TouchRobot(ctx context.Context, name string, at time.Time, addr string) error

	CreateToken(ctx context.Context, t Token) error
	TokenByHash(ctx context.Context, hash string) (Token, bool, error)
	// Tokens returns user's tokens of kind, newest first.
	Tokens(ctx context.Context, user, kind string) ([]Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// RevokeUserTokens revokes every live token of user and returns how many.
	RevokeUserTokens(ctx context.Context, user string, at time.Time) (int, error)
	TouchToken(ctx context.Context, id string, at time.Time, addr string) error

	PutSigningKey(ctx context.Context, k SigningKey) error
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// SetKeyState moves a key to state, stamping retired when it becomes KeyRetired.
	SetKeyState(ctx context.Context, id, state string, at time.Time) error
	DeleteSigningKey(ctx context.Context, id string) error

	// AddAudit stores e; when it returns nil, the entry is durable.
	AddAudit(ctx context.Context, e AuditEntry) error
	// Audit returns the entries matching f, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// AccountsOf returns the Accounts side of a Store opened by Open.
func AccountsOf(s Store) (Accounts, error) {
	a, ok := s.(Accounts)
	if !ok {
		return nil, fmt.Errorf("store %T keeps no accounts", s)
	}
	return a, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// insert runs an INSERT … ON CONFLICT DO NOTHING and turns "nothing inserted" into ErrExists.
func (s *sqlStore) insert(ctx context.Context, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.q(query+` ON CONFLICT DO NOTHING`), args...)
	if err != nil {
		return fmt.Errorf("%s: create %s: %w", s.d.name, what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: create %s: %w", s.d.name, what, err)
	} else if n == 0 {
		return fmt.Errorf("%s %w", what, ErrExists)
	}
	return nil
}

// change runs an UPDATE or DELETE and turns "no row" into ErrNotFound.
func (s *sqlStore) change(ctx context.Context, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return fmt.Errorf("%s: change %s: %w", s.d.name, what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: change %s: %w", s.d.name, what, err)
	} else if n == 0 {
		return fmt.Errorf("%s %w", what, ErrNotFound)
	}
	return nil
}

// list runs query and scans each row with scan.
func list[T any](ctx context.Context, s *sqlStore, what, query string, scan func(*sql.Rows) (T, error), args ...any) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: list %s: %w", s.d.name, what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", s.d.name, what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", s.d.name, what, err)
	}
	return out, nil
}

// one runs query and scans its single row; ok is false when there is none.
func one[T any](ctx context.Context, s *sqlStore, what, query string, scan func(*sql.Rows) (T, error), args ...any) (T, bool, error) {
	all, err := list(ctx, s, what, query, scan, args...)
	var zero T
	if err != nil || len(all) == 0 {
		return zero, false, err
	}
	return all[0], true, nil
}

const userColumns = `name, password_hash, admin, disabled, created, updated`

func scanUser(r *sql.Rows) (User, error) {
	var u User
	var created, updated int64
	err := r.Scan(&u.Name, &u.PasswordHash, &u.Admin, &u.Disabled, &created, &updated)
	u.Created, u.Updated = fromNanos(created), fromNanos(updated)
	return u, err
}

// CreateUser implements Accounts.
func (s *sqlStore) CreateUser(ctx context.Context, u User) error {
	now := time.Now()
	if u.Created.IsZero() {
		u.Created = now
	}
	return s.insert(ctx, "user "+u.Name, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Name, u.PasswordHash, u.Admin, u.Disabled, nanos(u.Created), nanos(u.Created))
}

// User implements Accounts.
func (s *sqlStore) User(ctx context.Context, name string) (User, bool, error) {
	return one(ctx, s, "user", `SELECT `+userColumns+` FROM users WHERE name = ?`, scanUser, name)
}

// Users implements Accounts.
func (s *sqlStore) Users(ctx context.Context) ([]User, error) {
	return list(ctx, s, "users", `SELECT `+userColumns+` FROM users ORDER BY name`, scanUser)
}

// UpdateUser implements Accounts.
func (s *sqlStore) UpdateUser(ctx context.Context, u User) error {
	return s.change(ctx, "user "+u.Name, `UPDATE users SET password_hash = ?, admin = ?, disabled = ?, updated = ? WHERE name = ?`,
		u.PasswordHash, u.Admin, u.Disabled, time.Now().UnixNano(), u.Name)
}

func scanTeam(r *sql.Rows) (Team, error) {
	var t Team
	var created int64
	err := r.Scan(&t.Name, &t.Description, &created)
	t.Created = fromNanos(created)
	return t, err
}

// CreateTeam implements Accounts.
func (s *sqlStore) CreateTeam(ctx context.Context, t Team) error {
	if t.Created.IsZero() {
		t.Created = time.Now()
	}
	return s.insert(ctx, "team "+t.Name, `INSERT INTO teams (name, description, created) VALUES (?, ?, ?)`, t.Name, t.Description, nanos(t.Created))
}

// Team implements Accounts.
func (s *sqlStore) Team(ctx context.Context, name string) (Team, bool, error) {
	return one(ctx, s, "team", `SELECT name, description, created FROM teams WHERE name = ?`, scanTeam, name)
}

// Teams implements Accounts.
func (s *sqlStore) Teams(ctx context.Context) ([]Team, error) {
	return list(ctx, s, "teams", `SELECT name, description, created FROM teams ORDER BY name`, scanTeam)
}

// DeleteTeam implements Accounts. Its namespace goes with it (robots included).
func (s *sqlStore) DeleteTeam(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.d.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM namespaces WHERE kind = ? AND owner = ?`), NamespaceTeam, name); err != nil {
		return fmt.Errorf("%s: delete namespaces of team %s: %w", s.d.name, name, err)
	}
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM teams WHERE name = ?`), name)
	if err != nil {
		return fmt.Errorf("%s: delete team %s: %w", s.d.name, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("team %s %w", name, ErrNotFound)
	}
	return tx.Commit()
}

func scanMember(r *sql.Rows) (Member, error) {
	var m Member
	return m, r.Scan(&m.Group, &m.User, &m.Role)
}

// setMember adds, changes or (role "") removes a row of a membership table.
func (s *sqlStore) setMember(ctx context.Context, table, group, user, role string) error {
	what := table + " " + group + "/" + user
	if role == "" {
		return s.change(ctx, what, `DELETE FROM `+table+` WHERE `+groupColumn(table)+` = ? AND username = ?`, group, user)
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO `+table+` (`+groupColumn(table)+`, username, role) VALUES (?, ?, ?)
		ON CONFLICT (`+groupColumn(table)+`, username) DO UPDATE SET role = excluded.role`), group, user, role)
	if err != nil {
		if isForeignKey(err) {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return fmt.Errorf("%s: set %s: %w", s.d.name, what, err)
	}
	return nil
}

func groupColumn(table string) string {
	if table == "team_members" {
		return "team"
	}
	return "namespace"
}

// isForeignKey reports whether err is a foreign key violation (an unknown user, team or
// namespace), in either database.
func isForeignKey(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "foreign key") || strings.Contains(msg, "23503")
}

// SetTeamMember implements Accounts.
func (s *sqlStore) SetTeamMember(ctx context.Context, team, user, role string) error {
	return s.setMember(ctx, "team_members", team, user, role)
}

// TeamMembers implements Accounts.
func (s *sqlStore) TeamMembers(ctx context.Context, team string) ([]Member, error) {
	return list(ctx, s, "team members", `SELECT team, username, role FROM team_members WHERE team = ? ORDER BY username`, scanMember, team)
}

// Memberships implements Accounts.
func (s *sqlStore) Memberships(ctx context.Context, user string) ([]Member, error) {
	return list(ctx, s, "memberships", `SELECT team, username, role FROM team_members WHERE username = ? ORDER BY team`, scanMember, user)
}

const namespaceColumns = `name, kind, owner, public, description, created`

func scanNamespace(r *sql.Rows) (Namespace, error) {
	var n Namespace
	var created int64
	err := r.Scan(&n.Name, &n.Kind, &n.Owner, &n.Public, &n.Description, &created)
	n.Created = fromNanos(created)
	return n, err
}

// CreateNamespace implements Accounts.
func (s *sqlStore) CreateNamespace(ctx context.Context, n Namespace) error {
	if n.Created.IsZero() {
		n.Created = time.Now()
	}
	return s.insert(ctx, "namespace "+n.Name, `INSERT INTO namespaces (`+namespaceColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		n.Name, n.Kind, n.Owner, n.Public, n.Description, nanos(n.Created))
}

// Namespace implements Accounts.
func (s *sqlStore) Namespace(ctx context.Context, name string) (Namespace, bool, error) {
	return one(ctx, s, "namespace", `SELECT `+namespaceColumns+` FROM namespaces WHERE name = ?`, scanNamespace, name)
}

// Namespaces implements Accounts.
func (s *sqlStore) Namespaces(ctx context.Context) ([]Namespace, error) {
	return list(ctx, s, "namespaces", `SELECT `+namespaceColumns+` FROM namespaces ORDER BY name`, scanNamespace)
}

// UpdateNamespace implements Accounts.
func (s *sqlStore) UpdateNamespace(ctx context.Context, n Namespace) error {
	return s.change(ctx, "namespace "+n.Name, `UPDATE namespaces SET public = ?, description = ? WHERE name = ?`, n.Public, n.Description, n.Name)
}

// DeleteNamespace implements Accounts; its members and robots go with it.
func (s *sqlStore) DeleteNamespace(ctx context.Context, name string) error {
	return s.change(ctx, "namespace "+name, `DELETE FROM namespaces WHERE name = ?`, name)
}

// SetNamespaceMember implements Accounts.
func (s *sqlStore) SetNamespaceMember(ctx context.Context, namespace, user, role string) error {
	return s.setMember(ctx, "namespace_members", namespace, user, role)
}

// NamespaceMembers implements Accounts.
func (s *sqlStore) NamespaceMembers(ctx context.Context, namespace string) ([]Member, error) {
	return list(ctx, s, "namespace members", `SELECT namespace, username, role FROM namespace_members WHERE namespace = ? ORDER BY username`, scanMember, namespace)
}

// NamespaceRoles implements Accounts.
func (s *sqlStore) NamespaceRoles(ctx context.Context, user string) ([]Member, error) {
	return list(ctx, s, "namespace roles", `SELECT namespace, username, role FROM namespace_members WHERE username = ? ORDER BY namespace`, scanMember, user)
}

const robotColumns = `name, namespace, role, secret_hash, description, created_by, created, expires, revoked, last_used, last_addr`
