package replication

import (
	"net/http"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
)

// maxBody bounds a posted endpoint or rule.
const maxBody = 64 << 10

// Routes lists the API's routes (pattern → handler) for site's route table: every one is
// for administrators only.
func (s *Service) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/registries":              s.serve(s.listEndpoints),
		"POST /api/v1/registries":             s.serve(s.addEndpoint),
		"DELETE /api/v1/registries/{name}":    s.serve(s.removeEndpoint),
		"POST /api/v1/registries/{name}/test": s.serve(s.testEndpoint),
		"GET /api/v1/replications":            s.serve(s.listRules),
		"POST /api/v1/replications":           s.serve(s.createRule),
		"GET /api/v1/replications/{id}":       s.serve(s.getRule),
		"PUT /api/v1/replications/{id}":       s.serve(s.updateRule),
		"DELETE /api/v1/replications/{id}":    s.serve(s.deleteRule),
		"POST /api/v1/replications/{id}/run":  s.serve(s.runRule),
		"GET /api/v1/replications/{id}/runs":  s.serve(s.listRuns),
	}
}

// serve answers h's value as JSON (status 200, or what h says), an error as the API's error.
func (s *Service) serve(h func(w http.ResponseWriter, r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := admin(r.Context()); err != nil {
			httperr.Write(w, r, err)
			return
		}
		if access.From(r.Context()).ReadOnly && r.Method != http.MethodGet {
			// A leaked read-only token of an administrator reads; it never adds an endpoint
			// or runs a rule that writes with Berth's rights.
			httperr.Write(w, r, httperr.New(api.CodeDenied, "A read-only token cannot change registry endpoints or replication rules, nor run them."))
			return
		}
		status, v, err := h(w, r)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		httperr.WriteJSON(w, status, v)
	}
}

func (s *Service) listEndpoints(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	out, err := s.Endpoints(ctx)
	return http.StatusOK, out, err
}

func (s *Service) addEndpoint(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	var e api.RegistryEndpoint
	if err := httperr.DecodeJSON(w, r, maxBody, "the endpoint", &e); err != nil {
		return 0, nil, err
	}
	if err := s.AddEndpoint(ctx, e); err != nil {
		return 0, nil, err
	}
	out, err := s.endpoint(ctx, e.Name)
	out.Password = ""
	return http.StatusCreated, out.RegistryEndpoint, err
}

func (s *Service) removeEndpoint(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	return http.StatusNoContent, nil, s.RemoveEndpoint(ctx, r.PathValue("name"))
}

func (s *Service) testEndpoint(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	out, err := s.Test(ctx, r.PathValue("name"))
	return http.StatusOK, out, err
}

func (s *Service) listRules(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	out, err := s.Rules(ctx)
	return http.StatusOK, out, err
}

func (s *Service) getRule(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	out, err := s.Rule(ctx, r.PathValue("id"))
	return http.StatusOK, out, err
}

func (s *Service) createRule(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	var rule api.ReplicationRule
	if err := httperr.DecodeJSON(w, r, maxBody, "the rule", &rule); err != nil {
		return 0, nil, err
	}
	rule.ID = ""
	out, err := s.SaveRule(ctx, rule)
	return http.StatusCreated, out, err
}

func (s *Service) updateRule(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	old, err := s.Rule(ctx, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	var rule api.ReplicationRule
	if err := httperr.DecodeJSON(w, r, maxBody, "the rule", &rule); err != nil {
		return 0, nil, err
	}
	rule.ID = old.ID
	out, err := s.SaveRule(ctx, rule)
	return http.StatusOK, out, err
}

func (s *Service) deleteRule(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	return http.StatusNoContent, nil, s.DeleteRule(ctx, r.PathValue("id"))
}

func (s *Service) runRule(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	dry := r.URL.Query().Get("dry_run")
	out, err := s.Start(ctx, r.PathValue("id"), dry == "1" || dry == "true")
	return http.StatusAccepted, out, err
}

func (s *Service) listRuns(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx := r.Context()
	out, err := s.Runs(ctx, r.PathValue("id"))
	return http.StatusOK, out, err
}
