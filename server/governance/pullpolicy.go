package governance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/scan"
	"github.com/berth-registry/berth/server/store"
)

// AuditPullPolicySet is the audit action of a pull policy's change.
const AuditPullPolicySet = "pull-policy.set"

// PullPolicy is ns's pull policy, or the global default (Options.GlobalPull) when it has none.
func (s *Service) PullPolicy(ctx context.Context, ns string) (api.PullPolicy, error) {
	if s.o.Pulls == nil {
		return api.PullPolicy{}, httperr.New(api.CodeStoreUnavailable, "This store keeps no pull policies.")
	}
	p, ok, err := s.o.Pulls.PullPolicy(ctx, ns)
	if err != nil {
		return api.PullPolicy{}, storeErr(err)
	}
	if !ok {
		g := s.o.GlobalPull
		return api.PullPolicy{Namespace: ns, Severity: g.Severity, Signed: g.Signed, Keys: g.Keys, Global: true}, nil
	}
	return api.PullPolicy{Namespace: ns, Severity: p.Severity, Signed: p.Signed, Keys: p.Keys, UpdatedBy: p.UpdatedBy, Updated: &p.Updated}, nil
}

// SetPullPolicy replaces ns's pull policy (no severity and not signed removes it), checking
// the severity's name and that the keys are PEM public keys.
func (s *Service) SetPullPolicy(ctx context.Context, actor, ns string, req api.PullPolicyRequest) error {
	if s.o.Pulls == nil {
		return httperr.New(api.CodeStoreUnavailable, "This store keeps no pull policies.")
	}
	req.Severity = strings.ToLower(strings.TrimSpace(req.Severity))
	if req.Severity != "" && scan.Rank(req.Severity) == 0 {
		return httperr.New(api.CodeBadRequest, "The severity is one of critical, high, medium or low (or empty for none).")
	}
	if len(req.Keys) > api.MaxPolicyKeys {
		return httperr.New(api.CodeTooLarge, fmt.Sprintf("The keys are larger than %d KiB.", api.MaxPolicyKeys>>10))
	}
	keys, err := scan.ParseKeys(req.Keys)
	if err != nil {
		return httperr.New(api.CodeBadRequest, "The keys are PEM public keys (cosign.pub): "+err.Error()+".")
	}
	if len(keys) > 0 && !req.Signed {
		return httperr.New(api.CodeBadRequest, "Keys are only used when a signature is required: set signed too, or leave the keys out.")
	}
	p := store.PullPolicy{Namespace: ns, Severity: req.Severity, Signed: req.Signed, Keys: strings.TrimSpace(req.Keys), UpdatedBy: actor, Updated: s.o.Now()}
	if err := s.o.Pulls.SetPullPolicy(ctx, p); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return httperr.New(api.CodeNotFound, "Namespace "+ns+" does not exist.")
		}
		return storeErr(err)
	}
	s.audit(ctx, actor, AuditPullPolicySet, ns, fmt.Sprintf("severity=%q signed=%v keys=%d", p.Severity, p.Signed, len(keys)))
	return nil
}

// LookupPull is the namespace's pull policy of a repository, for scan.Policies.Lookup.
func (s *Service) LookupPull(ctx context.Context, repository string) (store.PullPolicy, bool, error) {
	ns := auth.NamespaceOf(repository)
	if ns == "" || s.o.Pulls == nil {
		return store.PullPolicy{}, false, nil
	}
	return s.o.Pulls.PullPolicy(ctx, ns)
}

func (s *Service) getPullPolicy(w http.ResponseWriter, r *http.Request, _ access.Identity, ns string) error {
	p, err := s.PullPolicy(r.Context(), ns)
	if err != nil {
		return err
	}
	httperr.WriteJSON(w, http.StatusOK, p)
	return nil
}

func (s *Service) setPullPolicy(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	var req api.PullPolicyRequest
	if err := httperr.DecodeJSON(w, r, api.MaxPolicyKeys+maxBody, "the pull policy", &req); err != nil {
		return err
	}
	if err := s.SetPullPolicy(r.Context(), id.Name, ns, req); err != nil {
		return err
	}
	return s.getPullPolicy(w, r, id, ns)
}
