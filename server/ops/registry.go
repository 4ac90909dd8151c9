// Package ops runs Berth's write operations — delete, copy, retag, cleanup — as jobs with an
// id, a stream of progress events and cancellation, for the API and the berth CLI alike.
package ops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-registry/berth/server/httperr"
)

// Registry is a registry and how to reach it.
type Registry struct {
	// URL is the base URL: http://host:port or https://host.
	URL string
	// Auth is the credentials to use; nil means anonymous.
	Auth authn.Authenticator
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// host splits the URL into host and whether it is plain HTTP.
func (r Registry) host() (string, bool, error) {
	switch {
	case strings.HasPrefix(r.URL, "http://"):
		return strings.TrimRight(strings.TrimPrefix(r.URL, "http://"), "/"), true, nil
	case strings.HasPrefix(r.URL, "https://"):
		return strings.TrimRight(strings.TrimPrefix(r.URL, "https://"), "/"), false, nil
	}
	return "", false, badRequest(fmt.Sprintf("registry URL %q must start with http:// or https://", r.URL))
}

func (r Registry) nameOptions() ([]name.Option, string, error) {
	host, insecure, err := r.host()
	if err != nil {
		return nil, "", err
	}
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	return opts, host, nil
}

// Reference parses repo:tag or repo@digest as a reference in this registry.
func (r Registry) Reference(s string) (name.Reference, error) {
	opts, host, err := r.nameOptions()
	if err != nil {
		return nil, err
	}
	ref, err := name.ParseReference(host+"/"+s, opts...)
	if err != nil || ref.Context().RegistryStr() != host {
		return nil, badRequest(fmt.Sprintf("%q is not a valid reference: want repository:tag or repository@sha256:…", s))
	}
	return ref, nil
}

// Repository parses a repository name in this registry.
func (r Registry) Repository(s string) (name.Repository, error) {
	opts, host, err := r.nameOptions()
	if err != nil {
		return name.Repository{}, err
	}
	repo, err := name.NewRepository(host+"/"+s, opts...)
	if err != nil || repo.RepositoryStr() != s {
		return name.Repository{}, badRequest(fmt.Sprintf("%q is not a valid repository name", s))
	}
	return repo, nil
}

// options are the go-containerregistry options for requests to this registry under ctx.
func (r Registry) options(ctx context.Context) []remote.Option {
	auth := r.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	rt := r.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt), remote.WithUserAgent("berth")}
}

// same reports whether r and o are the same registry.
func (r Registry) same(o Registry) bool {
	return strings.TrimRight(r.URL, "/") == strings.TrimRight(o.URL, "/")
}

func badRequest(msg string) error {
	return httperr.New(http.StatusBadRequest, "INVALID_REQUEST", msg)
}

// explain turns a registry error into a sentence a person can act on.
func explain(err error, what string) error {
	var te *transport.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &te) && hasCode(te, transport.UnsupportedErrorCode), errors.As(err, &te) && te.StatusCode == http.StatusMethodNotAllowed:
		return fmt.Errorf("%s: the registry does not allow deletes (distribution needs storage.delete.enabled: true, REGISTRY_STORAGE_DELETE_ENABLED=true): %w", what, err)
	case errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%s: the registry refused access (sign in as a user allowed to write): %w", what, err)
	case errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: not found in the registry: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func hasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}
