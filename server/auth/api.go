package auth

import (
	"context"
	"errors"
	"github.com/berth-registry/berth/server/access"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// API serves the access-control endpoints of /api/v1. Who may call what:
//
//	users                      administrators (a user may change their own password)
//	teams                      any signed-in user creates one (and owns it); owners and administrators manage it
//	namespaces                 administrators create and delete; owners (Manage) change, add members and robots
//	tokens                     each user their own
//	audit, keys/rotate         administrators
type API struct {
	acc  *Accounts
	keys *Keyring
}

// NewAPI returns the endpoints over acc; keys is rotated by POST /api/v1/keys/rotate.
func NewAPI(acc *Accounts, keys *Keyring) *API { return &API{acc: acc, keys: keys} }

// maxBody bounds a request body here: a few names and a password.
const maxBody = 64 << 10

// Register mounts the endpoints on mux, each wrapped by wrap (CORS, then Principals).
func (a *API) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /api/v1/users":                               a.admin(a.listUsers),
		"POST /api/v1/users":                              a.admin(a.createUser),
		"PATCH /api/v1/users/{name}":                      a.user(a.updateUser),
		"GET /api/v1/teams":                               a.user(a.listTeams),
		"POST /api/v1/teams":                              a.user(a.createTeam),
		"GET /api/v1/teams/{name}":                        a.user(a.getTeam),
		"DELETE /api/v1/teams/{name}":                     a.user(a.deleteTeam),
		"PUT /api/v1/teams/{name}/members/{user}":         a.user(a.setTeamMember),
		"DELETE /api/v1/teams/{name}/members/{user}":      a.user(a.setTeamMember),
		"GET /api/v1/namespaces":                          a.user(a.listNamespaces),
		"POST /api/v1/namespaces":                         a.admin(a.createNamespace),
		"GET /api/v1/namespaces/{name}":                   a.user(a.getNamespace),
		"PATCH /api/v1/namespaces/{name}":                 a.user(a.updateNamespace),
		"DELETE /api/v1/namespaces/{name}":                a.admin(a.deleteNamespace),
		"PUT /api/v1/namespaces/{name}/members/{user}":    a.user(a.setNamespaceMember),
		"DELETE /api/v1/namespaces/{name}/members/{user}": a.user(a.setNamespaceMember),
		"GET /api/v1/namespaces/{name}/robots":            a.user(a.listRobots),
		"POST /api/v1/namespaces/{name}/robots":           a.user(a.createRobot),
		"DELETE /api/v1/namespaces/{name}/robots/{robot}": a.user(a.revokeRobot),
		"GET /api/v1/tokens":                              a.user(a.listTokens),
		"POST /api/v1/tokens":                             a.user(a.createToken),
		"DELETE /api/v1/tokens/{id}":                      a.user(a.revokeToken),
		"GET /api/v1/audit":                               a.admin(a.audit),
		"POST /api/v1/keys/rotate":                        a.admin(a.rotate),
	} {
		mux.Handle(pattern, wrap(h))
	}
	mux.Handle("GET /api/v1/access", wrap(http.HandlerFunc(a.repositoryAccess))) // anyone, anonymous too
}

type handler func(w http.ResponseWriter, r *http.Request, sub access.Identity) error

// user runs h for a signed-in user (not a robot, not a read-only token).
func (a *API) user(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sub := access.From(r.Context())
		switch {
		case sub.Kind != access.User:
			httperr.Write(w, r, httperr.New(api.CodeUnauthorized, "Sign in to manage access."))
		case sub.ReadOnly && r.Method != http.MethodGet:
			httperr.Write(w, r, httperr.New(api.CodeDenied, "A read-only token cannot change anything."))
		default:
			w.Header().Set("Cache-Control", "no-store")
			if err := h(w, r, sub); err != nil {
				httperr.Write(w, r, err)
			}
		}
	}
}

// admin runs h for an administrator.
func (a *API) admin(h handler) http.HandlerFunc {
	return a.user(func(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
		if !sub.Admin {
			return denied("Only administrators may do this.")
		}
		return h(w, r, sub)
	})
}

func denied(msg string) error { return httperr.New(api.CodeDenied, msg) }

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func userJSON(u store.User) api.User {
	return api.User{Name: u.Name, Admin: u.Admin, Disabled: u.Disabled, Created: u.Created}
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, _ access.Identity) error {
	users, err := a.acc.st.Users(r.Context())
	if err != nil {
		return storeErr(err, "Users")
	}
	out := make([]api.User, len(users))
	for i, u := range users {
		out[i] = userJSON(u)
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	var req api.UserRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the user", &req); err != nil {
		return err
	}
	if req.Password == nil {
		return httperr.New(api.CodeBadRequest, "A new user needs a password.")
	}
	if sub.Via == access.ViaToken && req.Admin != nil && *req.Admin {
		return denied("A personal access token cannot make administrators; sign in with your password.")
	}
	if err := a.acc.CreateUser(r.Context(), sub.Name, req.Name, *req.Password, req.Admin != nil && *req.Admin); err != nil {
		return err
	}
	u, _, err := a.acc.st.User(r.Context(), req.Name)
	if err != nil {
		return storeErr(err, "User "+req.Name)
	}
	httperr.WriteJSON(w, http.StatusCreated, userJSON(u))
	return nil
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	name := r.PathValue("name")
	var req api.UserRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the change", &req); err != nil {
		return err
	}
	self := name == sub.Name && req.Admin == nil && req.Disabled == nil
	if !sub.Admin && !self {
		return denied("Only administrators may change other users, or anyone's administrator or disabled flag.")
	}
	if sub.Via == access.ViaToken {
		return denied("A personal access token cannot change accounts; sign in with your password.")
	}
	if name == sub.Name && req.Password != nil {
		// A stolen session or token must not be enough to lock the owner out.
		if req.CurrentPassword == nil {
			return httperr.New(api.CodeBadRequest, "Give your current password to set a new one.")
		}
		if _, err := a.acc.Authenticate(r.Context(), sub.Name, *req.CurrentPassword); err != nil {
			if errors.Is(err, ErrBadCredentials) {
				return denied("The current password is wrong.")
			}
			return err
		}
	}
	if sub.Admin && name == sub.Name && ((req.Disabled != nil && *req.Disabled) || (req.Admin != nil && !*req.Admin)) {
		return httperr.New(api.CodeConflict, "Administrators cannot disable themselves or drop their own administrator flag; ask another administrator.")
	}
	if err := a.acc.UpdateUser(r.Context(), sub.Name, name, UserChange{Password: req.Password, Admin: req.Admin, Disabled: req.Disabled}); err != nil {
		return err
	}
	u, _, err := a.acc.st.User(r.Context(), name)
	if err != nil {
		return storeErr(err, "User "+name)
	}
	httperr.WriteJSON(w, http.StatusOK, userJSON(u))
	return nil
}

func members(ms []store.Member) []api.Member {
	out := make([]api.Member, len(ms))
	for i, m := range ms {
		out[i] = api.Member{User: m.User, Role: m.Role}
	}
	return out
}

// teamRole is sub's role in team ("" when none).
func (a *API) teamRole(ctx context.Context, sub access.Identity, team string) (string, error) {
	ms, err := a.acc.st.Memberships(ctx, sub.Name)
	if err != nil {
		return "", storeErr(err, "Teams")
	}
	for _, m := range ms {
		if m.Group == team {
			return m.Role, nil
		}
	}
	return "", nil
}

func (a *API) listTeams(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	teams, err := a.acc.st.Teams(r.Context())
	if err != nil {
		return storeErr(err, "Teams")
	}
	out := []api.Team{}
	for _, t := range teams {
		if role, err := a.teamRole(r.Context(), sub, t.Name); err != nil {
			return err
		} else if role == "" && !sub.Admin {
			continue
		}
		out = append(out, api.Team{Name: t.Name, Description: t.Description, Created: t.Created})
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"teams": out})
	return nil
}

func (a *API) createTeam(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	var req api.Team
	if err := httperr.DecodeJSON(w, r, maxBody, "the team", &req); err != nil {
		return err
	}
	if err := a.acc.CreateTeam(r.Context(), sub.Name, req.Name, req.Description, sub.Name, sub.Admin); err != nil {
		return err
	}
	return a.writeTeam(w, r, req.Name, http.StatusCreated)
}

func (a *API) writeTeam(w http.ResponseWriter, r *http.Request, name string, status int) error {
	t, ok, err := a.acc.st.Team(r.Context(), name)
	if err != nil || !ok {
		return storeErr(errOr(err, store.ErrNotFound), "Team "+name)
	}
	ms, err := a.acc.st.TeamMembers(r.Context(), name)
	if err != nil {
		return storeErr(err, "Team "+name)
	}
	httperr.WriteJSON(w, status, api.Team{Name: t.Name, Description: t.Description, Created: t.Created, Members: members(ms)})
	return nil
}

func errOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// mayManageTeam is nil when sub owns team or is an administrator.
func (a *API) mayManageTeam(ctx context.Context, sub access.Identity, team string, read bool) error {
	if sub.Admin {
		return nil
	}
	role, err := a.teamRole(ctx, sub, team)
	if err != nil {
		return err
	}
	if role == store.RoleOwner || (read && role != "") {
		return nil
	}
	if role == "" {
		return httperr.New(api.CodeNotFound, "Team "+team+" does not exist (or you are not in it).")
	}
	return denied("Only the team's owners and administrators may do this.")
}

func (a *API) getTeam(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	if err := a.mayManageTeam(r.Context(), sub, r.PathValue("name"), true); err != nil {
		return err
	}
	return a.writeTeam(w, r, r.PathValue("name"), http.StatusOK)
}

func (a *API) deleteTeam(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	if err := a.mayManageTeam(r.Context(), sub, r.PathValue("name"), false); err != nil {
		return err
	}
	if err := a.acc.DeleteTeam(r.Context(), sub.Name, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// role reads the role of a PUT …/members/{user}; DELETE means "".
func role(w http.ResponseWriter, r *http.Request) (string, error) {
	if r.Method == http.MethodDelete {
		return "", nil
	}
	var req api.RoleRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the role", &req); err != nil {
		return "", err
	}
	if !ValidRole(req.Role) {
		return "", badRole(req.Role)
	}
	return req.Role, nil
}

func (a *API) setTeamMember(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	team, user := r.PathValue("name"), r.PathValue("user")
	if err := a.mayManageTeam(r.Context(), sub, team, false); err != nil {
		return err
	}
	rl, err := role(w, r)
	if err != nil {
		return err
	}
	if err := a.acc.SetTeamMember(r.Context(), sub.Name, team, user, rl); err != nil {
		return err
	}
	return a.writeTeam(w, r, team, http.StatusOK)
}

// namespaceActions is what sub may do in namespace.
func (a *API) namespaceActions(ctx context.Context, sub access.Identity, namespace string) (Actions, error) {
	return a.acc.policy.Decide(ctx, sub, namespace+"/")
}

func namespaceJSON(n store.Namespace) api.Namespace {
	return api.Namespace{Name: n.Name, Kind: n.Kind, Owner: n.Owner, Public: n.Public, Description: n.Description, Created: n.Created}
}

func (a *API) listNamespaces(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	all, err := a.acc.st.Namespaces(r.Context())
	if err != nil {
		return storeErr(err, "Namespaces")
	}
	out := []api.Namespace{}
	for _, n := range all {
		if can, err := a.namespaceActions(r.Context(), sub, n.Name); err != nil {
			return storeErr(err, "Namespaces")
		} else if can != 0 {
			out = append(out, namespaceJSON(n))
		}
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"namespaces": out})
	return nil
}

func (a *API) createNamespace(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	var req api.NamespaceRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the namespace", &req); err != nil {
		return err
	}
	desc := ""
	if req.Description != nil {
		desc = *req.Description
	}
	if err := a.acc.CreateNamespace(r.Context(), sub.Name, req.Name, req.Team, req.User, req.Public != nil && *req.Public, desc); err != nil {
		return err
	}
	return a.writeNamespace(w, r, req.Name, http.StatusCreated)
}

func (a *API) writeNamespace(w http.ResponseWriter, r *http.Request, name string, status int) error {
	n, ok, err := a.acc.st.Namespace(r.Context(), name)
	if err != nil || !ok {
		return storeErr(errOr(err, store.ErrNotFound), "Namespace "+name)
	}
	ms, err := a.acc.st.NamespaceMembers(r.Context(), name)
	if err != nil {
		return storeErr(err, "Namespace "+name)
	}
	out := namespaceJSON(n)
	out.Members = members(ms)
	httperr.WriteJSON(w, status, out)
	return nil
}

// mayManage is nil when sub may manage namespace (owners, administrators); read asks only
// for some access.
func (a *API) mayManage(ctx context.Context, sub access.Identity, namespace string, read bool) error {
	can, err := a.namespaceActions(ctx, sub, namespace)
	if err != nil {
		return storeErr(err, "Namespace "+namespace)
	}
	if _, ok, err := a.acc.st.Namespace(ctx, namespace); err != nil || !ok || can == 0 {
		return httperr.New(api.CodeNotFound, "Namespace "+namespace+" does not exist (or you have no access to it).")
	}
	if can.Has(Manage) || (read && can != 0) {
		return nil
	}
	return denied("Only the namespace's owners and administrators may do this.")
}

func (a *API) getNamespace(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	if err := a.mayManage(r.Context(), sub, r.PathValue("name"), true); err != nil {
		return err
	}
	return a.writeNamespace(w, r, r.PathValue("name"), http.StatusOK)
}

func (a *API) updateNamespace(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	name := r.PathValue("name")
	if err := a.mayManage(r.Context(), sub, name, false); err != nil {
		return err
	}
	var req api.NamespaceRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the change", &req); err != nil {
		return err
	}
	if err := a.acc.UpdateNamespace(r.Context(), sub.Name, name, req.Public, req.Description); err != nil {
		return err
	}
	return a.writeNamespace(w, r, name, http.StatusOK)
}

func (a *API) deleteNamespace(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	if err := a.acc.DeleteNamespace(r.Context(), sub.Name, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) setNamespaceMember(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	name := r.PathValue("name")
	if err := a.mayManage(r.Context(), sub, name, false); err != nil {
		return err
	}
	rl, err := role(w, r)
	if err != nil {
		return err
	}
	if err := a.acc.SetNamespaceMember(r.Context(), sub.Name, name, r.PathValue("user"), rl); err != nil {
		return err
	}
	return a.writeNamespace(w, r, name, http.StatusOK)
}

func robotJSON(b store.Robot) api.Robot {
	return api.Robot{Account: b.Name, Namespace: b.Namespace, Role: b.Role, Description: b.Description, CreatedBy: b.CreatedBy,
		Created: b.Created, Expires: optTime(b.Expires), Revoked: optTime(b.Revoked), LastUsed: optTime(b.LastUsed)}
}

func (a *API) listRobots(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	name := r.PathValue("name")
	if err := a.mayManage(r.Context(), sub, name, false); err != nil {
		return err
	}
	robots, err := a.acc.st.Robots(r.Context(), name)
	if err != nil {
		return storeErr(err, "Robots")
	}
	out := make([]api.Robot, len(robots))
	for i, b := range robots {
		out[i] = robotJSON(b)
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"robots": out})
	return nil
}

// expiresIn reads a duration such as 90d; "" means never.
func expiresIn(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := api.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, httperr.New(api.CodeBadRequest, "expiresIn must be a positive duration such as 90d or 720h.")
	}
	return d, nil
}

func (a *API) createRobot(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	name := r.PathValue("name")
	if err := a.mayManage(r.Context(), sub, name, false); err != nil {
		return err
	}
	var req api.RobotRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the robot", &req); err != nil {
		return err
	}
	ttl, err := expiresIn(req.ExpiresIn)
	if err != nil {
		return err
	}
	account, secret, err := a.acc.CreateRobot(r.Context(), sub.Name, name, req.Name, req.Role, req.Description, ttl)
	if err != nil {
		return err
	}
	b, _, err := a.acc.st.Robot(r.Context(), account)
	if err != nil {
		return storeErr(err, "Robot "+account)
	}
	httperr.WriteJSON(w, http.StatusCreated, api.RobotCreated{Robot: robotJSON(b), Secret: secret})
	return nil
}

func (a *API) revokeRobot(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	name := r.PathValue("name")
	if err := a.mayManage(r.Context(), sub, name, false); err != nil {
		return err
	}
	account := r.PathValue("robot")
	if !strings.HasPrefix(account, RobotAccount) {
		account = RobotAccount + name + "+" + account
	}
	if b, ok, err := a.acc.st.Robot(r.Context(), account); err != nil || !ok || b.Namespace != name {
		return httperr.New(api.CodeNotFound, "Namespace "+name+" has no robot "+account+".")
	}
	if err := a.acc.RevokeRobot(r.Context(), sub.Name, account); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func tokenJSON(t store.Token) api.AccessToken {
	return api.AccessToken{ID: t.ID, Name: t.Name, ReadOnly: t.ReadOnly, Created: t.Created, Expires: optTime(t.Expires),
		Revoked: optTime(t.Revoked), LastUsed: optTime(t.LastUsed), LastAddr: t.LastAddr}
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	tokens, err := a.acc.st.Tokens(r.Context(), sub.Name, store.TokenPersonal)
	if err != nil {
		return storeErr(err, "Tokens")
	}
	out := make([]api.AccessToken, len(tokens))
	for i, t := range tokens {
		out[i] = tokenJSON(t)
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	if sub.Via == access.ViaToken {
		return denied("A personal access token cannot create tokens; sign in to make one.")
	}
	var req api.TokenRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the token", &req); err != nil {
		return err
	}
	ttl, err := expiresIn(req.ExpiresIn)
	if err != nil {
		return err
	}
	id, secret, err := a.acc.CreatePAT(r.Context(), sub.Name, sub.Name, req.Name, ttl, req.ReadOnly)
	if err != nil {
		return err
	}
	tokens, err := a.acc.st.Tokens(r.Context(), sub.Name, store.TokenPersonal)
	if err != nil {
		return storeErr(err, "Tokens")
	}
	for _, t := range tokens {
		if t.ID == id {
			httperr.WriteJSON(w, http.StatusCreated, api.TokenCreated{AccessToken: tokenJSON(t), Token: secret})
			return nil
		}
	}
	return storeErr(store.ErrNotFound, "Token "+id)
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	if err := a.acc.RevokePAT(r.Context(), sub.Name, sub.Name, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) audit(w http.ResponseWriter, r *http.Request, _ access.Identity) error {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("user"), Action: q.Get("action"), Limit: 100}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			d, derr := api.ParseDuration(v)
			if derr != nil || d <= 0 {
				return httperr.New(api.CodeBadRequest, "since must be an RFC 3339 time or a duration back from now such as 24h or 7d.")
			}
			t = time.Now().Add(-d)
		}
		f.Since = t
	}
	for name, p := range map[string]*int64{"before": &f.Before} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return httperr.New(api.CodeBadRequest, name+" must be an entry id.")
			}
			*p = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return httperr.New(api.CodeBadRequest, "limit must be a number from 1 to "+strconv.Itoa(store.MaxLimit)+".")
		}
		f.Limit = n
	}
	entries, err := a.acc.st.Audit(r.Context(), f)
	if err != nil {
		return storeErr(err, "The audit log")
	}
	page := api.AuditPage{Entries: make([]api.AuditEntry, len(entries))}
	for i, e := range entries {
		page.Entries[i] = api.AuditEntry{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target,
			Scope: e.Scope, Granted: e.Granted, Addr: e.Addr, Detail: e.Detail, OK: e.OK}
	}
	if len(entries) == f.Limit {
		page.Next = entries[len(entries)-1].ID
	}
	httperr.WriteJSON(w, http.StatusOK, page)
	return nil
}

func (a *API) rotate(w http.ResponseWriter, r *http.Request, sub access.Identity) error {
	id, err := a.keys.Rotate(r.Context())
	if err != nil {
		return storeErr(err, "The signing keys")
	}
	a.acc.Audit(r.Context(), store.AuditEntry{Actor: sub.Name, Action: AuditKeyRotate, Target: id, OK: true})
	httperr.WriteJSON(w, http.StatusOK, map[string]string{"active": id})
	return nil
}
