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

// listings records the tag list requests that reach a registry, with their queries. mode
// changes the registry: "all" ignores n (answers every tag at once), "no link" pages
// without saying so (no Link header), "foreign link" links the next page on another host.
type listings struct {
	mu      sync.Mutex
	queries []string
	mode    string
}

func (l *listings) front(t *testing.T, base string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var self string // the front's own host: a token realm on the registry's host points here
	proxy.ModifyResponse = func(resp *http.Response) error {
		if a := resp.Header.Get("WWW-Authenticate"); a != "" {
			resp.Header.Set("WWW-Authenticate", strings.ReplaceAll(a, u.Host, self))
		}
		switch link := resp.Header.Get("Link"); {
		case link == "":
		case l.mode == "no link":
			resp.Header.Del("Link")
		case l.mode == "foreign link":
			resp.Header.Set("Link", `<http://127.0.0.2:1`+strings.Trim(strings.SplitN(link, ">", 2)[0], "<")+`>; rel="next"`)
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			l.mu.Lock()
			l.queries = append(l.queries, r.URL.RawQuery)
			mode := l.mode
			l.mu.Unlock()
			if mode == "all" {
				r.URL.RawQuery = ""
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	self = strings.TrimPrefix(srv.URL, "http://")
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
// the query) hands that list over too, while one tag without a Link header is not taken
// for the list, and a Link to another host falls back to the whole list. On distribution 3
// (htpasswd and tokens) and 2.8.
func TestAccessProbeReadsOneTag(t *testing.T) {
	users := map[string]string{"alice": "right"}
	for _, reg := range []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"distribution 3", func(t *testing.T) string { return registrytest.Htpasswd(t, users) }},
		{"distribution 3 with tokens", func(t *testing.T) string { return registrytest.Token(t, users) }},
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
				c := registrytest.NewClient(t, registry.Options{URL: front, Auth: auth})
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
			q, err := probe(alice, true)
			if err != nil || len(q) == 0 || q[0] != "n=1" || len(q) > 2 || (len(q) == 2 && q[1] != "") {
				t.Errorf("a caller keeping its list: tag list requests %q (%v); want one tag asked, then the list read unless the answer was all of it", q, err)
			}
			answersAll := len(q) == 1
			// Refused at the list (Basic) or at the token service, before any list.
			if q, err := probe(&authn.Basic{Username: "alice", Password: "wrong"}, true); err == nil || len(q) > 1 || (len(q) == 1 && q[0] != "n=1") {
				t.Errorf("wrong credentials with one tag asked: %q, %v; want a refusal", q, err)
			}
			if q, err := probe(alice, false); err != nil || len(q) != 1 || q[0] != "" {
				t.Errorf("without a kept list: tag list requests %q (%v); want the whole list once, handed over", q, err)
			}
			for _, c := range []struct {
				mode string
				want int // tag list requests: the probe's, and the read's unless handed over
			}{{"all", 1}, {"no link", 2}, {"foreign link", 2}} {
				seen.mode = c.mode
				if answersAll {
					c.want = 1 // handed over whatever the Link header says: there is none
				}
				if q, err := probe(alice, true); err != nil || len(q) != c.want || q[0] != "n=1" {
					t.Errorf("a registry answering %s: tag list requests %q (%v), want %d", c.mode, q, err, c.want)
				}
			}
		})
	}
}
