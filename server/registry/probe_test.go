package registry_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// listings records the tag list requests that reach a registry, with their queries;
// dropPageSize makes it a registry that ignores n (answers every tag at once).
type listings struct {
	mu           sync.Mutex
	queries      []string
	dropPageSize bool
}

func (l *listings) front(t *testing.T, base string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			l.mu.Lock()
			l.queries = append(l.queries, r.URL.RawQuery)
			l.mu.Unlock()
			if l.dropPageSize {
				r.URL.RawQuery = ""
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (l *listings) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}

// TestAccessProbeReadsOneTag: for a caller that keeps the repository's tag list
// (WithListKept), the access check asks the registry for one tag (n=1) and still refuses
// wrong credentials; otherwise it reads the whole list and hands it to the read that
// follows; a registry that answers every tag to n=1 (distribution 2.8, or a proxy dropping
// the query) hands that list over too. On distribution 3 and 2.8.
func TestAccessProbeReadsOneTag(t *testing.T) {
	users := map[string]string{"alice": "right"}
	for _, reg := range []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"distribution 3", func(t *testing.T) string { return registrytest.Htpasswd(t, users) }},
		{"distribution 2.8", func(t *testing.T) string {
			return registrytest.Distribution28(t, registrytest.Config28{Htpasswd: users}).URL
		}},
	} {
		t.Run(reg.name, func(t *testing.T) {
			base := reg.start(t)
			alice := &authn.Basic{Username: "alice", Password: "right"}
			for _, tag := range []string{"a", "b", "c"} {
				ref, err := name.ParseReference(strings.TrimPrefix(base, "http://")+"/team/app:"+tag, name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				img, err := random.Image(64, 1)
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.Write(ref, img, remote.WithAuth(alice)); err != nil {
					t.Fatal(err)
				}
			}
			var seen listings
			front := seen.front(t, base)
			probe := func(auth authn.Authenticator, kept bool) ([]string, error) {
				t.Helper()
				c, err := registry.New(registry.Options{URL: front, Auth: auth})
				if err != nil {
					t.Fatal(err)
				}
				ctx := registry.WithRequestScope(t.Context())
				if kept {
					ctx = registry.WithListKept(ctx)
				}
				if err := registry.NewAuthorizer(c, 0).Authorize(ctx, "team/app", access.Pull); err != nil {
					return seen.take(), err
				}
				names, err := c.Tags(ctx, "team/app") // the read that follows the check
				if err != nil || len(names) != 3 {
					t.Fatalf("tags after the check: %v, %v", names, err)
				}
				return seen.take(), nil
			}
			// Distribution 3 pages (the list is read after the check); 2.8 answers every tag
			// to n=1, which is then handed over like a whole list.
			if q, err := probe(alice, true); err != nil || len(q) == 0 || q[0] != "n=1" || len(q) > 2 || (len(q) == 2 && q[1] != "") {
				t.Errorf("a caller keeping its list: tag list requests %q (%v); want one tag asked, then the list read unless the answer was all of it", q, err)
			}
			if q, err := probe(&authn.Basic{Username: "alice", Password: "wrong"}, true); err == nil || len(q) != 1 {
				t.Errorf("wrong credentials with one tag asked: %q, %v; want a refusal", q, err)
			}
			if q, err := probe(alice, false); err != nil || len(q) != 1 || q[0] != "" {
				t.Errorf("without a kept list: tag list requests %q (%v); want the whole list once, handed over", q, err)
			}
			seen.dropPageSize = true
			if q, err := probe(alice, true); err != nil || len(q) != 1 {
				t.Errorf("a registry ignoring n: tag list requests %q (%v); want the probe's whole list handed over", q, err)
			}
		})
	}
}
