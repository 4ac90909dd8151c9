package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Audit log actions.
const (
	AuditSignIn          = "signin"
	AuditToken           = "token"
	AuditUserCreate      = "user.create"
	AuditUserUpdate      = "user.update"
	AuditUserDisable     = "user.disable"
	AuditUserEnable      = "user.enable"
	AuditTeamCreate      = "team.create"
	AuditTeamDelete      = "team.delete"
	AuditTeamMember      = "team.member"
	AuditNamespaceCreate = "namespace.create"
	AuditNamespaceUpdate = "namespace.update"
	AuditNamespaceDelete = "namespace.delete"
	AuditNamespaceMember = "namespace.member"
	AuditRobotCreate     = "robot.create"
	AuditRobotRevoke     = "robot.revoke"
	AuditPATCreate       = "pat.create"
	AuditPATRevoke       = "pat.revoke"
	AuditKeyRotate       = "key.rotate"
	AuditDenied          = "write.denied" // a write the policy refused (job, import, chart upload)
	AuditSignOut         = "signout"
	AuditOAuth           = "oauth"
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// HashPassword returns password's argon2id hash (PHC string form).
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", httperr.New(api.CodeBadRequest, fmt.Sprintf("A password needs at least %d characters.", MinPasswordLength))
	}
	return argon2id.CreateHash(password, passwordParams)
}

// CreateUser creates a user with a personal namespace of the same name. actor is who does it
// (for the audit log).
func (a *Accounts) CreateUser(ctx context.Context, actor, name, password string, admin bool) error {
	if !ValidName(name) {
		return badName("User name", name)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	if _, taken, err := a.st.Namespace(ctx, name); err != nil || taken {
		if err == nil {
			err = fmt.Errorf("namespace %s %w", name, store.ErrExists)
		}
		return storeErr(err, "A user, team or namespace named "+name)
	}
	if err := a.st.CreateUser(ctx, store.User{Name: name, PasswordHash: hash, Admin: admin, Created: a.now()}); err != nil {
		return storeErr(err, "User "+name)
	}
	if err := a.st.CreateNamespace(ctx, store.Namespace{Name: name, Kind: store.NamespaceUser, Owner: name, Created: a.now()}); err != nil {
		return storeErr(err, "Namespace "+name)
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditUserCreate, Target: name, Detail: fmt.Sprintf("admin=%v", admin), OK: true})
	return nil
}

// UserChange is what UpdateUser changes; nil fields stay as they are.
type UserChange struct {
	Password *string
	Admin    *bool
	Disabled *bool
}

// UpdateUser changes a user's password, administrator flag or disabled flag. Disabling
// revokes every refresh token and personal access token at once; the policy forgets the
// user, so sessions and Basic credentials stop working with the next request.
func (a *Accounts) UpdateUser(ctx context.Context, actor, name string, c UserChange) error {
	u, ok, err := a.st.User(ctx, name)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("user %s %w", name, store.ErrNotFound)
		}
		return storeErr(err, "User "+name)
	}
	var details []string
	if c.Password != nil {
		// A local password would let the account sign in past the directory.
		if linked, err := a.directoryLinked(ctx, name); err != nil || linked {
			if err == nil {
				err = httperr.New(api.CodeConflict, "User "+name+" signs in through the LDAP directory; change the password there.")
			}
			return storeErr(err, "User "+name)
		}
		if u.PasswordHash, err = HashPassword(*c.Password); err != nil {
			return err
		}
		details = append(details, "password")
	}
	if c.Admin != nil && *c.Admin != u.Admin {
		u.Admin = *c.Admin
		details = append(details, fmt.Sprintf("admin=%v", u.Admin))
	}
	disabling := c.Disabled != nil && *c.Disabled && !u.Disabled
	enabling := c.Disabled != nil && !*c.Disabled && u.Disabled
	if c.Disabled != nil {
		u.Disabled = *c.Disabled
	}
	if err := a.st.UpdateUser(ctx, u); err != nil {
		return storeErr(err, "User "+name)
	}
	action := AuditUserUpdate
	if disabling {
		n, err := a.st.RevokeUserTokens(ctx, name, a.now())
		if err != nil {
			return storeErr(err, "Tokens of "+name)
		}
		action = AuditUserDisable
		details = append(details, fmt.Sprintf("revoked %d tokens", n))
	} else if enabling {
		action = AuditUserEnable
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: action, Target: name, Detail: strings.Join(details, " "), OK: true})
	return nil
}

// HasAdmin reports whether some enabled administrator exists.
func (a *Accounts) HasAdmin(ctx context.Context) (bool, error) {
	users, err := a.st.Users(ctx)
	if err != nil {
		return false, err
	}
	for _, u := range users {
		if u.Admin && !u.Disabled {
			return true, nil
		}
	}
	return false, nil
}

// CreateTeam creates a team, its namespace of the same name, and makes owner (if set) its
// owner. Only an administrator (admin, or the operator's CLI) may create one over
// repositories that exist already: the team's owner would take them over.
func (a *Accounts) CreateTeam(ctx context.Context, actor, name, description, owner string, admin bool) error {
	if !ValidName(name) {
		return badName("Team name", name)
	}
	if !admin {
		if err := a.unclaimed(ctx, name); err != nil {
			return err
		}
	}
	if _, taken, err := a.st.Namespace(ctx, name); err != nil || taken {
		if err == nil {
			err = fmt.Errorf("namespace %s %w", name, store.ErrExists)
		}
		return storeErr(err, "A user, team or namespace named "+name)
	}
	if err := a.st.CreateTeam(ctx, store.Team{Name: name, Description: description, Created: a.now()}); err != nil {
		return storeErr(err, "Team "+name)
	}
	if err := a.st.CreateNamespace(ctx, store.Namespace{Name: name, Kind: store.NamespaceTeam, Owner: name, Created: a.now()}); err != nil {
		return storeErr(err, "Namespace "+name)
	}
	if owner != "" {
		if err := a.st.SetTeamMember(ctx, name, owner, store.RoleOwner); err != nil {
			return storeErr(err, "User "+owner)
		}
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditTeamCreate, Target: name, Detail: "owner=" + owner, OK: true})
	return nil
}

// unclaimed answers nil when no repository exists under name/ (so a new team or account of
// that name takes nothing over), a 409 when some do, and 503 when that cannot be told.
func (a *Accounts) unclaimed(ctx context.Context, name string) error {
	taken, err := a.occupied(ctx, name)
	switch {
	case err != nil:
		return httperr.Wrap(api.CodeRegistryUnavailable, "Whether repositories exist under "+name+"/ cannot be told right now; try again.", err)
	case taken:
		return httperr.New(api.CodeConflict, fmt.Sprintf("Repositories exist under %s/ already: only an administrator can create a team or namespace that takes them over.", name))
	}
	return nil
}

// DeleteTeam deletes a team with its namespace and the namespace's robots.
func (a *Accounts) DeleteTeam(ctx context.Context, actor, name string) error {
	if err := a.st.DeleteTeam(ctx, name); err != nil {
		return storeErr(err, "Team "+name)
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditTeamDelete, Target: name, OK: true})
	return nil
}

// SetTeamMember gives user role in team; role "" removes them.
func (a *Accounts) SetTeamMember(ctx context.Context, actor, team, user, role string) error {
	if role != "" && !ValidRole(role) {
		return badRole(role)
	}
	if err := a.st.SetTeamMember(ctx, team, user, role); err != nil {
		return storeErr(err, "Team "+team+" or user "+user)
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditTeamMember, Target: team + "/" + user, Detail: "role=" + role, OK: true})
	return nil
}

func badRole(role string) error {
	return httperr.New(api.CodeBadRequest, fmt.Sprintf("Role %q: want viewer, developer, maintainer or owner.", role))
}

// CreateNamespace creates a namespace owned by team (whose members hold their team roles in
// it) or, with team empty, by user (its owner).
func (a *Accounts) CreateNamespace(ctx context.Context, actor, name, team, user string, public bool, description string) error {
	if !ValidName(name) {
		return badName("Namespace name", name)
	}
	n := store.Namespace{Name: name, Kind: store.NamespaceTeam, Owner: team, Public: public, Description: description, Created: a.now()}
	switch {
	case team != "":
		if _, ok, err := a.st.Team(ctx, team); err != nil || !ok {
			return storeErr(errors.Join(err, store.ErrNotFound), "Team "+team)
		}
	case user != "":
		n.Kind, n.Owner = store.NamespaceUser, user
		if _, ok, err := a.st.User(ctx, user); err != nil || !ok {
			return storeErr(errors.Join(err, store.ErrNotFound), "User "+user)
		}
	default:
		return httperr.New(api.CodeBadRequest, "A namespace belongs to a team or a user: name one.")
	}
	if err := a.st.CreateNamespace(ctx, n); err != nil {
		return storeErr(err, "Namespace "+name)
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditNamespaceCreate, Target: name, Detail: fmt.Sprintf("%s=%s public=%v", n.Kind, n.Owner, public), OK: true})
	return nil
}

// UpdateNamespace changes whether a namespace is public and its description.
func (a *Accounts) UpdateNamespace(ctx context.Context, actor, name string, public *bool, description *string) error {
	n, ok, err := a.st.Namespace(ctx, name)
	if err != nil || !ok {
		return storeErr(errors.Join(err, store.ErrNotFound), "Namespace "+name)
	}
	if public != nil {
		n.Public = *public
	}
	if description != nil {
		n.Description = *description
	}
	if err := a.st.UpdateNamespace(ctx, n); err != nil {
		return storeErr(err, "Namespace "+name)
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditNamespaceUpdate, Target: name, Detail: fmt.Sprintf("public=%v", n.Public), OK: true})
	return nil
}

// DeleteNamespace deletes a namespace, its members and robots (not its repositories).
func (a *Accounts) DeleteNamespace(ctx context.Context, actor, name string) error {
	if err := a.st.DeleteNamespace(ctx, name); err != nil {
		return storeErr(err, "Namespace "+name)
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditNamespaceDelete, Target: name, OK: true})
	return nil
}

// SetNamespaceMember gives user role in namespace directly; role "" removes them.
func (a *Accounts) SetNamespaceMember(ctx context.Context, actor, namespace, user, role string) error {
	if role != "" && !ValidRole(role) {
		return badRole(role)
	}
	if err := a.st.SetNamespaceMember(ctx, namespace, user, role); err != nil {
		return storeErr(err, "Namespace "+namespace+" or user "+user)
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditNamespaceMember, Target: namespace + "/" + user, Detail: "role=" + role, OK: true})
	return nil
}

// CreateRobot creates a robot in namespace with role (not owner) and returns its account
// name and secret; the secret is shown this once and only its hash is kept. ttl 0 never
// expires.
func (a *Accounts) CreateRobot(ctx context.Context, actor, namespace, name, role, description string, ttl time.Duration) (account, secret string, err error) {
	if !ValidName(name) {
		return "", "", badName("Robot name", name)
	}
	if !ValidRole(role) || role == store.RoleOwner {
		return "", "", httperr.New(api.CodeBadRequest, fmt.Sprintf("Robot role %q: want viewer, developer or maintainer.", role))
	}
	secret, err = newSecret(RobotPrefix)
	if err != nil {
		return "", "", err
	}
	r := store.Robot{Name: RobotAccount + namespace + "+" + name, Namespace: namespace, Role: role, SecretHash: secretHash(secret),
		Description: description, CreatedBy: actor, Created: a.now()}
	if ttl > 0 {
		r.Expires = r.Created.Add(ttl)
	}
	if err := a.st.CreateRobot(ctx, r); err != nil {
		return "", "", storeErr(err, "Robot "+r.Name+" (or its namespace)")
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditRobotCreate, Target: r.Name, Detail: "role=" + role, OK: true})
	return r.Name, secret, nil
}

// RevokeRobot revokes a robot: its secret stops working at once.
func (a *Accounts) RevokeRobot(ctx context.Context, actor, account string) error {
	if err := a.st.RevokeRobot(ctx, account, a.now()); err != nil {
		return storeErr(err, "Live robot "+account)
	}
	a.changed()
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditRobotRevoke, Target: account, OK: true})
	return nil
}

// CreatePAT creates a personal access token for user and returns its id and the token,
// shown this once. ttl 0 takes the operator's default (--pat-max-age, also the longest
// allowed); readOnly limits it to pulls.
func (a *Accounts) CreatePAT(ctx context.Context, actor, user, name string, ttl time.Duration, readOnly bool) (id, secret string, err error) {
	if strings.TrimSpace(name) == "" || len(name) > 100 {
		return "", "", httperr.New(api.CodeBadRequest, "Give the token a name (at most 100 characters), such as the machine or job using it.")
	}
	switch {
	case a.patTTL > 0 && ttl == 0:
		ttl = a.patTTL // the operator's default: no token lives forever unless allowed
	case a.patTTL > 0 && ttl > a.patTTL:
		return "", "", httperr.New(api.CodeBadRequest, fmt.Sprintf("A token may last at most %s here (--pat-max-age).", api.FormatDuration(a.patTTL)))
	}
	secret, t, err := a.newToken(store.TokenPersonal, user, name, ttl, readOnly, PATPrefix)
	if err != nil {
		return "", "", err
	}
	if err := a.st.CreateToken(ctx, t); err != nil {
		return "", "", storeErr(err, "User "+user)
	}
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditPATCreate, Target: user + "/" + t.ID, Detail: fmt.Sprintf("name=%q readOnly=%v", name, readOnly), OK: true})
	return t.ID, secret, nil
}

// RevokePAT revokes one of user's personal access tokens.
func (a *Accounts) RevokePAT(ctx context.Context, actor, user, id string) error {
	tokens, err := a.st.Tokens(ctx, user, store.TokenPersonal)
	if err != nil {
		return storeErr(err, "Tokens of "+user)
	}
	for _, t := range tokens {
		if t.ID == id {
			if err := a.st.RevokeToken(ctx, id, a.now()); err != nil {
				return storeErr(err, "Live token "+id)
			}
			a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditPATRevoke, Target: user + "/" + id, OK: true})
			return nil
		}
	}
	return httperr.New(api.CodeNotFound, "User "+user+" has no token "+id+".")
}
