package retention

import (
	"context"
	"net/http"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Authorize is nil when id may manage ns's policies (write: a change).
type Authorize func(ctx context.Context, id access.Identity, ns string, admin, write bool) error

// Routes are the retention API's routes under /api/v1/namespaces/{name}/retention, for the
// namespace's owners and administrators.
func (s *Service) Routes(authorize Authorize) map[string]http.HandlerFunc {
	wrap := func(h func(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			id, ns := access.From(r.Context()), r.PathValue("name")
			err := authorize(r.Context(), id, ns, false, r.Method != http.MethodGet)
			if err == nil {
				err = h(w, r, id, ns)
			}
			if err != nil {
				httperr.Write(w, r, err)
			}
		}
	}
	const p = "/api/v1/namespaces/{name}/retention"
	return map[string]http.HandlerFunc{
		"GET " + p:                   wrap(s.list),
		"POST " + p:                  wrap(s.create),
		"DELETE " + p + "/{id}":      wrap(s.remove),
		"GET " + p + "/{id}/preview": wrap(s.preview),
		"GET " + p + "/{id}/runs":    wrap(s.runs),
	}
}

func (s *Service) list(w http.ResponseWriter, r *http.Request, _ access.Identity, ns string) error {
	out, err := s.Policies(r.Context(), ns)
	if err != nil {
		return err
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"policies": out})
	return nil
}

func (s *Service) create(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	var req api.RetentionPolicy
	if err := httperr.DecodeJSON(w, r, 16<<10, "the policy", &req); err != nil {
		return err
	}
	p, err := s.Create(r.Context(), id.Name, ns, req)
	if err != nil {
		return err
	}
	httperr.WriteJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Service) remove(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	if err := s.Remove(r.Context(), id.Name, ns, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Remove deletes policy id of ns for actor.
func (s *Service) Remove(ctx context.Context, actor, ns, id string) error {
	if err := s.o.Store.DeleteRetentionPolicy(ctx, ns, id); err != nil {
		return storeErr(err)
	}
	s.o.Audit(ctx, store.AuditEntry{Actor: actor, Action: "retention.delete", Target: ns, Detail: id, OK: true})
	return nil
}

// Policies are ns's policies.
func (s *Service) Policies(ctx context.Context, ns string) ([]api.RetentionPolicy, error) {
	ps, err := s.o.Store.RetentionPolicies(ctx, ns)
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]api.RetentionPolicy, 0, len(ps))
	for _, p := range ps {
		out = append(out, policyJSON(p))
	}
	return out, nil
}

// PreviewPolicy is what policy id of ns would delete now.
func (s *Service) PreviewPolicy(ctx context.Context, ns, id string) ([]api.CleanupPlan, error) {
	p, err := s.policy(ctx, ns, id)
	if err != nil {
		return nil, err
	}
	return s.Preview(ctx, p)
}

// policy returns ns's policy id, or 404.
func (s *Service) policy(ctx context.Context, ns, id string) (store.RetentionPolicy, error) {
	ps, err := s.o.Store.RetentionPolicies(ctx, ns)
	if err != nil {
		return store.RetentionPolicy{}, storeErr(err)
	}
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return store.RetentionPolicy{}, storeErr(store.ErrNotFound)
}

func (s *Service) preview(w http.ResponseWriter, r *http.Request, _ access.Identity, ns string) error {
	plans, err := s.PreviewPolicy(r.Context(), ns, r.PathValue("id"))
	if err != nil {
		return err
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"plans": plans})
	return nil
}

func (s *Service) runs(w http.ResponseWriter, r *http.Request, _ access.Identity, ns string) error {
	p, err := s.policy(r.Context(), ns, r.PathValue("id"))
	if err != nil {
		return err
	}
	rs, err := s.o.Store.RetentionRuns(r.Context(), p.ID, 50)
	if err != nil {
		return storeErr(err)
	}
	out := make([]api.RetentionRun, 0, len(rs))
	for _, x := range rs {
		out = append(out, api.RetentionRun{ID: x.ID, Started: x.Started, Ended: x.Ended, Deleted: x.Deleted, Freed: x.Freed, Error: x.Error})
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"runs": out})
	return nil
}
