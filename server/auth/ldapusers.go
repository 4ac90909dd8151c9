package auth

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// LDAP signs users in against an LDAP directory, inside the one authenticator: a name
// without a local password is checked by binding to the directory, under the same throttle,
// slots and verified cache as a local password. A user is created on first sign-in, its
// groups become team memberships, and it is disabled when the directory no longer has it
// or disables it — at its next sign-in, or at the periodic Check.
type LDAP struct {
	acc *Accounts
	dir *directory
	// binds bounds the conversations with the directory at once, apart from the password
	// hashing slots: a hung directory must not keep local users from signing in.
	binds chan struct{}
}

// maxBinds is how many sign-ins may talk to the directory at once.
const maxBinds = 8

// NewLDAP returns the LDAP sign-in over acc; the directory is not contacted until someone
// signs in.
func NewLDAP(acc *Accounts, o LDAPOptions) (*LDAP, error) {
	dir, err := newDirectory(o)
	if err != nil {
		return nil, err
	}
	return &LDAP{acc: acc, dir: dir, binds: make(chan struct{}, maxBinds)}, nil
}

// ldapActor names the directory in the audit log.
const ldapActor = "ldap"

func (l *LDAP) groupSource() groupSource {
	return groupSource{actor: ldapActor, kind: TokenLDAPTeam, teams: l.dir.o.TeamMap}
}

// password checks login's password with the directory. The caller has checked the throttle
// (and counts ErrBadCredentials as a failure); the bind takes a slot as a hash does, from a
// pool of its own.
func (l *LDAP) password(ctx context.Context, login, password string, throttle bool) (access.Identity, error) {
	a := l.acc
	name := strings.ToLower(login)
	if !ValidName(name) {
		return access.Identity{}, ErrBadCredentials
	}
	u, ok, err := a.st.User(ctx, name)
	if err != nil {
		return access.Identity{}, err
	}
	if ok && u.PasswordHash != "" {
		return access.Identity{}, ErrBadCredentials // a local account, not the directory's
	}
	key := secretHash("ldap\x00" + name + "\x00" + password)
	if ok && a.recalled(a.verified, key) {
		return a.passwordIdentity(u)
	}
	if !throttle && a.recalled(a.rejected, key) {
		return access.Identity{}, ErrBadCredentials
	}
	release, err := a.takeSlot(ctx, l.binds, name, throttle)
	if err != nil {
		return access.Identity{}, err
	}
	defer release()
	e, err := l.bind(ctx, name, password)
	if errors.Is(err, ErrBadCredentials) && !throttle {
		a.remember(a.rejected, key) // an outdated session's password costs one bind a minute
	}
	if err != nil {
		return access.Identity{}, err
	}
	if err := l.signedIn(ctx, name, e); err != nil {
		return access.Identity{}, err
	}
	a.remember(a.verified, key)
	if u, _, err = a.st.User(ctx, name); err != nil {
		return access.Identity{}, err
	}
	return a.passwordIdentity(u)
}

// bind asks the directory whether name's password is right: ErrBadCredentials when not (or
// when the directory disables the entry, which disables the user), 503 when it cannot say.
func (l *LDAP) bind(ctx context.Context, name, password string) (directoryEntry, error) {
	e, err := l.dir.verify(ctx, name, password)
	why := e.Disabled
	switch {
	case errors.Is(err, errWrongPassword):
		return e, ErrBadCredentials
	case errors.Is(err, errAmbiguous):
		slog.WarnContext(ctx, "LDAP sign-in refused: the user filter matches several entries", "user", name)
		return e, ErrBadCredentials
	case errors.Is(err, errNotInDirectory):
		why = "not found in the directory"
	case err != nil:
		slog.WarnContext(ctx, "LDAP directory unavailable", "err", err)
		return e, unavailableErr(err)
	}
	if why == "" {
		return e, nil
	}
	if err := l.disable(ctx, name, why); err != nil {
		return e, err
	}
	return e, ErrBadCredentials
}

// signedIn brings the account of a directory user who just bound up to date: created on
// first sign-in, enabled again when the directory had disabled it, its teams synced.
func (l *LDAP) signedIn(ctx context.Context, name string, e directoryEntry) error {
	a := l.acc
	created, err := l.provision(ctx, name, e)
	if err != nil {
		return err
	}
	if err := l.enable(ctx, name); err != nil {
		return storeErr(err, "User "+name)
	}
	changed, err := a.syncGroupTeams(ctx, l.groupSource(), name, e.Groups)
	if err != nil {
		return storeErr(err, "The teams of "+name)
	}
	if created || changed {
		a.changed()
	}
	return nil
}

// ldapLinkHash is the lookup key of the link from a directory entry to a user.
func ldapLinkHash(name, entryID string) string {
	return secretHash("berth ldap link\x00" + name + "\x00" + entryID)
}

// provision finds the user linked to e, creating it on the first sign-in. An account of the
// name that this entry did not make (a local one, another sign-in's, a replaced entry's) is
// never taken over: the sign-in is refused with 409.
func (l *LDAP) provision(ctx context.Context, name string, e directoryEntry) (bool, error) {
	a := l.acc
	hash := ldapLinkHash(name, e.ID)
	linked := func() (bool, error) {
		t, ok, err := a.st.TokenByHash(ctx, hash)
		return ok && t.Kind == TokenLDAPLink && t.User == name, err
	}
	if ok, err := linked(); err != nil || ok {
		return false, storeErr(err, "The account")
	}
	err := a.createLinkedUser(ctx, name, store.Token{Kind: TokenLDAPLink, Name: e.DN, Hash: hash}, ldapActor, "first sign-in through the LDAP directory")
	if errors.Is(err, store.ErrExists) {
		if ok, err := linked(); err != nil || ok { // a sign-in at the same time made it
			return false, storeErr(err, "The account")
		}
		slog.WarnContext(ctx, "LDAP sign-in refused: a Berth account, team or namespace of that name does not belong to this directory entry", "user", name)
		return false, httperr.New(api.CodeConflict, "The name "+name+" belongs to a Berth account or namespace that is not this directory account's; ask an administrator.")
	}
	return err == nil, storeErr(err, "User "+name)
}

// disable disables name because the directory says why, if it is an enabled user the
// directory made; the marker it leaves lets the directory enable it again.
func (l *LDAP) disable(ctx context.Context, name, why string) error {
	a := l.acc
	u, ok, err := a.st.User(ctx, name)
	if err != nil || !ok || u.Disabled {
		return storeErr(err, "User "+name)
	}
	if linked, err := a.directoryLinked(ctx, name); err != nil || !linked {
		return storeErr(err, "User "+name)
	}
	yes := true
	if err := a.UpdateUser(ctx, ldapActor, name, UserChange{Disabled: &yes}); err != nil {
		return err
	}
	id, err := newID()
	if err != nil {
		return err
	}
	slog.InfoContext(ctx, "user disabled: the LDAP directory says so", "user", name, "why", why)
	return storeErr(a.st.CreateToken(ctx, store.Token{ID: id, Kind: TokenLDAPOff, User: name, Name: why,
		Hash: secretHash("berth ldap off\x00" + id), Created: a.now()}), "User "+name)
}

// enable enables name again if the directory, not an administrator, disabled it.
func (l *LDAP) enable(ctx context.Context, name string) error {
	a := l.acc
	marks, err := a.st.Tokens(ctx, name, TokenLDAPOff)
	if err != nil {
		return err
	}
	for _, m := range marks {
		if !m.Revoked.IsZero() {
			continue
		}
		no := false
		if err := a.UpdateUser(ctx, ldapActor, name, UserChange{Disabled: &no}); err != nil {
			return err
		}
		slog.InfoContext(ctx, "user enabled: the LDAP directory has it again", "user", name)
		if err := a.st.RevokeToken(ctx, m.ID, a.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// directoryLinked reports whether the LDAP directory made user (whose password is then the
// directory's to change).
func (a *Accounts) directoryLinked(ctx context.Context, user string) (bool, error) {
	links, err := a.st.Tokens(ctx, user, TokenLDAPLink)
	return len(links) > 0, err
}

// Check compares every user the directory made with the directory, as the service account:
// users it no longer has, has replaced or disables are disabled; those it enables again are
// enabled; the others' teams follow their groups. A directory that cannot answer fails the
// check and changes nothing more.
func (l *LDAP) Check(ctx context.Context) error {
	mine, links, err := l.linkedUsers(ctx)
	if err != nil || len(mine) == 0 {
		return err
	}
	var conn *ldap.Conn
	var done func()
	if err := l.dir.guard(func() (err error) {
		conn, done, err = l.dir.connect(ctx, l.dir.o.Timeout*time.Duration(2+len(mine)))
		return err
	}); err != nil {
		return unavailableErr(err)
	}
	defer done()
	disabled := 0
	for _, u := range mine {
		off, err := l.checkUser(ctx, conn, u, links[u.Name])
		if err != nil {
			return err
		}
		if off && !u.Disabled {
			disabled++
		}
	}
	slog.InfoContext(ctx, "LDAP check done", "users", len(mine), "disabled", disabled)
	return nil
}

// linkedUsers are the users the directory made (without a local password), with their links.
func (l *LDAP) linkedUsers(ctx context.Context) ([]store.User, map[string][]store.Token, error) {
	users, err := l.acc.st.Users(ctx)
	if err != nil {
		return nil, nil, err
	}
	var mine []store.User
	links := map[string][]store.Token{}
	for _, u := range users {
		ls, err := l.acc.st.Tokens(ctx, u.Name, TokenLDAPLink)
		if err != nil {
			return nil, nil, err
		}
		if len(ls) > 0 && u.PasswordHash == "" {
			mine, links[u.Name] = append(mine, u), ls
		}
	}
	return mine, links, nil
}

// checkUser compares u with its entry and reports whether the directory disables it.
func (l *LDAP) checkUser(ctx context.Context, conn *ldap.Conn, u store.User, links []store.Token) (bool, error) {
	e, err := l.dir.lookup(conn, u.Name)
	why := e.Disabled
	switch {
	case errors.Is(err, errAmbiguous):
		slog.WarnContext(ctx, "LDAP check skips a user: the user filter matches several entries", "user", u.Name)
		return false, nil
	case errors.Is(err, errNotInDirectory):
		why = "not found in the directory"
	case err != nil:
		return false, unavailableErr(err)
	case !hasLink(links, ldapLinkHash(u.Name, e.ID)):
		why = "replaced in the directory by another entry"
	}
	if why != "" {
		return true, l.disable(ctx, u.Name, why)
	}
	return false, l.signedIn(ctx, u.Name, e)
}

func hasLink(links []store.Token, hash string) bool {
	for _, t := range links {
		if t.Hash == hash {
			return true
		}
	}
	return false
}
