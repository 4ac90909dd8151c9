package replication

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// harness is a replication service on a real SQLite store and job queue, whose main
// registry is a distribution 3 in process.
type harness struct {
	s    *Service
	main string
	ctx  context.Context // an administrator's
	st   store.Store
}

func newHarness(t testing.TB, flags ...string) *harness {
	t.Helper()
	return newHarnessOn(t, harnessSpec{DB: filepath.Join(t.TempDir(), "berth.db"), Main: registrytest.Open(t), Flags: flags})
}

// harnessSpec is where a harness keeps its store and finds its main registry, and how it
// runs: a second harness on the same spec is another replica.
type harnessSpec struct {
	DB, Main string
	Flags    []string
	// Bandwidth and Concurrency are the service's; 0 for its defaults.
	Bandwidth   int64
	Concurrency int
}

func newHarnessOn(t testing.TB, spec harnessSpec) *harness {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), spec.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	mainClient := registrytest.NewClient(t, registry.Options{URL: spec.Main})
	secret := []byte("a cluster secret for the tests")
	metrics := prometheus.NewRegistry()
	s, err := New(Options{Store: st, Main: mainClient, Secret: secret, Flags: spec.Flags, Backoff: 10 * time.Millisecond, Timeout: 30 * time.Second,
		Metrics: NewMetrics(metrics), Bandwidth: spec.Bandwidth, Concurrency: spec.Concurrency})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ops.NewManager(context.Background(), ops.Options{Registry: mainClient, Authorizer: registry.NewAuthorizer(mainClient, 0),
		Store: st, Secret: secret, Workers: s.Register, Kinds: []string{KindRun}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetQueue(m)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(context.Background())
	go s.Listen(lctx)
	t.Cleanup(func() {
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	ctx := access.With(context.Background(), access.Identity{Kind: access.User, Name: "root", Admin: true})
	return &harness{s: s, main: spec.Main, ctx: ctx, st: st}
}

func parse(t testing.TB, base, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(strings.TrimPrefix(base, "http://")+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushImage pushes a random image to base/where and returns its digest.
func pushImage(t testing.TB, base, where string, opts ...remote.Option) v1.Hash {
	t.Helper()
	return pushImageOf(t, base, where, 1024, opts...)
}

// pushImageOf is pushImage with a layer of size bytes.
func pushImageOf(t testing.TB, base, where string, size int64, opts ...remote.Option) v1.Hash {
	t.Helper()
	img, err := random.Image(size, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(parse(t, base, where), img, opts...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

// pushSigned pushes a two-platform index, a cosign-style signature tag for it and an SBOM
// referring to it (OCI subject).
func pushSigned(t testing.TB, base, where string, opts ...remote.Option) (index v1.Hash, sigTag string, sbom v1.Hash) {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(2048, 2)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	r := parse(t, base, where)
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	size, _ := idx.Size()
	sig, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	sigTag = "sha256-" + d.Hex + ".sig"
	if err := remote.Write(r.Context().Tag(sigTag), sig, opts...); err != nil {
		t.Fatal(err)
	}
	doc, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	doc = mutate.ConfigMediaType(mutate.MediaType(doc, types.OCIManifestSchema1), "application/spdx+json")
	doc = mutate.Subject(doc, v1.Descriptor{MediaType: types.OCIImageIndex, Digest: d, Size: size}).(v1.Image)
	sbom, _ = doc.Digest()
	if err := remote.Write(r.Context().Digest(sbom.String()), doc, opts...); err != nil {
		t.Fatal(err)
	}
	return d, sigTag, sbom
}

// arrived checks that srcRepo's index v1, its platforms, signature tag and SBOM are at
// base/repo, digests equal.
func (h *harness) arrived(t testing.TB, srcRepo, base, repo string, index v1.Hash, sigTag string, sbom v1.Hash, opts ...remote.Option) {
	t.Helper()
	for _, tag := range []string{"v1", sigTag} {
		if got, want := digestOf(t, base, repo+":"+tag, opts...), digestOf(t, h.main, srcRepo+":"+tag); got != want || got == "" {
			t.Errorf("%s:%s at the destination is %q, want %q", repo, tag, got, want)
		}
	}
	idx, err := remote.Index(parse(t, base, repo+":v1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		if _, err := remote.Image(parse(t, base, repo+"@"+m.Digest.String()), opts...); err != nil {
			t.Errorf("platform %s missing in %s: %v", m.Platform, repo, err)
		}
	}
	if !hasReferrer(t, base, repo, index, sbom, opts...) {
		t.Errorf("the SBOM %s did not follow %s to %s", sbom, index, repo)
	}
}

// hasReferrer reports whether repo@subject at base lists referrer among its referrers.
func hasReferrer(t testing.TB, base, repo string, subject, referrer v1.Hash, opts ...remote.Option) bool {
	t.Helper()
	r, _ := name.NewDigest(strings.TrimPrefix(base, "http://")+"/"+repo+"@"+subject.String(), name.Insecure)
	idx, err := remote.Referrers(r, opts...)
	if err != nil {
		t.Logf("referrers of %s: %v", r, err)
		return false
	}
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		if m.Digest == referrer {
			return true
		}
	}
	return false
}

func digestOf(t testing.TB, base, ref string, opts ...remote.Option) string {
	t.Helper()
	d, err := remote.Head(parse(t, base, ref), opts...)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

func tagsOf(t testing.TB, base, repo string, opts ...remote.Option) []string {
	t.Helper()
	r, _ := name.NewRepository(strings.TrimPrefix(base, "http://")+"/"+repo, name.Insecure)
	tags, err := remote.List(r, opts...)
	if err != nil {
		return nil
	}
	slices.Sort(tags)
	return tags
}

func (h *harness) rule(t testing.TB, r api.ReplicationRule) api.ReplicationRule {
	t.Helper()
	r, err := h.s.SaveRule(h.ctx, r)
	if err != nil {
		t.Fatalf("save rule: %v", err)
	}
	return r
}

// run runs the rule now and waits for the run's end.
func (h *harness) run(t testing.TB, rule string, dry bool) api.ReplicationRun {
	t.Helper()
	run, err := h.s.Start(h.ctx, rule, dry)
	if err != nil {
		t.Fatal(err)
	}
	return h.wait(t, run.ID)
}

func (h *harness) wait(t testing.TB, id string) api.ReplicationRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	r, err := h.s.Wait(ctx, id)
	if err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return r
}

// waitRuns waits until the rule has n ended runs and returns them.
func (h *harness) waitRuns(t testing.TB, rule string, n int) []api.ReplicationRun {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		runs, err := h.s.Runs(h.ctx, rule)
		if err != nil {
			t.Fatal(err)
		}
		ended := 0
		for _, r := range runs {
			if r.State != api.RunQueued && r.State != api.RunRunning {
				ended++
			}
		}
		if ended >= n {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("rule %s: %d of %d runs ended: %+v", rule, ended, n, runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPushReplicatesSignedIndexTo28 pushes a signed multi-platform index to the main
// registry; its notifications queue runs of a push rule towards distribution 2.8 behind
// htpasswd, which then holds the index, its platforms and the signature tag, digests equal.
// A deletion at the source propagates only through the rule that says so.
func TestPushReplicatesSignedIndexTo28(t *testing.T) {
	h := newHarness(t)
	d28 := registrytest.Distribution28(t, registrytest.Config28{Htpasswd: map[string]string{"robot": "s3cret"}})
	auth := remote.WithAuth(&authn.Basic{Username: "robot", Password: "s3cret"})
	if err := h.s.AddEndpoint(h.ctx, api.RegistryEndpoint{Name: "dr", URL: d28.URL, Username: "robot", Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	test, err := h.s.Test(h.ctx, "dr")
	if err != nil || !test.OK {
		t.Fatalf("test connection: %+v %v", test, err)
	}
	keep := h.rule(t, api.ReplicationRule{Name: "keep", Source: api.MainRegistry, Destination: "dr", Repositories: "team/**", Trigger: api.TriggerPush})
	mirror := h.rule(t, api.ReplicationRule{Name: "mirror", Source: api.MainRegistry, Destination: "dr", Repositories: "team/**",
		Prefix: "mirror", Deletions: true, Trigger: api.TriggerPush})

	index, sigTag, sbom := pushSigned(t, h.main, "team/app:v1")
	h.s.OnEvents([]store.Event{
		{Action: store.ActionPush, Repository: "team/app", Tag: "v1", Digest: index.String()},
		{Action: store.ActionPush, Repository: "team/app", Tag: sigTag},
		{Action: store.ActionPush, Repository: "other/app", Tag: "v1"}, // no rule takes it
	})
	h.waitRuns(t, keep.ID, 2)
	h.waitRuns(t, mirror.ID, 2)
	for _, repo := range []string{"team/app", "mirror/team/app"} {
		h.arrived(t, "team/app", d28.URL, repo, index, sigTag, sbom, auth)
	}

	// Delete v1 at the source: the mirror rule propagates it, keep does not.
	if err := remote.Delete(parse(t, h.main, "team/app:v1")); err != nil {
		t.Fatal(err)
	}
	h.s.OnEvents([]store.Event{{Action: store.ActionDelete, Repository: "team/app", Tag: "v1"}})
	h.waitRuns(t, keep.ID, 3)
	h.waitRuns(t, mirror.ID, 3)
	if digestOf(t, d28.URL, "team/app:v1", auth) == "" {
		t.Error("the keep rule deleted team/app:v1 at the destination")
	}
	if d := digestOf(t, d28.URL, "mirror/team/app:v1", auth); d != "" {
		t.Errorf("mirror/team/app:v1 still at the destination (%s)", d)
	}
}

// TestTagFiltersAndDryRun runs a rule taking 1.x versions only, first dry: nothing is
// written and the plan names both; then for real: exactly those tags arrive.
func TestTagFiltersAndDryRun(t *testing.T) {
	h := newHarness(t)
	second := registrytest.Distribution3(t)
	if err := h.s.AddEndpoint(h.ctx, api.RegistryEndpoint{Name: "second", URL: second.URL}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"1.0.0", "1.2.0", "2.0.0", "latest", "v1-dev"} {
		pushImage(t, h.main, "lib/x:"+tag)
	}
	pushImage(t, h.main, "app/y:1.0.0") // outside the repository filter
	var ended []string                  // runs OnRun heard of: rule name, state, copied
	var mu sync.Mutex
	h.s.opts.OnRun = func(_ context.Context, run api.ReplicationRun, rule api.ReplicationRule, repository string) {
		mu.Lock()
		defer mu.Unlock()
		ended = append(ended, fmt.Sprintf("%s %s %d %q", rule.Name, run.State, run.Copied, repository))
	}
	rule := h.rule(t, api.ReplicationRule{Name: "ones", Source: api.MainRegistry, Destination: "second",
		Repositories: "lib/*", Tags: "*.*.*", SemVer: "^1", Trigger: api.TriggerManual})

	dry := h.run(t, rule.Name, true)
	if dry.State != api.RunSucceeded || dry.Copied != 2 || len(dry.Items) != 2 {
		t.Fatalf("dry run: %+v", dry)
	}
	if tags := tagsOf(t, second.URL, "lib/x"); len(tags) != 0 {
		t.Fatalf("a dry run wrote %v", tags)
	}
	real := h.run(t, rule.Name, false)
	if real.State != api.RunSucceeded || real.Copied != 2 || real.Bytes == 0 {
		t.Fatalf("run: %+v", real)
	}
	if got := tagsOf(t, second.URL, "lib/x"); !slices.Equal(got, []string{"1.0.0", "1.2.0"}) {
		t.Errorf("copied tags %v, want [1.0.0 1.2.0]", got)
	}
	if got := tagsOf(t, second.URL, "app/y"); len(got) != 0 {
		t.Errorf("app/y copied: %v", got)
	}
	m := h.s.opts.Metrics
	if n := testutil.ToFloat64(m.artifacts.WithLabelValues(api.ItemCopy)); n != 2 {
		t.Errorf("berth_replication_artifacts_total{result=copy} = %v, want 2", n)
	}
	if n := testutil.ToFloat64(m.bytes); n != float64(real.Bytes) {
		t.Errorf("berth_replication_bytes_total = %v, want %d", n, real.Bytes)
	}
	again := h.run(t, rule.Name, false)
	if again.Copied != 0 || again.Skipped != 2 {
		t.Errorf("a second run copied again: %+v", again)
	}
	runs, err := h.s.Runs(h.ctx, rule.ID)
	if err != nil || len(runs) != 3 || runs[0].ID != again.ID {
		t.Errorf("history: %d runs, %v", len(runs), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{`ones succeeded 2 ""`, `ones succeeded 0 ""`}; !slices.Equal(ended, want) {
		t.Errorf("OnRun heard %q, want %q (not the dry run)", ended, want)
	}
}

// TestUnreachableEndpointRecordsRetries runs a rule towards a registry nobody answers for:
// the run fails, each artifact tried three times with its error recorded.
func TestUnreachableEndpointRecordsRetries(t *testing.T) {
	h := newHarness(t, "gone=http://127.0.0.1:1")
	pushImage(t, h.main, "lib/z:1")
	rule := h.rule(t, api.ReplicationRule{Name: "nowhere", Source: api.MainRegistry, Destination: "gone", Repositories: "lib/z", Trigger: api.TriggerManual})
	run := h.run(t, rule.ID, false)
	if run.State != api.RunFailed || run.Failed != 1 || len(run.Items) != 1 {
		t.Fatalf("run: %+v", run)
	}
	if it := run.Items[0]; it.Attempts != 3 || it.Error == "" || it.Done {
		t.Errorf("item: %+v", it)
	}
	if n := testutil.ToFloat64(h.s.opts.Metrics.retries); n != 2 {
		t.Errorf("berth_replication_retries_total = %v, want 2", n)
	}
}

// TestScheduledRuleRunsOncePerDueTime ticks the schedule twice within one period: one run
// is queued, and it copies exactly the tags the regular expression takes.
func TestScheduledRuleRunsOncePerDueTime(t *testing.T) {
	h := newHarness(t)
	second := registrytest.Distribution3(t)
	if err := h.s.AddEndpoint(h.ctx, api.RegistryEndpoint{Name: "second", URL: second.URL}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"release-1", "release-2", "nightly"} {
		pushImage(t, h.main, "svc/api:"+tag)
	}
	rule := h.rule(t, api.ReplicationRule{Name: "nightly", Source: api.MainRegistry, Destination: "second",
		Repositories: "svc/**", TagRegex: `release-\d+`, Trigger: api.TriggerSchedule, Schedule: "@every 1m"})
	now := time.Now()
	for range 2 {
		if err := h.s.Schedule(h.ctx, now, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	runs := h.waitRuns(t, rule.ID, 1)
	if len(runs) != 1 || runs[0].Trigger != api.TriggerSchedule || runs[0].Copied != 2 {
		t.Fatalf("runs: %+v", runs)
	}
	if got := tagsOf(t, second.URL, "svc/api"); !slices.Equal(got, []string{"release-1", "release-2"}) {
		t.Errorf("copied %v", got)
	}
}
