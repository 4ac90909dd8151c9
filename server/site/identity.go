package site

import (
	"net/http"
	"net/netip"

	apiv1 "github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// withClient puts the client's address (through the trusted proxies: access.ClientAddr, the
// one parser) into every request's context, for throttles and the audit log.
func withClient(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(access.WithClient(r.Context(), access.ClientAddr(r, trusted))))
	})
}

// identify is the edge every route that acts for someone goes through: the credentials the
// request presents (session, bearer token, Basic) become its one Identity, checked by the
// one Authenticator. Credentials that no longer sign in (wrong, disabled user, revoked
// token) make the request anonymous; a throttled or unanswerable check is answered here
// (429, 503) and goes no further.
func identify(s Services) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var id access.Identity
			if s.Sessions != nil {
				if c, ok := s.Sessions.Credentials(r); ok {
					var err error
					if id, err = s.Authenticator.Identify(r.Context(), c); err != nil {
						if !httperr.Is(err, apiv1.CodeInvalidCredentials) {
							httperr.Write(w, r, err)
							return
						}
						id = access.Identity{}
					}
				}
			}
			// One request, one scope: the authorizer's reads are reused only within it.
			next.ServeHTTP(w, r.WithContext(registry.WithRequestScope(access.With(r.Context(), id))))
		})
	}
}
