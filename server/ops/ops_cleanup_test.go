package ops

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushDated pushes a small image created at the given time under tags.
func pushDated(t *testing.T, base, repo string, created time.Time, tags ...string) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: created})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if err := remote.Write(ref(t, base, repo+":"+tag), img); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := img.Digest()
	return d
}

func listTags(t *testing.T, base, repo string) []string {
	t.Helper()
	r, _ := name.NewRepository(strings.TrimPrefix(base, "http://")+"/"+repo, name.Insecure)
	tags, err := remote.List(r)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	return tags
}

func TestCleanupRunDeletesExactlyThePreview(t *testing.T) {
	a := registrytest.Open(t)
	now := time.Now()
	day := 24 * time.Hour
	for i, tag := range []string{"v1", "v2", "v3", "v4", "v5"} {
		pushDated(t, a, "team/app", now.Add(-time.Duration(60-10*i)*day), tag)
	}
	pushDated(t, a, "team/app", now.Add(-90*day), "old-a", "old-b") // one digest, both tags go
	shared := pushDated(t, a, "team/app", now.Add(-80*day), "dev-1", "keep-me")
	pushDated(t, a, "team/app", now.Add(-70*day), "nightly-1")
	pushDated(t, a, "team/app", now.Add(-1*day), "v6")
	before := listTags(t, a, "team/app")

	m := newManager(t, options(t, a))
	rule := api.CleanupRule{Repository: "team/app", KeepLast: 2, OlderThan: "25d", Exclude: `^nightly-`, Keep: []string{"keep-me"}}
	plan, err := m.Preview(context.Background(), rule)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, it := range plan.Delete {
		tags = append(tags, it.Tag)
		if it.Tag == "dev-1" && (it.Manifest || it.Digest != shared.String()) {
			t.Errorf("dev-1 shares its digest with kept keep-me: only the tag may go, got %+v", it)
		}
		if it.Tag == "old-a" && !it.Manifest {
			t.Errorf("old-a and old-b both go: the manifest should be deleted, got %+v", it)
		}
	}
	// Newest first: v6 (1 day) and v5 (20 days) stay by count; v4 (30 days), v3, v2, v1,
	// dev-1 and old-* are older than 25 days; nightly-1 is excluded, keep-me kept by name.
	want := []string{"old-a", "old-b", "dev-1", "v1", "v2", "v3", "v4"}
	if !equalSets(tags, want) {
		t.Fatalf("preview deletes %v, want %v", tags, want)
	}
	if plan.Kept != len(before)-len(want) {
		t.Errorf("kept %d, want %d", plan.Kept, len(before)-len(want))
	}
	if after := listTags(t, a, "team/app"); !slices.Equal(after, before) {
		t.Fatalf("a preview changed the registry: %v → %v", before, after)
	}

	info := runJob(t, m, api.JobRequest{Kind: api.JobCleanup, Rule: &rule})
	if info.State != api.JobSucceeded {
		t.Fatalf("cleanup %s: %s", info.State, info.Error)
	}
	if !equalSets(info.Result.Deleted, tags) {
		t.Errorf("run deleted %v, preview said %v", info.Result.Deleted, tags)
	}
	after := listTags(t, a, "team/app")
	var gone []string
	for _, tg := range before {
		if !slices.Contains(after, tg) {
			gone = append(gone, tg)
		}
	}
	if !equalSets(gone, tags) {
		t.Errorf("the registry lost %v, preview said %v", gone, tags)
	}
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestCleanupRefusesARuleThatDeletesEverything(t *testing.T) {
	if _, err := NewCleanup(client(t, "http://127.0.0.1:1"), api.CleanupRule{Repository: "a/b"}); err == nil {
		t.Fatal("an empty rule was accepted")
	}
	if _, err := NewCleanup(client(t, "http://127.0.0.1:1"), api.CleanupRule{Repository: "a/b", Include: "("}); err == nil {
		t.Fatal("a bad regexp was accepted")
	}
}

func TestDeleteTagsAndDigests(t *testing.T) {
	a := registrytest.Open(t)
	now := time.Now()
	d1 := pushDated(t, a, "team/app", now, "one", "one-alias")
	pushDated(t, a, "team/app", now.Add(-time.Hour), "two")
	pushDated(t, a, "team/app", now.Add(-2*time.Hour), "three")
	del, err := NewDelete(client(t, a), "team/app", []string{d1.String()})
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := del.resolve(t.Context())
	if sharing := resolved[d1.String()]; err != nil || !slices.Equal(sharing.Tags, []string{"one", "one-alias"}) {
		t.Fatalf("tags sharing %s: %+v, %v", d1, sharing, err)
	}
	m := newManager(t, options(t, a))
	info := runJob(t, m, api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{d1.String(), "two"}})
	if info.State != api.JobSucceeded {
		t.Fatalf("delete %s: %s", info.State, info.Error)
	}
	if got := listTags(t, a, "team/app"); !slices.Equal(got, []string{"three"}) {
		t.Errorf("tags left %v, want [three]", got)
	}
	// Deleting what is gone fails the job but says why.
	info = runJob(t, m, api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{"two"}})
	if info.State != api.JobFailed || !strings.Contains(info.Error, "There is no tag team/app:two") {
		t.Errorf("deleting a missing tag: %s %q", info.State, info.Error)
	}
}

func TestDeleteRefusedByRegistrySaysSo(t *testing.T) {
	noDelete := func(c *configuration.Configuration) {
		c.Storage["delete"] = configuration.Parameters{"enabled": false}
	}
	a := registrytest.Open(t, noDelete)
	pushDated(t, a, "team/app", time.Now(), "v1")
	m := newManager(t, options(t, a))
	info := runJob(t, m, api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{"v1"}})
	if info.State != api.JobFailed || !strings.Contains(info.Error, "does not allow deletes") || !strings.Contains(info.Error, "storage.delete.enabled") {
		t.Errorf("delete on a registry without deletes: %s %q", info.State, info.Error)
	}
}

func TestGarbageCollectFreesDeletedBlobs(t *testing.T) {
	dir := t.TempDir()
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	img, err := random.Image(1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := ref(t, srv.URL, "team/app:v1")
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if err := remote.Delete(r.Context().Digest(d.String())); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_ = reg.Close()

	res, err := GarbageCollect(context.Background(), dir, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Freed() < 2<<20 {
		t.Errorf("freed %d bytes of %d, want the two 1 MiB layers", res.Freed(), res.Before)
	}
	if _, err := GarbageCollect(context.Background(), filepath.Join(dir, "nothing"), false, false); err == nil {
		t.Error("gc of a directory without registry storage succeeded")
	}
	_ = os.RemoveAll(dir)
}
