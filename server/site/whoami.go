package site

import (
	"context"
	"net/http"

	apiv1 "github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
)

// whoami answers GET /api/v1/session: who the request's identity is (a session, or a static
// site's Bearer token) and what the UI may offer them. It runs after identify, so a disabled
// user or a revoked token is nobody.
func whoami(s Services) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		httperr.WriteJSON(w, http.StatusOK, sessionOf(s, r.Context()))
	}
}

// sessionOf is the session answer for the principal in ctx; prerendered pages use it too.
func sessionOf(s Services, ctx context.Context) apiv1.Session {
	var out apiv1.Session
	if s.Access != nil {
		out.AccessControl, out.OIDC = true, s.Access.OIDC != nil
	}
	if id := access.From(ctx); id.Kind == access.User {
		out.User, out.Admin = id.Name, id.Admin
	}
	// The operator's allowlist is for those who may start a copy: signed-in users, or
	// anyone when anonymous writes are on.
	if out.User != "" || s.Config.AnonymousWrites {
		out.RemoteRegistries = s.Config.RemoteRegistries
	}
	return out
}
