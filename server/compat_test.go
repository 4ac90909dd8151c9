package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registrytest"
)

const compatPassword = "compat suite password"

// compatTarget is one registry of the compatibility suite, as Berth is pointed at it.
type compatTarget struct {
	name  string
	start func(t *testing.T, users map[string]string) registrytest.Registry
	// refuse, when set, is what a proxy in front of the registry answers /v2/_catalog with,
	// as GitLab, GHCR and Harbor (to non-administrators) do.
	refuse int
	// placeholder says the registry cannot delete a tag alone (distribution 2.x).
	placeholder bool
}

func start28(t *testing.T, users map[string]string) registrytest.Registry {
	return registrytest.Distribution28(t, registrytest.Config28{Htpasswd: users})
}

func start3(t *testing.T, users map[string]string) registrytest.Registry {
	return registrytest.Distribution3(t, embedded.WithHtpasswd(registrytest.HtpasswdFile(t, users)))
}

func start28Token(t *testing.T, users map[string]string) registrytest.Registry {
	tokens := registrytest.TokenService(t, users)
	return registrytest.Distribution28(t, registrytest.Config28{Token: &tokens})
}

func start3Token(t *testing.T, users map[string]string) registrytest.Registry {
	tokens := registrytest.TokenService(t, users)
	return registrytest.Distribution3(t, embedded.WithTokenAuth(tokens.Realm, tokens.Service, tokens.Issuer, tokens.Bundle))
}

// TestCompatibility runs the same browse, delete (tag, manifest, whole repository), copy,
// cancel and import through Berth's API against distribution 2.8 (Debian's docker-registry,
// a process of its own) and distribution 3 (embedded), behind htpasswd and token auth, and
// behind a proxy refusing their catalog.
func TestCompatibility(t *testing.T) {
	for _, tc := range []compatTarget{
		{name: "distribution-2.8", start: start28, placeholder: true},
		{name: "distribution-3", start: start3},
		{name: "distribution-2.8-catalog-401", start: start28, refuse: http.StatusUnauthorized, placeholder: true},
		{name: "distribution-3-catalog-404", start: start3, refuse: http.StatusNotFound},
		{name: "distribution-2.8-token", start: start28Token, placeholder: true},
		{name: "distribution-3-token-catalog-403", start: start3Token, refuse: http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) { runCompat(t, tc) })
	}
}

// compat is one run of the suite: the registry, Berth in front of it, and a slow source.
type compat struct {
	tc   compatTarget
	reg  registrytest.Registry
	base string // Berth
	src  string // an open registry serving blobs slowly, for cancels
	auth authn.Authenticator
}

func runCompat(t *testing.T, tc compatTarget) {
	users := map[string]string{"berth": compatPassword}
	c := &compat{tc: tc, reg: tc.start(t, users), auth: &authn.Basic{Username: "berth", Password: compatPassword}}
	c.src = slowSource(t)
	upstream := c.reg.URL
	if tc.refuse != 0 {
		upstream = registrytest.RefuseCatalog(t, c.reg.URL, tc.refuse)
	}
	d1 := c.push(t, "team/app", 1, "v1", "v1-alias")
	d2 := c.push(t, "team/app", 2, "v2")
	c.push(t, "team/other", 3, "latest")
	c.base = c.startBerth(t, upstream)

	c.browse(t, d1)
	c.copyAndDelete(t, d1, d2)
	c.cancel(t)
	c.importTar(t)
}

// push writes a small image under tags straight to the registry and returns its digest.
func (c *compat) push(t *testing.T, repo string, seed int64, tags ...string) v1.Hash {
	t.Helper()
	img, err := random.Image(1024+seed, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if err := remote.Write(c.ref(t, repo+":"+tag), img, remote.WithAuth(c.auth)); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := img.Digest()
	return d
}

func (c *compat) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(c.reg.Host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// head returns the digest ref has in the registry, "" when it has none.
func (c *compat) head(t *testing.T, ref string) string {
	t.Helper()
	d, err := remote.Head(c.ref(t, ref), remote.WithAuth(c.auth))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// startBerth runs Berth in front of upstream with service credentials, writes allowed
// without sign-in, the slow source as a remote registry, and team/app as the operator's list.
func (c *compat) startBerth(t *testing.T, upstream string) string {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "registry-password")
	if err := os.WriteFile(pwFile, []byte(compatPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Addr, cfg.EmbeddedAddr, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", "off", t.TempDir(), "warn"
	cfg.Registry, cfg.RegistryUsername, cfg.RegistryPasswordFile = upstream, "berth", pwFile
	cfg.NoDemo, cfg.SyncInterval, cfg.AnonymousWrites = true, 0, true
	cfg.RemoteRegistries = []string{c.src}
	cfg.Repositories = []string{"team/app"}
	base, _ := runBerth(t, cfg)
	return base
}

// repositories answers Berth's catalog: the names and whether the registry refused its own.
func (c *compat) repositories(t *testing.T) ([]string, bool) {
	t.Helper()
	var page api.RepositoryPage
	if code := apiAs(t, c.base, "GET", "/api/v1/repositories?limit=100", "", "", nil, &page); code != 200 {
		t.Fatalf("repositories: %d", code)
	}
	var names []string
	for _, r := range page.Repositories {
		names = append(names, r.Name)
	}
	return names, page.CatalogRefused
}

// waitListed waits until Berth's catalog lists repo.
func (c *compat) waitListed(t *testing.T, repo string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		names, _ := c.repositories(t)
		if slices.Contains(names, repo) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catalog never listed %s: %v", repo, names)
		}
		time.Sleep(50 * time.Millisecond) // polling for the condition
	}
}

// browse checks the catalog, a tag page and a manifest.
func (c *compat) browse(t *testing.T, d1 v1.Hash) {
	t.Helper()
	names, refused := c.repositories(t)
	if refused != (c.tc.refuse != 0) {
		t.Errorf("catalogRefused = %v with the catalog answering %d", refused, c.tc.refuse)
	}
	if c.tc.refuse != 0 {
		// The operator's list only, until team/other is opened by name.
		if !slices.Equal(names, []string{"team/app"}) {
			t.Errorf("catalog of a registry refusing its own: %v, want [team/app]", names)
		}
	} else if !slices.Contains(names, "team/app") || !slices.Contains(names, "team/other") {
		t.Errorf("catalog: %v", names)
	}
	var tags api.TagPage
	if code := apiAs(t, c.base, "GET", "/api/v1/repositories/team/other/tags?limit=all", "", "", nil, &tags); code != 200 || len(tags.Tags) != 1 {
		t.Fatalf("tags of team/other: %d %+v", code, tags)
	}
	c.waitListed(t, "team/other") // opened by name
	tags = api.TagPage{}
	if code := apiAs(t, c.base, "GET", "/api/v1/repositories/team/app/tags?limit=all", "", "", nil, &tags); code != 200 {
		t.Fatalf("tags of team/app: %d", code)
	}
	got := map[string]string{}
	for _, tg := range tags.Tags {
		got[tg.Name] = tg.Digest
		if tg.Size == 0 || tg.Error != "" {
			t.Errorf("tag %s without details: %+v", tg.Name, tg)
		}
	}
	if len(got) != 3 || got["v1"] != d1.String() || got["v1-alias"] != d1.String() {
		t.Errorf("tags of team/app: %v", got)
	}
	var m api.Manifest
	if code := apiAs(t, c.base, "GET", "/api/v1/repositories/team/app/manifests/v1", "", "", nil, &m); code != 200 || m.Digest != d1.String() || m.Image == nil {
		t.Errorf("manifest of team/app:v1: %d %s", code, m.Digest)
	}
}

// job starts req and waits for it to end; it returns the job as it ended.
func (c *compat) job(t *testing.T, req api.JobRequest) api.Job {
	t.Helper()
	var started struct{ ID string }
	if code := apiAs(t, c.base, "POST", "/api/v1/jobs", "", "", req, &started); code != http.StatusAccepted {
		t.Fatalf("start %s: %d", req.Kind, code)
	}
	return c.waitJob(t, started.ID, func(api.Job) bool { return false })
}

// waitJob polls job id until it ends or until stop says so, and returns it then.
func (c *compat) waitJob(t *testing.T, id string, stop func(api.Job) bool) api.Job {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var j api.Job
		apiAs(t, c.base, "GET", "/api/v1/jobs/"+id, "", "", nil, &j)
		if (j.State != "" && j.State != api.JobRunning) || stop(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not end: %+v", id, j)
		}
		time.Sleep(50 * time.Millisecond) // polling for the end
	}
}

// copyAndDelete copies within the registry, then deletes a tag alone, a manifest and a
// whole repository.
func (c *compat) copyAndDelete(t *testing.T, d1, d2 v1.Hash) {
	t.Helper()
	if j := c.job(t, api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1", Destination: "team/copy:v1"}); j.State != api.JobSucceeded {
		t.Fatalf("copy: %s %s", j.State, j.Error)
	}
	if got := c.head(t, "team/copy:v1"); got != d1.String() {
		t.Fatalf("team/copy:v1 after the copy: %q", got)
	}
	c.waitListed(t, "team/copy") // written through Berth

	j := c.job(t, api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{"v1"}})
	if j.State != api.JobSucceeded {
		t.Fatalf("delete tag v1: %s %s", j.State, j.Error)
	}
	if c.head(t, "team/app:v1") != "" || c.head(t, "team/app:v1-alias") != d1.String() {
		t.Errorf("after deleting tag v1: v1 %q, v1-alias %q", c.head(t, "team/app:v1"), c.head(t, "team/app:v1-alias"))
	}
	if noted := j.Result != nil && strings.Contains(j.Result.Note, "placeholder"); noted != c.tc.placeholder {
		t.Errorf("the delete's note: %+v, want a placeholder note: %v", j.Result, c.tc.placeholder)
	}
	if j := c.job(t, api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{d2.String()}}); j.State != api.JobSucceeded || c.head(t, "team/app:v2") != "" {
		t.Errorf("delete manifest %s: %s %s", d2, j.State, j.Error)
	}
	// The whole repository: every tag's manifest, as the UI's "Delete all N tags" does.
	if j := c.job(t, api.JobRequest{Kind: api.JobDelete, Repository: "team/copy", References: []string{d1.String()}}); j.State != api.JobSucceeded {
		t.Errorf("delete team/copy: %s %s", j.State, j.Error)
	}
	var tags api.TagPage
	code := apiAs(t, c.base, "GET", "/api/v1/repositories/team/copy/tags?limit=all", "", "", nil, &tags)
	if (code != 200 && code != 404) || len(tags.Tags) != 0 || c.head(t, "team/copy:v1") != "" {
		t.Errorf("team/copy after deleting it all: %d %+v", code, tags.Tags)
	}
}

// cancel starts a copy of a large image from the slow source, cancels it mid-upload, and
// checks that no tag and no upload session is left.
func (c *compat) cancel(t *testing.T) {
	t.Helper()
	big, err := random.Layer(48<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, big)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := name.ParseReference(strings.TrimPrefix(c.src, "http://")+"/big/image:v1", name.Insecure)
	if err := remote.Write(src, img); err != nil {
		t.Fatal(err)
	}
	req := api.JobRequest{Kind: api.JobCopy, Source: "big/image:v1", SourceRegistry: c.src, Destination: "big/image:v1"}
	var started struct{ ID string }
	if code := apiAs(t, c.base, "POST", "/api/v1/jobs", "", "", req, &started); code != http.StatusAccepted {
		t.Fatalf("start the large copy: %d", code)
	}
	j := c.waitJob(t, started.ID, func(j api.Job) bool { return j.Done > 4<<20 })
	if j.State != api.JobRunning {
		t.Fatalf("the large copy ended (%s %s) before it could be cancelled", j.State, j.Error)
	}
	if code := apiAs(t, c.base, "DELETE", "/api/v1/jobs/"+started.ID, "", "", nil, nil); code != http.StatusAccepted {
		t.Fatalf("cancel: %d", code)
	}
	if j := c.waitJob(t, started.ID, func(api.Job) bool { return false }); j.State != api.JobCancelled {
		t.Fatalf("the cancelled copy ended %s (%s)", j.State, j.Error)
	}
	if got := c.head(t, "big/image:v1"); got != "" {
		t.Errorf("the cancelled copy left its tag (%s)", got)
	}
	if left := c.reg.UploadSessions(t); len(left) > 0 {
		t.Errorf("upload sessions left after the cancel: %v", left)
	}
}

// importTar uploads a docker save-style tarball and checks the tag it was pushed under.
func (c *compat) importTar(t *testing.T) {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.com/app:1.0")
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", c.base+"/api/v1/imports?repository=team/imported&tag=v1", &buf)
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var started struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&started)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("import: %d", resp.StatusCode)
	}
	if j := c.waitJob(t, started.ID, func(api.Job) bool { return false }); j.State != api.JobSucceeded {
		t.Fatalf("import job: %s %s", j.State, j.Error)
	}
	want, _ := img.Digest()
	if got := c.head(t, "team/imported:v1"); got != want.String() {
		t.Errorf("team/imported:v1 after the import: %q, want %s", got, want)
	}
}

// slowSource starts an open registry that trickles blob bodies out (about 12 MiB/s).
func slowSource(t *testing.T) string {
	t.Helper()
	reg, err := embedded.New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	inner := reg.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w = &trickle{ResponseWriter: w, ctx: r.Context()}
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	return srv.URL
}

type trickle struct {
	http.ResponseWriter
	ctx context.Context
}

func (s *trickle) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), 64<<10)]
		select {
		case <-time.After(5 * time.Millisecond):
		case <-s.ctx.Done():
			return n, s.ctx.Err()
		}
		m, err := s.ResponseWriter.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// A signed-in user (no service credentials) of a registry refusing its catalog sees the
// operator's list and what they opened by name themselves, never another user's.
func TestCatalogRefusedToSignedInUsers(t *testing.T) {
	users := map[string]string{"alice": compatPassword, "bob": compatPassword}
	reg := start3(t, users)
	c := &compat{reg: reg, auth: &authn.Basic{Username: "alice", Password: compatPassword}}
	c.push(t, "team/app", 1, "v1")
	c.push(t, "team/other", 2, "v1")
	cfg := config.Default()
	cfg.Addr, cfg.EmbeddedAddr, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", "off", t.TempDir(), "warn"
	cfg.Registry, cfg.NoDemo, cfg.SyncInterval = registrytest.RefuseCatalog(t, reg.URL, http.StatusForbidden), true, 0
	cfg.Repositories = []string{"team/app"}
	base, _ := runBerth(t, cfg)

	list := func(user string) []string {
		t.Helper()
		var page api.RepositoryPage
		if code := apiAs(t, base, "GET", "/api/v1/repositories", user, compatPassword, nil, &page); code != 200 || !page.CatalogRefused {
			t.Fatalf("%s's catalog: %d, catalogRefused %v", user, code, page.CatalogRefused)
		}
		var names []string
		for _, r := range page.Repositories {
			names = append(names, r.Name)
		}
		return names
	}
	if got := list("alice"); !slices.Equal(got, []string{"team/app"}) {
		t.Errorf("alice's list before opening team/other: %v", got)
	}
	var tags api.TagPage
	if code := apiAs(t, base, "GET", "/api/v1/repositories/team/other/tags", "alice", compatPassword, nil, &tags); code != 200 || len(tags.Tags) != 1 {
		t.Fatalf("alice opens team/other: %d %+v", code, tags)
	}
	if got := list("alice"); !slices.Equal(got, []string{"team/app", "team/other"}) {
		t.Errorf("alice's list after opening team/other: %v", got)
	}
	if got := list("bob"); !slices.Equal(got, []string{"team/app"}) {
		t.Errorf("bob's list shows what alice opened: %v", got)
	}
}

// berth rm on distribution 2.8 removes the tag alone and says how.
func TestCLIRemoveTagOnDistribution28(t *testing.T) {
	reg := registrytest.Distribution28(t, registrytest.Config28{})
	c := &compat{reg: reg, auth: authn.Anonymous}
	d := c.push(t, "team/app", 1, "v1", "keep")
	var out, errOut bytes.Buffer
	code, ok := runCommand([]string{"rm", "--registry", reg.URL, "team/app:v1"}, &out, &errOut)
	if !ok || code != 0 || !strings.Contains(out.String(), "deleted team/app:v1") {
		t.Fatalf("rm: %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "note: The registry cannot delete a tag alone") {
		t.Errorf("rm does not say how the tag went:\n%s", errOut.String())
	}
	if c.head(t, "team/app:v1") != "" || c.head(t, "team/app:keep") != d.String() {
		t.Errorf("after rm: v1 %q, keep %q", c.head(t, "team/app:v1"), c.head(t, "team/app:keep"))
	}
}

// A registry refusing its catalog that notifies Berth: a repository pushed straight to the
// registry is listed from its notification.
func TestCatalogRefusedListsNotifiedRepositories(t *testing.T) {
	const secret = "notifications secret of the compatibility suite"
	dir := t.TempDir()
	secretFile, pwFile := filepath.Join(dir, "events-secret"), filepath.Join(dir, "registry-password")
	for path, v := range map[string]string{secretFile: secret, pwFile: compatPassword} {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	reg := registrytest.Distribution28(t, registrytest.Config28{
		Htpasswd: map[string]string{"berth": compatPassword}, Notify: "http://" + addr + "/events", NotifyToken: secret,
	})
	cfg := config.Default()
	cfg.Addr, cfg.EmbeddedAddr, cfg.DataDir, cfg.LogLevel = addr, "off", t.TempDir(), "warn"
	cfg.Registry = registrytest.RefuseCatalog(t, reg.URL, http.StatusUnauthorized)
	cfg.RegistryUsername, cfg.RegistryPasswordFile, cfg.EventsSecretFile = "berth", pwFile, secretFile
	cfg.NoDemo, cfg.SyncInterval = true, 0
	c := &compat{reg: reg, auth: &authn.Basic{Username: "berth", Password: compatPassword}}
	c.base, _ = runBerth(t, cfg)
	if names, refused := c.repositories(t); len(names) != 0 || !refused {
		t.Fatalf("catalog before any push: %v, catalogRefused %v", names, refused)
	}
	c.push(t, "team/notified", 1, "v1")
	c.waitListed(t, "team/notified")
}
