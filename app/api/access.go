package api

import "time"

// The JSON types of access control (/api/v1/users, teams, namespaces, robots, tokens,
// audit). Secrets appear only in the answers that create them (RobotCreated, TokenCreated).

// User is a local account.
type User struct {
	Name     string    `json:"name"`
	Admin    bool      `json:"admin"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
}

// UserRequest creates a user (name, password, admin) or changes one (password, admin,
// disabled; absent fields stay).
type UserRequest struct {
	Name     string  `json:"name,omitempty"`
	Password *string `json:"password,omitempty"`
	// CurrentPassword is needed to change one's own password.
	CurrentPassword *string `json:"currentPassword,omitempty"`
	Admin           *bool   `json:"admin,omitempty"`
	Disabled        *bool   `json:"disabled,omitempty"`
}

// Team is a group of users with roles.
type Team struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
	Members     []Member  `json:"members,omitempty"`
}

// Member is a user and their role: viewer, developer, maintainer or owner.
type Member struct {
	User string `json:"user"`
	Role string `json:"role"`
}

// Namespace is the first path component of repository names and who may use it.
type Namespace struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Owner       string    `json:"owner"`
	Public      bool      `json:"public"`
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
	Members     []Member  `json:"members,omitempty"`
}

// NamespaceRequest creates a namespace (name, team or user) or changes one (public,
// description).
type NamespaceRequest struct {
	Name        string  `json:"name,omitempty"`
	Team        string  `json:"team,omitempty"`
	User        string  `json:"user,omitempty"`
	Public      *bool   `json:"public,omitempty"`
	Description *string `json:"description,omitempty"`
}

// Robot is a namespace-scoped machine account; Account is its docker login user name.
type Robot struct {
	Account     string     `json:"account"`
	Namespace   string     `json:"namespace"`
	Role        string     `json:"role"`
	Description string     `json:"description"`
	CreatedBy   string     `json:"createdBy"`
	Created     time.Time  `json:"created"`
	Expires     *time.Time `json:"expires,omitempty"`
	Revoked     *time.Time `json:"revoked,omitempty"`
	LastUsed    *time.Time `json:"lastUsed,omitempty"`
}

// RobotRequest creates a robot; ExpiresIn is a duration such as 90d (empty: never).
type RobotRequest struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	Description string `json:"description,omitempty"`
	ExpiresIn   string `json:"expiresIn,omitempty"`
}

// RobotCreated is shown once: the secret is not kept.
type RobotCreated struct {
	Robot
	Secret string `json:"secret"`
}

// AccessToken is a personal access token, without its secret.
type AccessToken struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	ReadOnly bool       `json:"readOnly"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	LastUsed *time.Time `json:"lastUsed,omitempty"`
	LastAddr string     `json:"lastAddr,omitempty"`
}

// TokenRequest creates a personal access token; ExpiresIn is a duration such as 30d.
type TokenRequest struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expiresIn,omitempty"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// TokenCreated is shown once: the token is not kept.
type TokenCreated struct {
	AccessToken
	Token string `json:"token"`
}

// RoleRequest sets a member's role.
type RoleRequest struct {
	Role string `json:"role"`
}

// AuditEntry is one record of the audit log.
type AuditEntry struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target,omitempty"`
	Scope   string    `json:"scope,omitempty"`
	Granted string    `json:"granted,omitempty"`
	Addr    string    `json:"addr,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	OK      bool      `json:"ok"`
}

// AuditPage is a page of the audit log, newest first; pass Next as before for the next one.
type AuditPage struct {
	Entries []AuditEntry `json:"entries"`
	Next    int64        `json:"next,omitempty"`
}

// RepositoryAccess is what the caller may do to one repository (GET /api/v1/access), and,
// for those who manage its namespace, who else may.
type RepositoryAccess struct {
	Repository string `json:"repository"`
	// Namespace is the repository's namespace ("" for the global one); Known is false when
	// no namespace of that name exists and --default-access decides.
	Namespace string `json:"namespace"`
	Known     bool   `json:"known"`
	Public    bool   `json:"public"`
	// Actions are the caller's: pull, push, delete, and manage for owners.
	Actions []string `json:"actions"`
	Admin   bool     `json:"admin,omitempty"`
	// Members are the namespace's members, for owners and administrators only: direct
	// members, and for a team's namespace the team's members (Via names the team).
	Members []AccessMember `json:"members,omitempty"`
}

// AccessMember is someone holding a role in a namespace, directly or through a team.
type AccessMember struct {
	User string `json:"user"`
	Role string `json:"role"`
	Via  string `json:"via,omitempty"`
}

// AuditQuery filters GET /api/v1/audit: by user, action and since (RFC 3339 or 24h, 7d);
// Before is the Next of the previous page.
type AuditQuery struct {
	User, Action, Since string
	Before              int64
	Limit               int
}
