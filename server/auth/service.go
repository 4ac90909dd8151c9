package auth

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// ServiceSubject is the name Berth's own tokens carry.
const ServiceSubject = "berth"

// ServiceTransport carries Berth's own registry requests (the catalog behind the filtered
// repository list, the reconciliation sync, demo seeding) with tokens Berth mints for
// itself: each request gets a token for exactly the scope its path needs, with every action,
// signed in process, so no password exists for Berth's service account at all. It must
// never carry requests on anyone else's behalf (the /v2 proxy uses the plain transport).
type ServiceTransport struct {
	iss   *Issuer
	inner http.RoundTripper

	mu     sync.Mutex
	tokens map[string]serviceToken
}

type serviceToken struct {
	raw     string
	renewAt time.Time
}

// NewServiceTransport returns a transport minting Berth's tokens with iss over inner.
func NewServiceTransport(iss *Issuer, inner http.RoundTripper) *ServiceTransport {
	return &ServiceTransport{iss: iss, inner: inner, tokens: map[string]serviceToken{}}
}

// RoundTrip implements http.RoundTripper.
func (t *ServiceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	access := serviceScope(r)
	key := FormatScopes(access)
	now := t.iss.now()
	t.mu.Lock()
	tok, ok := t.tokens[key]
	t.mu.Unlock()
	if !ok || now.After(tok.renewAt) {
		issued, err := t.iss.Issue(r.Context(), ServiceSubject, access)
		if err != nil {
			return nil, err
		}
		tok = serviceToken{raw: issued.Raw, renewAt: now.Add(issued.ExpiresIn / 2)}
		t.mu.Lock()
		if len(t.tokens) > 10_000 {
			clear(t.tokens)
		}
		t.tokens[key] = tok
		t.mu.Unlock()
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok.raw)
	MarkInternal(r.Header) // internal.go
	return t.inner.RoundTrip(r)
}

// serviceScope is the scope a registry request's path needs: the catalog, or every action on
// the repository it names (and pull on a cross-repository mount's source).
func serviceScope(r *http.Request) []Access {
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	if path == r.URL.Path || path == "" {
		return nil // /v2/ itself needs a valid token, no access
	}
	if path == "_catalog" {
		return []Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}
	}
	// The name ends where the last endpoint marker begins: names may contain "blobs" or
	// "tags" as components, references and upload ids never contain a slash.
	end := -1
	for _, marker := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(path, marker); i > end {
			end = i
		}
	}
	if end <= 0 {
		return nil
	}
	all := []string{"pull", "push", "delete"}
	access := []Access{{Type: "repository", Name: path[:end], Actions: all}}
	if from := r.URL.Query().Get("from"); from != "" && from != path[:end] {
		access = append(access, Access{Type: "repository", Name: from, Actions: []string{"pull"}})
	}
	return access
}
