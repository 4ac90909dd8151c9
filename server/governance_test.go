package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

const govPassword = "governance test password"

// govBerth is Berth with access control in front of a registry taking only its tokens.
type govBerth struct {
	base, host string // Berth's URL and host:port (its /v2 proxy)
}

// startGovBerth runs Berth over distribution 3 or Debian's 2.8 in token mode, with the
// administrator "admin" and the user "dev", owner of the teams (and namespaces) team and q.
func startGovBerth(t *testing.T, dist28 bool) govBerth {
	ctx := t.Context()
	secretFile := filepath.Join(t.TempDir(), "secret")
	secret := "cluster secret of the governance test"
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := config.Default()
	cfg.Addr, cfg.DataDir, cfg.WebDir, cfg.LogLevel = fmt.Sprintf("127.0.0.1:%d", port), t.TempDir(), webDir(t), "warn"
	cfg.NoDemo, cfg.SyncInterval = true, 0
	cfg.AccessControl, cfg.AnonymousWrites, cfg.SecretFile = true, false, secretFile
	st, err := store.Open(ctx, cfg.DatabaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	accounts, _ := store.AccountsOf(st)
	control, err := auth.New(ctx, auth.Options{Store: accounts, Secret: []byte(secret), Issuer: cfg.TokenIssuer, Service: cfg.TokenService, TTL: cfg.TokenTTL})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		control.Accounts.CreateUser(ctx, "test", "admin", govPassword, true),
		control.Accounts.CreateUser(ctx, "test", "dev", govPassword, false),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	bundle, err := writeBundle(ctx, cfg, control)
	if err != nil {
		t.Fatal(err)
	}
	// Named, not an IP literal: clients refuse a realm on another private address.
	realm := fmt.Sprintf("http://localhost:%d/auth/token", port)
	if dist28 {
		reg := registrytest.Distribution28(t, registrytest.Config28{Token: &registrytest.TokenConfig{
			Realm: realm, Service: cfg.TokenService, Issuer: cfg.TokenIssuer, Bundle: bundle}})
		cfg.Registry = reg.URL
	} else {
		reg, err := embedded.New(ctx, t.TempDir(), embedded.WithTokenAuth(realm, cfg.TokenService, cfg.TokenIssuer, bundle))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		site.Tokens(mux, control.Tokens, nil)
		mux.Handle("/", reg.Handler())
		srv := &http.Server{Handler: mux}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close(); _ = reg.Close() })
		cfg.Registry = "http://" + ln.Addr().String()
	}
	base, _ := runBerth(t, cfg)
	for _, team := range []string{"team", "q"} {
		if code, body := govCall(t, "dev", "POST", base+"/api/v1/teams", map[string]string{"name": team}, nil); code != http.StatusCreated {
			t.Fatalf("create team %s: %d %s", team, code, body)
		}
	}
	return govBerth{base: base, host: strings.TrimPrefix(base, "http://")}
}

// govCall sends body as JSON to Berth's API as user and decodes the answer into out.
func govCall(t *testing.T, user, method, url string, body, out any) (int, string) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, govPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	_, _ = raw.ReadFrom(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw.Bytes(), out)
	}
	return resp.StatusCode, raw.String()
}

// ociImage writes img as an OCI layout skopeo reads (oci:DIR:latest).
func ociImage(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		t.Fatal(err)
	}
	return "oci:" + dir + ":latest"
}

// layered is an OCI image of the given layers.
func layered(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers...)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

func randomLayer(t *testing.T, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// skopeoPush copies src to Berth's /v2 as dev; it returns skopeo's error output on failure.
func skopeoPush(t *testing.T, b govBerth, src, dst string) (bool, string) {
	t.Helper()
	return skopeoAs(t, "dev:"+govPassword, src, "docker://"+b.host+"/"+dst)
}

// skopeoAs copies src to dst with the destination credentials creds (user:password).
func skopeoAs(t *testing.T, creds, src, dst string) (bool, string) {
	t.Helper()
	bin := need(t, "skopeo")
	cmd := exec.CommandContext(t.Context(), bin, "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", creds, src, dst)
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

// runJob starts a job as user and waits for it to end.
func runJob(t *testing.T, b govBerth, user string, req api.JobRequest) api.Job {
	t.Helper()
	var started api.JobStarted
	if code, body := govCall(t, user, "POST", b.base+"/api/v1/jobs", req, &started); code != http.StatusAccepted && code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("start job: %d %s", code, body)
	}
	var job api.Job
	waitFor(t, "job "+started.ID, 30*time.Second, func() bool {
		govCall(t, user, "GET", b.base+"/api/v1/jobs/"+started.ID, nil, &job)
		return job.State == api.JobSucceeded || job.State == api.JobFailed
	})
	return job
}

// TestGovernanceImmutableAndQuota: on distribution 3 and 2.8, a re-push of an immutable tag
// through the proxy with skopeo and an overwrite by a copy job are refused until an
// administrator lifts the rule; a push past the namespace's quota is refused with the
// message, with the base both images share counted once.
func TestGovernanceImmutableAndQuota(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dist28 bool
	}{{"distribution-3", false}, {"distribution-2.8", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := startGovBerth(t, tc.dist28)
			immutableTags(t, b)
			quotas(t, b)
		})
	}
}

func immutableTags(t *testing.T, b govBerth) {
	rules := b.base + "/api/v1/namespaces/team/immutable"
	var rule api.ImmutableRule
	if code, body := govCall(t, "dev", "POST", rules, api.ImmutableRuleRequest{Patterns: []string{"v*", "!*-rc*"}}, &rule); code != http.StatusCreated {
		t.Fatalf("owner creates a rule: %d %s", code, body)
	}
	first, second := layered(t, randomLayer(t, 1024)), layered(t, randomLayer(t, 1024))
	if ok, out := skopeoPush(t, b, ociImage(t, first), "team/app:v1.0.0"); !ok {
		t.Fatalf("first push of v1.0.0: %s", out)
	}
	if ok, out := skopeoPush(t, b, ociImage(t, first), "team/app:v1.0.0"); !ok {
		t.Fatalf("re-push of the same image: %s", out)
	}
	ok, out := skopeoPush(t, b, ociImage(t, second), "team/app:v1.0.0")
	if ok || !strings.Contains(out, "tag v1.0.0 is immutable in namespace team (rule v*)") {
		t.Fatalf("overwriting v1.0.0: ok=%v %s", ok, out)
	}
	if ok, out := skopeoPush(t, b, ociImage(t, second), "team/app:v1.0.0-rc1"); !ok {
		t.Fatalf("an excluded tag: %s", out)
	}
	copyJob := api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1.0.0-rc1", Destination: "team/app:v1.0.0"}
	if job := runJob(t, b, "dev", copyJob); job.State != api.JobFailed || !strings.Contains(job.Error, "immutable in namespace team") {
		t.Fatalf("copy job over v1.0.0: %s %q", job.State, job.Error)
	}
	del := api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{"v1.0.0"}}
	if job := runJob(t, b, "dev", del); job.State != api.JobFailed || !strings.Contains(job.Error, "immutable") {
		t.Fatalf("delete job of v1.0.0: %s %q", job.State, job.Error)
	}
	var plan api.CleanupPlan
	dry := api.JobRequest{Kind: api.JobCleanup, DryRun: true, Rule: &api.CleanupRule{Repository: "team/app", Include: "."}}
	if code, body := govCall(t, "dev", "POST", b.base+"/api/v1/jobs", dry, &plan); code != http.StatusOK || len(plan.Delete) != 1 || plan.Delete[0].Tag != "v1.0.0-rc1" {
		t.Fatalf("a cleanup of every tag keeps the immutable one: %d %s", code, body)
	}
	// A retention policy's preview keeps the immutable tag too (deleted right away, before it runs).
	var policy api.RetentionPolicy
	ret := b.base + "/api/v1/namespaces/team/retention"
	if code, body := govCall(t, "dev", "POST", ret, api.RetentionPolicy{Repositories: "team/*", Rule: api.CleanupRule{Include: "."}, Every: "1d"}, &policy); code != http.StatusCreated {
		t.Fatalf("create retention policy: %d %s", code, body)
	}
	var preview struct{ Plans []api.CleanupPlan }
	if code, body := govCall(t, "dev", "GET", ret+"/"+policy.ID+"/preview", nil, &preview); code != http.StatusOK || len(preview.Plans) != 1 || len(preview.Plans[0].Delete) != 1 || preview.Plans[0].Delete[0].Tag != "v1.0.0-rc1" {
		t.Fatalf("retention preview: %d %s", code, body)
	}
	if code, body := govCall(t, "dev", "DELETE", ret+"/"+policy.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete retention policy: %d %s", code, body)
	}
	lift := fmt.Sprintf("%s/%d", rules, rule.ID)
	if code, _ := govCall(t, "dev", "PATCH", lift, map[string]bool{"lifted": true}, nil); code != http.StatusForbidden {
		t.Fatalf("an owner lifts the rule: %d, want 403", code)
	}
	if code, body := govCall(t, "admin", "PATCH", lift, map[string]bool{"lifted": true}, nil); code != http.StatusOK {
		t.Fatalf("administrator lifts the rule: %d %s", code, body)
	}
	if job := runJob(t, b, "dev", copyJob); job.State != api.JobSucceeded {
		t.Fatalf("copy job after the lift: %s %q", job.State, job.Error)
	}
	var audit api.AuditPage
	govCall(t, "admin", "GET", b.base+"/api/v1/audit?action=immutable.lift", nil, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Actor != "admin" {
		t.Fatalf("audit of the lift: %+v", audit.Entries)
	}
}

func quotas(t *testing.T, b govBerth) {
	base := randomLayer(t, 256<<10)
	one, two, big := layered(t, base, randomLayer(t, 1024)), layered(t, base, randomLayer(t, 1024)), layered(t, randomLayer(t, 200<<10))
	if ok, out := skopeoPush(t, b, ociImage(t, one), "q/one:1"); !ok {
		t.Fatalf("push q/one:1: %s", out)
	}
	quota := b.base + "/api/v1/namespaces/q/quota"
	var q api.Quota
	if code, body := govCall(t, "admin", "GET", quota, nil, &q); code != http.StatusOK {
		t.Fatalf("quota: %d %s", code, body)
	}
	size := func(img v1.Image) int64 {
		m, _ := img.RawManifest()
		c, _ := img.RawConfigFile()
		n := int64(len(m) + len(c))
		ls, _ := img.Layers()
		for _, l := range ls {
			s, _ := l.Size()
			n += s
		}
		return n
	}
	baseSize, _ := base.Size()
	if q.Used != size(one) || q.Tags != 1 {
		t.Fatalf("usage after one image: %+v, want %d bytes", q, size(one))
	}
	// Room for two only if the base it shares with one counts once.
	limit := size(one) + size(two) - baseSize + 1024
	if code, body := govCall(t, "dev", "PUT", quota, map[string]any{"storageLimit": fmt.Sprint(limit)}, nil); code != http.StatusForbidden {
		t.Fatalf("an owner sets the quota: %d %s", code, body)
	}
	if code, body := govCall(t, "admin", "PUT", quota, map[string]any{"storageLimit": fmt.Sprint(limit)}, &q); code != http.StatusOK || q.StorageLimit != limit {
		t.Fatalf("set the quota: %d %s", code, body)
	}
	if ok, out := skopeoPush(t, b, ociImage(t, two), "q/two:1"); !ok {
		t.Fatalf("push q/two:1 sharing the base: %s", out)
	}
	ok, out := skopeoPush(t, b, ociImage(t, big), "q/one:2")
	if ok || !strings.Contains(out, "quota exceeded") || !strings.Contains(out, "namespace q uses") {
		t.Fatalf("push past the quota: ok=%v %s", ok, out)
	}
	govCall(t, "admin", "GET", quota, nil, &q)
	if q.Used != size(one)+size(two)-baseSize || q.Tags != 2 || q.Warned == nil {
		t.Fatalf("usage of two images sharing a base: %+v, want %d bytes and a warning", q, size(one)+size(two)-baseSize)
	}
}

// TestGovernanceEmbeddedPort: clients pushing to the embedded registry's own port (not
// through Berth's /v2) meet the same immutable rule.
func TestGovernanceEmbeddedPort(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "admin")
	if err := os.WriteFile(pwFile, []byte(govPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := startBerth(t, func(c *config.Config) {
		c.AccessControl, c.AnonymousWrites, c.AdminPasswordFile = true, false, pwFile
		c.EmbeddedAddr, c.NoDemo, c.SyncInterval = regAddr, true, 0
	})
	if code, body := govCall(t, "admin", "POST", base+"/api/v1/teams", map[string]string{"name": "team"}, nil); code != http.StatusCreated {
		t.Fatalf("create team: %d %s", code, body)
	}
	if code, body := govCall(t, "admin", "POST", base+"/api/v1/namespaces/team/immutable", api.ImmutableRuleRequest{Patterns: []string{"v*"}}, nil); code != http.StatusCreated {
		t.Fatalf("create rule: %d %s", code, body)
	}
	admin := &authn.Basic{Username: "admin", Password: govPassword}
	ref, err := name.ParseReference(regAddr+"/team/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, layered(t, randomLayer(t, 512)), remote.WithAuth(admin)); err != nil {
		t.Fatalf("first push: %v", err)
	}
	err = remote.Write(ref, layered(t, randomLayer(t, 512)), remote.WithAuth(admin))
	if err == nil || !strings.Contains(err.Error(), "tag v1 is immutable in namespace team (rule v*)") {
		t.Fatalf("overwrite on the embedded port: %v", err)
	}
	if err := remote.Delete(ref, remote.WithAuth(admin)); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("delete on the embedded port: %v", err)
	}
	// Without a token that grants the write, the policies say nothing (whether v1 exists,
	// what the namespace holds): the registry answers 401 as for any unauthorized request.
	for _, authz := range []string{"", "Bearer x", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+govPassword))} {
		for _, method := range []string{http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(method, "http://"+regAddr+"/v2/team/app/manifests/v1", strings.NewReader("{}"))
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "immutable") {
				t.Errorf("%s with %.12q: %d %s, want the registry's 401 and no word of the rule", method, authz, resp.StatusCode, body)
			}
		}
	}
}
