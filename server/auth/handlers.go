package auth

import "net/http"

// The account API's handlers, for site's route table. Each checks who may call it (user:
// a signed-in user; admin: an administrator) before anything else.

// ServeUsers serves GET /api/v1/users (admin).
func (a *API) ServeUsers(w http.ResponseWriter, r *http.Request) { a.admin(a.listUsers)(w, r) }

// ServeCreateUser serves POST /api/v1/users (admin).
func (a *API) ServeCreateUser(w http.ResponseWriter, r *http.Request) { a.admin(a.createUser)(w, r) }

// ServeUpdateUser serves PATCH /api/v1/users/{name} (user).
func (a *API) ServeUpdateUser(w http.ResponseWriter, r *http.Request) { a.user(a.updateUser)(w, r) }

// ServeTeams serves GET /api/v1/teams (user).
func (a *API) ServeTeams(w http.ResponseWriter, r *http.Request) { a.user(a.listTeams)(w, r) }

// ServeCreateTeam serves POST /api/v1/teams (user).
func (a *API) ServeCreateTeam(w http.ResponseWriter, r *http.Request) { a.user(a.createTeam)(w, r) }

// ServeTeam serves GET /api/v1/teams/{name} (user).
func (a *API) ServeTeam(w http.ResponseWriter, r *http.Request) { a.user(a.getTeam)(w, r) }

// ServeDeleteTeam serves DELETE /api/v1/teams/{name} (user).
func (a *API) ServeDeleteTeam(w http.ResponseWriter, r *http.Request) { a.user(a.deleteTeam)(w, r) }

// ServeTeamMember serves PUT /api/v1/teams/{name}/members/{user} (user).
func (a *API) ServeTeamMember(w http.ResponseWriter, r *http.Request) { a.user(a.setTeamMember)(w, r) }

// ServeNamespaces serves GET /api/v1/namespaces (user).
func (a *API) ServeNamespaces(w http.ResponseWriter, r *http.Request) { a.user(a.listNamespaces)(w, r) }

// ServeCreateNamespace serves POST /api/v1/namespaces (admin).
func (a *API) ServeCreateNamespace(w http.ResponseWriter, r *http.Request) {
	a.admin(a.createNamespace)(w, r)
}

// ServeNamespace serves GET /api/v1/namespaces/{name} (user).
func (a *API) ServeNamespace(w http.ResponseWriter, r *http.Request) { a.user(a.getNamespace)(w, r) }

// ServeUpdateNamespace serves PATCH /api/v1/namespaces/{name} (user).
func (a *API) ServeUpdateNamespace(w http.ResponseWriter, r *http.Request) {
	a.user(a.updateNamespace)(w, r)
}

// ServeDeleteNamespace serves DELETE /api/v1/namespaces/{name} (admin).
func (a *API) ServeDeleteNamespace(w http.ResponseWriter, r *http.Request) {
	a.admin(a.deleteNamespace)(w, r)
}

// ServeNamespaceMember serves PUT /api/v1/namespaces/{name}/members/{user} (user).
func (a *API) ServeNamespaceMember(w http.ResponseWriter, r *http.Request) {
	a.user(a.setNamespaceMember)(w, r)
}

// ServeRobots serves GET /api/v1/namespaces/{name}/robots (user).
func (a *API) ServeRobots(w http.ResponseWriter, r *http.Request) { a.user(a.listRobots)(w, r) }

// ServeCreateRobot serves POST /api/v1/namespaces/{name}/robots (user).
func (a *API) ServeCreateRobot(w http.ResponseWriter, r *http.Request) { a.user(a.createRobot)(w, r) }

// ServeRevokeRobot serves DELETE /api/v1/namespaces/{name}/robots/{robot} (user).
func (a *API) ServeRevokeRobot(w http.ResponseWriter, r *http.Request) { a.user(a.revokeRobot)(w, r) }

// ServeTokens serves GET /api/v1/tokens (user).
func (a *API) ServeTokens(w http.ResponseWriter, r *http.Request) { a.user(a.listTokens)(w, r) }

// ServeCreateToken serves POST /api/v1/tokens (user).
func (a *API) ServeCreateToken(w http.ResponseWriter, r *http.Request) { a.user(a.createToken)(w, r) }

// ServeRevokeToken serves DELETE /api/v1/tokens/{id} (user).
func (a *API) ServeRevokeToken(w http.ResponseWriter, r *http.Request) { a.user(a.revokeToken)(w, r) }

// ServeAudit serves GET /api/v1/audit (admin).
func (a *API) ServeAudit(w http.ResponseWriter, r *http.Request) { a.admin(a.audit)(w, r) }

// ServeRotateKeys serves POST /api/v1/keys/rotate (admin).
func (a *API) ServeRotateKeys(w http.ResponseWriter, r *http.Request) { a.admin(a.rotate)(w, r) }

// ServeAccess serves GET /api/v1/access: anyone, anonymous too.
func (a *API) ServeAccess(w http.ResponseWriter, r *http.Request) { a.repositoryAccess(w, r) }
