package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Audit log actions of webhooks.
const (
	AuditCreate = "webhook.create"
	AuditDelete = "webhook.delete"
	AuditTest   = "webhook.test"
)

// Authorize is nil when id may manage ns's webhooks (ns "": the global ones, administrators
// only); admin asks for an administrator, write refuses read-only tokens.
type Authorize func(ctx context.Context, id access.Identity, ns string, admin, write bool) error

// Routes are the webhooks' API routes, for the one route table in server/site: a
// namespace's under /api/v1/namespaces/{name}/webhooks (its owners and administrators), the
// global ones under /api/v1/webhooks (administrators).
func (s *Service) Routes(authorize Authorize) map[string]http.HandlerFunc {
	out := map[string]http.HandlerFunc{}
	for prefix, global := range map[string]bool{"/api/v1/namespaces/{name}/webhooks": false, "/api/v1/webhooks": true} {
		wrap := func(h handler) http.HandlerFunc { return s.guarded(authorize, global, h) }
		out["GET "+prefix] = wrap(s.list)
		out["POST "+prefix] = wrap(s.create)
		out["DELETE "+prefix+"/{id}"] = wrap(s.remove)
		out["POST "+prefix+"/{id}/test"] = wrap(s.test)
		out["GET "+prefix+"/{id}/deliveries"] = wrap(s.deliveries)
	}
	return out
}

type handler func(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error

func (s *Service) guarded(authorize Authorize, global bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, ns := access.From(r.Context()), r.PathValue("name")
		var err error
		if global {
			ns = ""
			switch {
			case id.Kind != access.User:
				err = httperr.New(api.CodeUnauthorized, "Sign in to manage webhooks.")
			case !id.Admin || (id.ReadOnly && r.Method != http.MethodGet):
				err = httperr.New(api.CodeDenied, "Only administrators manage global webhooks.")
			}
		} else {
			err = authorize(r.Context(), id, ns, false, r.Method != http.MethodGet)
		}
		if err == nil {
			err = h(w, r, id, ns)
		}
		if err != nil {
			httperr.Write(w, r, err)
		}
	}
}

func webhookJSON(h store.Webhook) api.Webhook {
	return api.Webhook{ID: h.ID, Namespace: h.Namespace, URL: h.URL, Events: h.Events, Format: h.Format, CreatedBy: h.CreatedBy, Created: h.Created}
}

func storeErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return httperr.New(api.CodeNotFound, "There is no such webhook here.")
	}
	return httperr.Wrap(api.CodeStoreUnavailable, "The webhook store failed; try again.", err)
}

func (s *Service) list(w http.ResponseWriter, r *http.Request, _ access.Identity, ns string) error {
	hooks, err := s.o.Store.Webhooks(r.Context(), ns)
	if err != nil {
		return storeErr(err)
	}
	out := make([]api.Webhook, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, webhookJSON(h))
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

// Create checks and stores a webhook, answering it with its secret (shown this once).
func (s *Service) Create(ctx context.Context, actor, ns string, req api.WebhookRequest) (api.WebhookCreated, error) {
	if err := s.allowed(req.URL); err != nil {
		return api.WebhookCreated{}, err
	}
	if len(req.Events) == 0 {
		return api.WebhookCreated{}, httperr.New(api.CodeBadRequest, "a webhook needs events: "+strings.Join(EventTypes, ", "))
	}
	for _, e := range req.Events {
		if !slices.Contains(EventTypes, e) {
			return api.WebhookCreated{}, httperr.New(api.CodeBadRequest, fmt.Sprintf("%q is not an event type: %s", e, strings.Join(EventTypes, ", ")))
		}
	}
	if req.Format == "" {
		req.Format = FormatJSON
	}
	if !slices.Contains(Formats, req.Format) {
		return api.WebhookCreated{}, httperr.New(api.CodeBadRequest, "format is one of "+strings.Join(Formats, ", "))
	}
	secret := req.Secret
	if secret == "" {
		secret = newID() + newID()
	} else if len(secret) < 16 || len(secret) > 256 {
		return api.WebhookCreated{}, httperr.New(api.CodeBadRequest, "a webhook secret has 16 to 256 characters")
	}
	h := store.Webhook{ID: newID(), Namespace: ns, URL: req.URL, Events: slices.Compact(slices.Sorted(slices.Values(req.Events))), Format: req.Format, CreatedBy: actor}
	h.Secret = s.sealer.Seal(h.ID, []byte(secret))
	if err := s.o.Store.AddWebhook(ctx, h); err != nil {
		return api.WebhookCreated{}, storeErr(err)
	}
	s.o.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditCreate, Target: scope(ns), Detail: h.ID + " " + shownURL(req.URL) + " " + strings.Join(h.Events, ","), OK: true})
	out := api.WebhookCreated{Webhook: webhookJSON(h)}
	if req.Secret == "" {
		out.Secret = secret
	}
	return out, nil
}

// scope names a webhook's scope in the audit log.
func scope(ns string) string {
	if ns == "" {
		return "(global)"
	}
	return ns
}

func (s *Service) create(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	var req api.WebhookRequest
	if err := httperr.DecodeJSON(w, r, 16<<10, "the webhook", &req); err != nil {
		return err
	}
	out, err := s.Create(r.Context(), id.Name, ns, req)
	if err != nil {
		return err
	}
	httperr.WriteJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Service) remove(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	if err := s.Remove(r.Context(), id.Name, ns, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Remove deletes webhook id of ns for actor.
func (s *Service) Remove(ctx context.Context, actor, ns, id string) error {
	if err := s.o.Store.DeleteWebhook(ctx, ns, id); err != nil {
		return storeErr(err)
	}
	s.o.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditDelete, Target: scope(ns), Detail: id, OK: true})
	return nil
}

// own returns the webhook id of ns, or 404.
func (s *Service) own(ctx context.Context, ns, id string) (store.Webhook, error) {
	h, ok, err := s.o.Store.Webhook(ctx, id)
	if err != nil {
		return h, storeErr(err)
	}
	if !ok || h.Namespace != ns {
		return h, storeErr(store.ErrNotFound)
	}
	return h, nil
}

func (s *Service) test(w http.ResponseWriter, r *http.Request, id access.Identity, ns string) error {
	h, err := s.own(r.Context(), ns, r.PathValue("id"))
	if err != nil {
		return err
	}
	if s.insert == nil {
		return httperr.New(api.CodeNotAvailable, "Webhook deliveries are not running on this Berth.")
	}
	ev := Event{ID: newID(), Type: EventTest, Namespace: ns, Actor: id.Name, Message: "A test delivery from Berth."}
	s.enqueue(r.Context(), h.ID, ev)
	s.o.Audit(r.Context(), store.AuditEntry{Actor: id.Name, Action: AuditTest, Target: scope(ns), Detail: h.ID, OK: true})
	httperr.WriteJSON(w, http.StatusAccepted, map[string]string{"event": ev.ID})
	return nil
}

func (s *Service) deliveries(w http.ResponseWriter, r *http.Request, _ access.Identity, ns string) error {
	h, err := s.own(r.Context(), ns, r.PathValue("id"))
	if err != nil {
		return err
	}
	ds, err := s.o.Store.Deliveries(r.Context(), h.ID, 100)
	if err != nil {
		return storeErr(err)
	}
	out := make([]api.Delivery, 0, len(ds))
	for _, d := range ds {
		out = append(out, api.Delivery{ID: d.ID, Event: d.Event, EventType: d.EventType, Attempt: d.Attempt, Status: d.Status, Error: d.Error, Millis: d.Duration.Milliseconds(), Time: d.Time})
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": out})
	return nil
}

// shownURL is a target as the audit log keeps it: scheme and host. Chat webhooks (Slack's)
// carry their secret in the path.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
