// Package replication keeps registry endpoints — registries Berth reaches by name besides the
// one it fronts — and replication rules copying repositories between them, run as River jobs
// on the copy path of server/ops.
package replication

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// endpointName is the grammar of an endpoint's name: it appears in URLs and rule settings.
var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ParseFlag reads one --extra-registry value, name=URL.
func ParseFlag(v string) (api.RegistryEndpoint, error) {
	name, raw, ok := strings.Cut(v, "=")
	e := api.RegistryEndpoint{Name: strings.TrimSpace(name), URL: strings.TrimSpace(raw), Origin: "flag"}
	if !ok {
		return e, fmt.Errorf("--extra-registry %q: want name=URL, e.g. prod=https://registry.example.com", registry.ShownURL(v))
	}
	if err := check(&e); err != nil {
		return e, fmt.Errorf("--extra-registry %s=%q: %s", e.Name, registry.ShownURL(e.URL), registry.Describe(err))
	}
	return e, nil
}

// check validates e's name and URL and normalizes the URL to scheme://host.
func check(e *api.RegistryEndpoint) error {
	if !endpointName.MatchString(e.Name) {
		return httperr.New(api.CodeBadRequest, fmt.Sprintf("%q is not an endpoint name: lower-case letters, digits, '.', '_' and '-', at most 63", clip(e.Name)))
	}
	if e.Name == api.MainRegistry {
		return httperr.New(api.CodeBadRequest, `"main" names the registry Berth fronts`)
	}
	addr, err := registry.ParseAddress(e.URL)
	if err != nil {
		return httperr.New(api.CodeBadRequest, fmt.Sprintf("%q is not a registry URL: want one such as https://registry.example.com", registry.ShownURL(e.URL)))
	}
	e.URL = addr.String()
	if len(e.Repositories) > maxEndpointRepositories {
		return httperr.New(api.CodeBadRequest, fmt.Sprintf("An endpoint lists at most %d repositories.", maxEndpointRepositories))
	}
	for i, r := range e.Repositories {
		e.Repositories[i] = strings.TrimSpace(r)
		if err := registry.ValidateRepository(e.Repositories[i]); err != nil {
			return httperr.New(api.CodeBadRequest, fmt.Sprintf("%q is not a repository name.", clip(r)))
		}
	}
	return nil
}

// maxEndpointRepositories bounds an endpoint's own list of repositories.
const maxEndpointRepositories = 10_000

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// endpoint is an endpoint with what it takes to reach it.
type endpoint struct {
	api.RegistryEndpoint
	password string
}

// endpoints returns every endpoint: the main registry, the flags' and the store's, by name.
func (s *Service) endpoints(ctx context.Context) ([]endpoint, error) {
	out := []endpoint{{RegistryEndpoint: api.RegistryEndpoint{Name: api.MainRegistry, URL: s.opts.Main.Address().String(), Origin: "main"}}}
	for _, f := range s.flags {
		out = append(out, endpoint{RegistryEndpoint: f})
	}
	rows, err := s.st.Endpoints(ctx)
	if err != nil {
		return nil, storeError(err)
	}
	for _, r := range rows {
		e := endpoint{RegistryEndpoint: api.RegistryEndpoint{
			Name: r.Name, URL: r.URL, Username: r.Username, HasPassword: len(r.Secret) > 0,
			CAFile: r.CAFile, Insecure: r.Insecure, NoCatalog: !r.Catalog, Repositories: r.Repositories, Origin: "api",
		}}
		if len(r.Secret) > 0 {
			plain, err := s.sealer.Open("endpoint:"+r.Name, r.Secret)
			if err != nil {
				return nil, httperr.Wrap(api.CodeInternal, "An endpoint's sealed password does not open: is --secret-file the same on every replica?", err)
			}
			e.password = string(plain)
		}
		out = append(out, e)
	}
	return out, nil
}

// endpoint returns the endpoint name, or a 404.
func (s *Service) endpoint(ctx context.Context, name string) (endpoint, error) {
	all, err := s.endpoints(ctx)
	if err != nil {
		return endpoint{}, err
	}
	for _, e := range all {
		if e.Name == name {
			return e, nil
		}
	}
	return endpoint{}, httperr.New(api.CodeNotFound, fmt.Sprintf("No registry endpoint is named %q.", clip(name)))
}

// Allowed reports whether addr (scheme://host) is an endpoint's registry: copies may reach
// it like one of --remote-registries.
func (s *Service) Allowed(ctx context.Context, addr string) bool {
	all, err := s.endpoints(ctx)
	if err != nil {
		return false
	}
	for _, e := range all {
		if e.Name != api.MainRegistry && e.URL == addr {
			return true
		}
	}
	return false
}

// Endpoints lists the endpoints as the API shows them: passwords never leave.
func (s *Service) Endpoints(ctx context.Context) ([]api.RegistryEndpoint, error) {
	all, err := s.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.RegistryEndpoint, len(all))
	for i, e := range all {
		out[i] = e.RegistryEndpoint
		out[i].Password = ""
	}
	return out, nil
}

// AddEndpoint adds or replaces an endpoint, sealing its password with the cluster secret.
// A replacement without a password keeps the one kept, if its URL and username are the same:
// a password never follows its endpoint to another registry.
func (s *Service) AddEndpoint(ctx context.Context, e api.RegistryEndpoint) error {
	if err := check(&e); err != nil {
		return err
	}
	for _, f := range s.flags {
		if f.Name == e.Name {
			return httperr.New(api.CodeConflict, fmt.Sprintf("The endpoint %q comes from --extra-registry; change it there.", e.Name))
		}
	}
	if e.CAFile != "" {
		if _, err := tlsConfig(e.CAFile, false); err != nil {
			return httperr.New(api.CodeBadRequest, err.Error())
		}
	}
	row := store.RegistryEndpoint{Name: e.Name, URL: e.URL, Username: e.Username, CAFile: e.CAFile, Insecure: e.Insecure, Catalog: !e.NoCatalog,
		Repositories: e.Repositories}
	if e.Password != "" {
		row.Secret = s.sealer.Seal("endpoint:"+e.Name, []byte(e.Password))
	} else if old, err := s.endpoint(ctx, e.Name); err == nil && old.URL == e.URL && old.Username == e.Username && old.password != "" {
		row.Secret = s.sealer.Seal("endpoint:"+e.Name, []byte(old.password))
	}
	if err := s.st.PutEndpoint(ctx, row); err != nil {
		return storeError(err)
	}
	s.audit(ctx, "registry.add", e.Name, e.URL)
	return nil
}

// RemoveEndpoint removes an endpoint added through the API or CLI; rules naming it are left
// to fail, saying so, until changed.
func (s *Service) RemoveEndpoint(ctx context.Context, name string) error {
	err := s.st.DeleteEndpoint(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return httperr.New(api.CodeNotFound, fmt.Sprintf("No endpoint added through the API is named %q.", clip(name)))
	}
	if err != nil {
		return storeError(err)
	}
	s.audit(ctx, "registry.remove", name, "")
	return nil
}

// client returns a client reaching e with its own credentials, through the dial guard (only
// its host may be internal) and the replication bandwidth limit.
func (s *Service) client(e endpoint) (*registry.Client, error) {
	if e.Name == api.MainRegistry {
		return s.opts.Main, nil
	}
	return s.dial(e, s.limiter, true)
}

// dial builds a client for e, an endpoint other than main: its own credentials, the dial
// guard letting only its host be internal, lim on response bodies; writes with its
// credentials only when writes is set.
func (s *Service) dial(e endpoint, lim Limiter, writes bool) (*registry.Client, error) {
	addr, err := registry.ParseAddress(e.URL)
	if err != nil {
		return nil, err
	}
	t := registry.NewTransport(s.opts.Timeout, registry.NewDialGuard([]string{addr.Host}, nil))
	if e.CAFile != "" || e.Insecure {
		if t.TLSClientConfig, err = tlsConfig(e.CAFile, e.Insecure); err != nil {
			return nil, httperr.New(api.CodeBadRequest, err.Error())
		}
	}
	var auth authn.Authenticator
	if e.Username != "" {
		auth = &authn.Basic{Username: e.Username, Password: e.password}
	}
	return registry.New(registry.Options{
		URL: e.URL, Auth: auth, ServiceWrites: writes, Transport: Limit(t, lim),
		Timeout: s.opts.Timeout, Concurrency: s.opts.Concurrency * 4,
		NoCatalog: e.NoCatalog,
	})
}

// tlsConfig trusts the PEM bundle at caFile (besides the system's) or, insecure, anything.
func tlsConfig(caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // the administrator's explicit choice
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("the CA file %s cannot be read", caFile)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Test checks that the endpoint answers and takes its credentials, and whether its catalog
// can be listed.
func (s *Service) Test(ctx context.Context, name string) (api.EndpointTest, error) {
	e, err := s.endpoint(ctx, name)
	if err != nil {
		return api.EndpointTest{}, err
	}
	c, err := s.client(e)
	if err != nil {
		return api.EndpointTest{}, err
	}
	var auth authn.Authenticator = authn.Anonymous
	if e.Username != "" {
		auth = &authn.Basic{Username: e.Username, Password: e.password}
	}
	if e.Name != api.MainRegistry {
		if err := c.CheckCredentials(ctx, auth); err != nil {
			return api.EndpointTest{OK: false, Message: registry.Describe(err)}, nil
		}
	}
	out := api.EndpointTest{OK: true, Message: "The registry answers and takes the credentials."}
	_, err = c.HasRepositoryUnder(ctx, "")
	out.Catalog = err == nil
	if err != nil {
		out.Message += " Its catalog cannot be listed (" + registry.Describe(err) + "): rules from it must name their repositories."
	}
	return out, nil
}

// Limit wraps t so that response bodies are read no faster than lim allows (nil: no limit).
func Limit(t http.RoundTripper, lim Limiter) http.RoundTripper {
	if lim == nil {
		return t
	}
	return limited{t, lim}
}
