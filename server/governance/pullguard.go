package governance

import (
	"context"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// pullCheck is what GuardPulls sets: the pull policies' verdict on a manifest, and which
// requests are Berth's own reads (indexing, scanning, the UI's views), never refused.
type pullCheck struct {
	admit  func(ctx context.Context, repository, digest string) string
	exempt func(r *http.Request) bool
}

// GuardPulls makes PullMiddleware check pulled manifests with admit (nil: no policy),
// except requests exempt says are Berth's own; set while wiring, once the scanner exists.
func (s *Service) GuardPulls(admit func(ctx context.Context, repository, digest string) string, exempt func(r *http.Request) bool) {
	if admit == nil {
		return
	}
	s.pulls.Store(&pullCheck{admit: admit, exempt: exempt})
}

// PullMiddleware refuses, in the registry's error format (403 DENIED naming the policy), a
// manifest GET or HEAD the pull policies refuse, once the registry answered it: requests
// the registry refuses anyway are answered by it, and the manifest's bytes never leave.
func (s *Service) PullMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.pulls.Load()
		repo, ok := pulledManifest(r)
		if c == nil || !ok || (c.exempt != nil && c.exempt(r)) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&admitWriter{ResponseWriter: w, r: r, repo: repo, admit: c.admit}, r)
	})
}

// pulledManifest is the repository of GET or HEAD /v2/<name>/manifests/<ref>.
func pulledManifest(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	i := strings.LastIndex(rest, "/manifests/")
	if !ok || i <= 0 || registry.ValidateRepository(rest[:i]) != nil {
		return "", false
	}
	return rest[:i], true
}

// admitWriter holds back a manifest's answer until its headers say which digest it is,
// then lets it through or answers the refusal instead, dropping the manifest's bytes.
type admitWriter struct {
	http.ResponseWriter
	r       *http.Request
	repo    string
	admit   func(ctx context.Context, repository, digest string) string
	decided bool
	refused bool
}

func (a *admitWriter) WriteHeader(status int) {
	if a.decided {
		return
	}
	a.decided = true
	h := a.Header()
	digest := h.Get("Docker-Content-Digest")
	if status != http.StatusOK || digest == "" {
		a.ResponseWriter.WriteHeader(status)
		return
	}
	msg := a.admit(a.r.Context(), a.repo, digest)
	if msg == "" {
		a.ResponseWriter.WriteHeader(status)
		return
	}
	a.refused = true
	for _, k := range []string{"Docker-Content-Digest", "Etag", "Content-Length", "Content-Type"} {
		h.Del(k)
	}
	httperr.WriteRegistry(a.ResponseWriter, http.StatusForbidden, "DENIED", msg, nil)
}

func (a *admitWriter) Write(b []byte) (int, error) {
	if !a.decided {
		a.WriteHeader(http.StatusOK)
	}
	if a.refused {
		return len(b), nil
	}
	return a.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (a *admitWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }
