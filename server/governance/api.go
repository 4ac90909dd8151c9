package governance

import (
	"context"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// The API of namespace policies, under /api/v1/namespaces/{name}/. Who may call what:
//
//	immutable      GET, POST: the namespace's owners and administrators
//	immutable/{id} PATCH (lift, restore), DELETE: administrators
//	quota          GET: owners and administrators; PUT: administrators
//	pull-policy    GET: owners and administrators; PUT: administrators

// maxBody bounds a request body: a few patterns or two limits.
const maxBody = 16 << 10

type handler func(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error

// manage runs h for a signed-in user who may manage the namespace (admin: administrators
// only); others get 401, 403, or 404 for a namespace they cannot see.
func (s *Service) manage(admin bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, ns := access.From(r.Context()), r.PathValue("name")
		if err := s.MayManage(r.Context(), id, ns, admin, r.Method != http.MethodGet); err != nil {
			httperr.Write(w, r, err)
			return
		}
		if err := h(w, r, id, ns); err != nil {
			httperr.Write(w, r, err)
		}
	}
}

// MayManage is nil when id may manage ns's policies (admin: only an administrator may),
// otherwise the error to answer; write refuses read-only tokens.
func (s *Service) MayManage(ctx context.Context, id access.Identity, ns string, admin, write bool) error {
	switch {
	case id.Kind != access.User:
		return httperr.New(api.CodeUnauthorized, "Sign in to manage namespace policies.")
	case write && id.ReadOnly:
		return httperr.New(api.CodeDenied, "A read-only token cannot change anything.")
	}
	// Rights first: whether a namespace exists is for those who may manage it.
	c, err := s.connection()
	if err != nil {
		return err
	}
	if err := c.authz.Authorize(ctx, ns+"/", access.Manage); err != nil {
		return err
	}
	if _, ok, err := s.o.Accounts.Namespace(ctx, ns); err != nil {
		return storeErr(err)
	} else if !ok {
		return httperr.New(api.CodeNotFound, "Namespace "+ns+" does not exist.")
	}
	if admin && !id.Admin {
		return httperr.New(api.CodeDenied, "Only administrators may do this.")
	}
	return nil
}

// Routes are the API's routes, for the one route table in server/site.
func (s *Service) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/{name}/immutable":         s.manage(false, s.listRules),
		"POST /api/v1/namespaces/{name}/immutable":        s.manage(false, s.createRule),
		"PATCH /api/v1/namespaces/{name}/immutable/{id}":  s.manage(true, s.liftRule),
		"DELETE /api/v1/namespaces/{name}/immutable/{id}": s.manage(true, s.deleteRule),
		"GET /api/v1/namespaces/{name}/quota":             s.manage(false, s.getQuota),
		"PUT /api/v1/namespaces/{name}/quota":             s.manage(true, s.setQuota),
		"GET /api/v1/namespaces/{name}/pull-policy":       s.manage(false, s.getPullPolicy),
		"PUT /api/v1/namespaces/{name}/pull-policy":       s.manage(true, s.setPullPolicy),
	}
}

func ruleJSON(r store.ImmutableRule) api.ImmutableRule {
	return api.ImmutableRule{ID: r.ID, Namespace: r.Namespace, Patterns: r.Patterns, Lifted: r.Lifted, CreatedBy: r.CreatedBy, Created: r.Created}
}

func (s *Service) listRules(w http.ResponseWriter, r *http.Request, _ access.Identity, ns string) error {
	rules, err := s.Rules(r.Context(), ns)
	if err != nil {
		return err
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"rules": rules})
	return nil
}

func (s *Service) createRule(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	var req api.ImmutableRuleRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the rule", &req); err != nil {
		return err
	}
	rule, err := s.AddRule(r.Context(), id.Name, ns, req.Patterns)
	if err != nil {
		return err
	}
	httperr.WriteJSON(w, http.StatusCreated, ruleJSON(rule))
	return nil
}

func ruleID(r *http.Request) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || n <= 0 {
		return 0, httperr.New(api.CodeBadRequest, "a rule id is a positive number")
	}
	return n, nil
}

func (s *Service) liftRule(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	n, err := ruleID(r)
	if err != nil {
		return err
	}
	var req api.ImmutableRuleRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the change", &req); err != nil {
		return err
	}
	if req.Lifted == nil {
		return httperr.New(api.CodeBadRequest, "say whether the rule is lifted: {\"lifted\": true}")
	}
	if err := s.LiftRule(r.Context(), id.Name, ns, n, *req.Lifted); err != nil {
		return err
	}
	return s.listRules(w, r, id, ns)
}

func (s *Service) deleteRule(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	n, err := ruleID(r)
	if err != nil {
		return err
	}
	if err := s.DeleteRule(r.Context(), id.Name, ns, n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) getQuota(w http.ResponseWriter, r *http.Request, _ access.Identity, ns string) error {
	q, err := s.Quota(r.Context(), ns)
	if err != nil {
		return err
	}
	httperr.WriteJSON(w, http.StatusOK, q)
	return nil
}

// Quota is namespace's limits with its usage now, walked as Berth itself.
func (s *Service) Quota(ctx context.Context, ns string) (api.Quota, error) {
	q, _, err := s.o.Store.Quota(ctx, ns)
	if err != nil {
		return api.Quota{}, storeErr(err)
	}
	reg, err := s.registry()
	if err != nil {
		return api.Quota{}, err
	}
	u, err := usageOf(ctx, reg, ns)
	if err != nil {
		return api.Quota{}, err
	}
	out := api.Quota{Namespace: ns, StorageLimit: q.StorageLimit, TagLimit: q.TagLimit, Used: u.used, Tags: u.tags, Repositories: u.repositories}
	if !q.Warned.IsZero() {
		out.Warned = &q.Warned
	}
	return out, nil
}

func (s *Service) setQuota(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	var req api.QuotaRequest
	if err := httperr.DecodeJSON(w, r, maxBody, "the quota", &req); err != nil {
		return err
	}
	if err := s.SetQuota(r.Context(), id.Name, ns, req.StorageLimit, req.TagLimit); err != nil {
		return err
	}
	return s.getQuota(w, r, id, ns)
}
