package auth

import (
	"github.com/berth-registry/berth/server/access"
	"net/http"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// repositoryAccess answers GET /api/v1/access?repository=NAME: what the caller (anyone,
// anonymous included) may do to the repository, the one policy's answer, so the UI shows
// "who may do what" without guessing. Owners and administrators also get the namespace's
// members; others see only their own rights.
func (a *API) repositoryAccess(w http.ResponseWriter, r *http.Request) {
	repo := r.URL.Query().Get("repository")
	if err := registry.ValidateRepository(repo); err != nil {
		httperr.Write(w, r, err)
		return
	}
	sub := access.From(r.Context())
	held, err := a.acc.policy.Decide(r.Context(), sub, repo)
	if err != nil {
		httperr.Write(w, r, storeErr(err, "The account"))
		return
	}
	out := api.RepositoryAccess{Repository: repo, Namespace: NamespaceOf(repo), Actions: held.Names(), Admin: sub.Kind == access.User && sub.Admin}
	if held.Has(Manage) {
		out.Actions = append(out.Actions, "manage")
	}
	ns, known, err := a.acc.st.Namespace(r.Context(), out.Namespace)
	if err != nil {
		httperr.Write(w, r, storeErr(err, "Namespace "+out.Namespace))
		return
	}
	out.Known, out.Public = known, known && ns.Public
	if known && held.Has(Manage) && sub.Kind == access.User {
		if out.Members, err = a.namespaceMembers(r, ns); err != nil {
			httperr.Write(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, out)
}

// namespaceMembers lists who holds a role in ns: its direct members, its owner (a user's
// namespace) and, for a team's namespace, the team's members.
func (a *API) namespaceMembers(r *http.Request, ns store.Namespace) ([]api.AccessMember, error) {
	var out []api.AccessMember
	if ns.Kind == store.NamespaceUser && ns.Owner != "" {
		out = append(out, api.AccessMember{User: ns.Owner, Role: store.RoleOwner, Via: "personal namespace"})
	}
	direct, err := a.acc.st.NamespaceMembers(r.Context(), ns.Name)
	if err != nil {
		return nil, storeErr(err, "Namespace "+ns.Name)
	}
	for _, m := range direct {
		out = append(out, api.AccessMember{User: m.User, Role: m.Role})
	}
	if ns.Kind == store.NamespaceTeam {
		team, err := a.acc.st.TeamMembers(r.Context(), ns.Owner)
		if err != nil {
			return nil, storeErr(err, "Team "+ns.Owner)
		}
		for _, m := range team {
			out = append(out, api.AccessMember{User: m.User, Role: m.Role, Via: "team " + ns.Owner})
		}
	}
	return out, nil
}
