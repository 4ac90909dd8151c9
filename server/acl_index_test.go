package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestAccessControlIndex runs the real server with --access-control and the metadata index
// over a token-auth registry that sends it notifications: two users in their own namespaces,
// a public namespace and an anonymous caller. The index is filled by the notifications (read
// as Berth itself) and every read of it is filtered by the policy: the catalog's rows,
// counts, kind filter and size order, search by a digest and a label all three share, the
// label filter, tag details, manifests, usage and untagged. A restarted Berth on the same
// store then serves a repository's tags with every detail and no manifest request reaching
// the registry.
func TestAccessControlIndex(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAccessControlIndex(t, "") })
	t.Run("postgres", func(t *testing.T) {
		pg := storetest.StartPostgres(t)
		testAccessControlIndex(t, pg.NewDatabase(t))
	})
}

const aclPassword = "a long enough password"

// aclRegistry is the embedded registry in token mode, trusting Berth's keys, with Berth's
// token endpoint on its own listener (as serve mounts it) and its manifest requests counted.
type aclRegistry struct {
	host      string
	manifests atomic.Int64 // GET and HEAD of /manifests/
}

func testAccessControlIndex(t *testing.T, database string) {
	ctx := t.Context()
	dataDir := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "cluster-secret")
	secret := "cluster secret shared by the test and berth"
	eventsFile := filepath.Join(t.TempDir(), "events-secret")
	events := "events secret for the registry's notifications"
	for path, v := range map[string]string{secretFile: secret, eventsFile: events} {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	berthAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := config.Default()
	cfg.Addr, cfg.DataDir, cfg.Database, cfg.WebDir, cfg.LogLevel = berthAddr, dataDir, database, webDir(t), "warn"
	cfg.NoDemo, cfg.SyncInterval = true, 0 // pages come with the requester's data
	cfg.AccessControl, cfg.AnonymousWrites = true, false
	cfg.SecretFile, cfg.EventsSecretFile = secretFile, eventsFile

	// The accounts and keys exist before the registry starts: it needs the certificate
	// bundle, and serves the token endpoint of a Control over the same store and keys.
	st, err := store.Open(ctx, cfg.DatabaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	accounts, err := store.AccountsOf(st)
	if err != nil {
		t.Fatal(err)
	}
	control, err := auth.New(ctx, auth.Options{Store: accounts, Secret: []byte(secret), Issuer: cfg.TokenIssuer, Service: cfg.TokenService, TTL: cfg.TokenTTL})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(control.Accounts.CreateUser(ctx, "test", "admin", aclPassword, true))
	must(control.Accounts.CreateUser(ctx, "test", "alice", aclPassword, false))
	must(control.Accounts.CreateUser(ctx, "test", "bob", aclPassword, false))
	must(control.Accounts.CreateTeam(ctx, "test", "pub", "", "admin", true))
	public := true
	must(control.Accounts.UpdateNamespace(ctx, "test", "pub", &public, nil))
	bundle, err := writeBundle(ctx, cfg, control)
	must(err)

	reg := &aclRegistry{}
	srv := httptest.NewUnstartedServer(nil)
	reg.host = srv.Listener.Addr().String()
	cfg.Registry = "http://" + reg.host
	cfg.TokenRealm = "http://" + reg.host + "/auth/token"
	embeddedReg, err := embedded.New(context.Background(), t.TempDir(),
		embedded.WithTokenAuth(cfg.TokenRealm, cfg.TokenService, cfg.TokenIssuer, bundle),
		embedded.WithNotifications("berth", "http://"+berthAddr+cfg.EventsPath,
			http.Header{"Authorization": {"Bearer " + events}}, 5*time.Second, 100*time.Millisecond))
	must(err)
	mux := http.NewServeMux()
	site.Tokens(mux, control.Tokens, nil)
	inner := embeddedReg.Handler()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			reg.manifests.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() { srv.Close(); _ = embeddedReg.Close() })

	base, stop := runBerth(t, cfg)

	// shared is in alice's, bob's and the public repository; every image but tool's has the
	// label; big makes alice/app the larger of alice's repositories.
	label := map[string]string{"org.example.team": "shared"}
	shared := labeledImage(t, 512, label)
	big := labeledImage(t, 64<<10, label)
	other := labeledImage(t, 1024, label)
	tool := labeledImage(t, 256, nil)
	for _, p := range []struct {
		user, ref string
		img       v1.Image
	}{
		{"alice", "alice/app:1.0", shared}, {"alice", "alice/app:big", big}, {"alice", "alice/tool:1", tool},
		{"bob", "bob/svc:1.0", shared}, {"bob", "bob/svc:2.0", other},
		{"admin", "pub/base:1", shared},
	} {
		r, err := name.ParseReference(reg.host+"/"+p.ref, name.Insecure)
		must(err)
		if err := remote.Write(r, p.img, remote.WithAuth(&authn.Basic{Username: p.user, Password: aclPassword})); err != nil {
			t.Fatalf("push %s as %s: %v", p.ref, p.user, err)
		}
	}
	sharedDigest, _ := shared.Digest()

	// The index fills from the notifications alone: the catalog's facts come only from it.
	all := []string{"alice/app", "alice/tool", "bob/svc", "pub/base"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var page api.RepositoryPage
		code := getAs(t, "admin", base+"/api/v1/repositories", &page)
		described := 0
		for _, r := range page.Repositories {
			if r.Kind == "image" && r.Size > 0 && r.Tags > 0 {
				described++
			}
		}
		if code == 200 && described == len(all) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the index did not describe every pushed repository: %d %+v", code, page)
		}
		time.Sleep(50 * time.Millisecond) // polling for the indexer, not asserting after a sleep
	}

	// The catalog: rows, total, kind filter and size order over what each may pull.
	for _, tc := range []struct {
		user string
		want []string
	}{
		{"alice", []string{"alice/app", "alice/tool", "pub/base"}},
		{"bob", []string{"bob/svc", "pub/base"}},
		{"", []string{"pub/base"}},
		{"admin", all},
	} {
		var page api.RepositoryPage
		if code := getAs(t, tc.user, base+"/api/v1/repositories", &page); code != 200 || page.Total != len(tc.want) || !slices.Equal(repoNames(page), tc.want) {
			t.Errorf("%q: catalog %d total %d %v, want %v", tc.user, code, page.Total, repoNames(page), tc.want)
		}
		if code := getAs(t, tc.user, base+"/api/v1/repositories?kind=image", &page); code != 200 || page.Total != len(tc.want) || !slices.Equal(repoNames(page), tc.want) {
			t.Errorf("%q: images %d total %d %v, want %v", tc.user, code, page.Total, repoNames(page), tc.want)
		}
		if code := getAs(t, tc.user, base+"/api/v1/repositories?kind=chart", &page); code != 200 || page.Total != 0 || len(page.Repositories) != 0 {
			t.Errorf("%q: charts %d total %d %v, want none", tc.user, code, page.Total, repoNames(page))
		}
		if code := getAs(t, tc.user, base+"/api/v1/repositories?sort=-size&limit=1", &page); code != 200 || page.Total != len(tc.want) || len(page.Repositories) != 1 {
			t.Fatalf("%q: by size %d %+v", tc.user, code, page)
		}
		first := page.Repositories[0].Name
		if getAs(t, tc.user, base+"/api/v1/repositories?sort=-size", &page); !sort.SliceIsSorted(page.Repositories, func(i, j int) bool {
			return page.Repositories[i].Size > page.Repositories[j].Size
		}) || !slices.Contains(tc.want, first) || page.Repositories[0].Name != first || !sameSet(repoNames(page), tc.want) {
			t.Errorf("%q: by size %v (first page %s), want %v largest first", tc.user, page.Repositories, first, tc.want)
		}
	}
	var page api.RepositoryPage
	if getAs(t, "alice", base+"/api/v1/repositories?sort=-size", &page); len(page.Repositories) == 0 || page.Repositories[0].Name != "alice/app" {
		t.Errorf("alice's largest repository: %v, want alice/app", repoNames(page))
	}

	// Pages a browser navigates to arrive with the requester's data, and only theirs: the
	// catalog with their rows, a repository of theirs with its tags, someone else's with none.
	otherDigest, _ := other.Digest()
	for _, tc := range []struct {
		user, path  string
		want, never []string
	}{
		{"alice", "/", []string{`data-repo="alice/app"`, `data-repo="pub/base"`}, []string{"bob/svc"}},
		{"bob", "/", []string{`data-repo="bob/svc"`, `data-repo="pub/base"`}, []string{"alice/app", "alice/tool"}},
		{"", "/", []string{`data-repo="pub/base"`}, []string{"alice/app", "bob/svc"}},
		{"bob", "/repositories/bob/svc", []string{`data-tag="2.0"`, otherDigest.Hex[:12]}, nil},
		{"alice", "/repositories/bob/svc", nil, []string{`data-tag="2.0"`, otherDigest.Hex[:12]}},
		{"", "/repositories/bob/svc:2.0", nil, []string{otherDigest.Hex[:12]}},
	} {
		body := pageAs(t, tc.user, base+tc.path)
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%q's page %s lacks %s", tc.user, tc.path, w)
			}
		}
		for _, n := range tc.never {
			if strings.Contains(body, n) {
				t.Errorf("%q's page %s shows %s", tc.user, tc.path, n)
			}
		}
	}

	// Search by the shared digest and by the label: only each caller's own hits.
	for _, q := range []string{sharedDigest.String(), "org.example.team=shared"} {
		for user, want := range map[string][]string{
			"alice": {"alice/app:1.0", "pub/base:1"},
			"bob":   {"bob/svc:1.0", "pub/base:1"},
			"":      {"pub/base:1"},
		} {
			if strings.Contains(q, "=") {
				switch user {
				case "alice":
					want = []string{"alice/app:1.0", "alice/app:big", "pub/base:1"}
				case "bob":
					want = []string{"bob/svc:1.0", "bob/svc:2.0", "pub/base:1"}
				}
			}
			var res api.SearchPage
			code := getAs(t, user, base+"/api/v1/search?q="+url.QueryEscape(q), &res)
			var got []string
			for _, r := range res.Results {
				got = append(got, r.Repository+":"+r.Tag)
			}
			if code != 200 || !sameSet(got, want) {
				t.Errorf("%q searching %s: %d %v, want %v", user, q, code, got, want)
			}
		}
	}

	// The label filter and tag details: one's own, a public one; never the other's.
	labelQ := "&label=" + url.QueryEscape("org.example.team=shared")
	var tags api.TagPage
	if code := getAs(t, "alice", base+"/api/v1/repositories/alice/app/tags?limit=all"+labelQ, &tags); code != 200 || !slices.Equal(namesOf(tags), []string{"1.0", "big"}) {
		t.Errorf("alice's labeled tags: %d %v", code, namesOf(tags))
	}
	if code := getAs(t, "alice", base+"/api/v1/repositories/alice/tool/tags?limit=all"+labelQ, &tags); code != 200 || len(tags.Tags) != 0 {
		t.Errorf("alice/tool has no labeled tag: %d %v", code, namesOf(tags))
	}
	if code := getAs(t, "bob", base+"/api/v1/repositories/pub/base/tags?limit=all"+labelQ, &tags); code != 200 || !slices.Equal(namesOf(tags), []string{"1"}) {
		t.Errorf("bob's view of the public repository: %d %v", code, namesOf(tags))
	}
	for _, tc := range []struct {
		user, path string
		code       int
		errCode    api.Code
	}{
		{"alice", "/repositories/bob/svc/tags?limit=all" + labelQ, 403, api.CodeDenied},
		{"alice", "/repositories/bob/svc/tags?limit=all", 403, api.CodeDenied},
		{"alice", "/repositories/bob/svc/tags?details=false", 403, api.CodeDenied},
		{"alice", "/repositories/bob/nothing/tags?limit=all", 403, api.CodeDenied}, // as for one that exists
		{"bob", "/repositories/alice/app/manifests/" + sharedDigest.String(), 403, api.CodeDenied},
		{"bob", "/repositories/alice/app/usage", 403, api.CodeDenied},
		{"bob", "/repositories/alice/app/untagged", 403, api.CodeDenied},
		{"", "/repositories/alice/app/tags?limit=all", 401, api.CodeUnauthorized},
		{"", "/repositories/alice/app/manifests/1.0", 401, api.CodeUnauthorized},
	} {
		var e api.ErrorBody
		if code := getAs(t, tc.user, base+"/api/v1"+tc.path, &e); code != tc.code || e.Error.Code != tc.errCode {
			t.Errorf("%q GET %s: %d %+v, want %d %s", tc.user, tc.path, code, e, tc.code, tc.errCode)
		}
	}
	var m api.Manifest
	if code := getAs(t, "bob", base+"/api/v1/repositories/bob/svc/manifests/"+sharedDigest.String(), &m); code != 200 || m.Digest != sharedDigest.String() || m.Kind != "image" {
		t.Errorf("bob's own manifest: %d %+v", code, m)
	}
	var before api.TagPage
	if code := getAs(t, "alice", base+"/api/v1/repositories/alice/app/tags?limit=all", &before); code != 200 || len(before.Tags) != 2 {
		t.Fatalf("alice's tags: %d %+v", code, before)
	}

	// A restart on the same store: tags with every detail, no manifest request.
	stop()
	base, _ = runBerth(t, cfg)
	reg.manifests.Store(0)
	for _, tc := range []struct{ user, repo string }{{"alice", "alice/app"}, {"bob", "bob/svc"}} {
		var after api.TagPage
		if code := getAs(t, tc.user, base+"/api/v1/repositories/"+tc.repo+"/tags?limit=all", &after); code != 200 || len(after.Tags) != 2 {
			t.Fatalf("%s after the restart: %d %+v", tc.repo, code, after)
		}
		for i, tag := range after.Tags {
			if tag.Digest == "" || tag.Size == 0 || tag.Created.IsZero() || tag.Kind != "image" || len(tag.Platforms) != 1 || tag.Error != "" {
				t.Errorf("%s:%s after the restart = %+v", tc.repo, tag.Name, tag)
			}
			if tc.repo == "alice/app" && (tag.Name != before.Tags[i].Name || tag.Digest != before.Tags[i].Digest || tag.Size != before.Tags[i].Size) {
				t.Errorf("%s:%s after the restart = %+v, before %+v", tc.repo, tag.Name, tag, before.Tags[i])
			}
		}
	}
	if n := reg.manifests.Load(); n != 0 {
		t.Errorf("the restarted Berth made %d manifest requests, want none", n)
	}
	var e api.ErrorBody
	if code := getAs(t, "bob", base+"/api/v1/repositories/alice/app/tags?limit=all", &e); code != 403 || e.Error.Code != api.CodeDenied {
		t.Errorf("bob reads alice/app after the restart: %d %+v", code, e)
	}
}

// runBerth runs the real server with cfg until the returned stop is called (or the test ends)
// and returns its URL.
func runBerth(t *testing.T, cfg config.Config) (string, func()) {
	t.Helper()
	u, _, stop := runBerthRoot(t, cfg)
	return u, stop
}

// runBerthRoot is runBerth, also returning Berth's root handler (its route table).
func runBerthRoot(t *testing.T, cfg config.Config) (string, *site.Root, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	var root *site.Root
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, func(u string, r *site.Root) { root = r; urls <- u })
	}()
	var stopped atomic.Bool
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case u := <-urls:
		return u, root, stop
	case err := <-done:
		stopped.Store(true)
		t.Fatalf("berth did not start: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("berth did not start in time")
	}
	return "", nil, stop
}

// getAs GETs url as user (Basic credentials; "" is anonymous) and decodes the JSON answer.
func getAs(t *testing.T, user, url string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if user != "" {
		req.SetBasicAuth(user, aclPassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Errorf("GET %s as %q: %d, not JSON: %v", url, user, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// pageAs fetches a page as a browser navigating to it would, signed in as user.
func pageAs(t *testing.T, user, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	if user != "" {
		req.SetBasicAuth(user, aclPassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("page %s as %q: Cache-Control %q, want private, no-store", url, user, cc)
	}
	return string(b)
}

// labeledImage is a random linux/amd64 image of about size bytes with the config labels.
func labeledImage(t *testing.T, size int64, labels map[string]string) v1.Image {
	t.Helper()
	img, err := random.Image(size, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cf.Config.Labels = labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func namesOf(p api.TagPage) []string {
	var out []string
	for _, t := range p.Tags {
		out = append(out, t.Name)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
