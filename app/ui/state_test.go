package ui

import (
	"slices"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// testTags is a small repository: latest and v2 share a manifest, v1 is alone, one is still
// loading.
func testTags() []api.Tag {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []api.Tag{
		{Name: "latest", Digest: "sha256:" + hex('b'), Kind: "image", Size: 2000, Created: day.Add(48 * time.Hour), Platforms: []api.Platform{{OS: "linux", Architecture: "amd64"}}},
		{Name: "v1", Digest: "sha256:" + hex('a'), Kind: "image", Size: 3000, Created: day, Platforms: []api.Platform{{OS: "linux", Architecture: "arm64"}}},
		{Name: "v2", Digest: "sha256:" + hex('b'), Kind: "image", Size: 2000, Created: day.Add(48 * time.Hour), Platforms: []api.Platform{{OS: "linux", Architecture: "amd64"}}},
	}
}

func hex(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func names(p *repositoryPage) []string {
	out := make([]string, 0, len(p.view))
	for _, i := range p.view {
		out = append(out, p.tags[i].Name)
	}
	return out
}

func TestRepositoryStateIsDerivedWhenTagsChange(t *testing.T) {
	e := app.NewTestEngine()
	p := &repositoryPage{name: "team/app", state: loaded, tags: testTags(), sort: byName, pending: map[int]bool{}}
	p.tagsChanged()
	if err := e.Load(p); err != nil {
		t.Fatal(err)
	}
	e.ConsumeAll()

	if got := p.groups["sha256:"+hex('b')]; got != 1 || len(p.groups) != 1 {
		t.Errorf("groups %v: want the shared digest numbered 1 and nothing else", p.groups)
	}
	if got := p.sharing["sha256:"+hex('b')]; !slices.Equal(got, []string{"latest", "v2"}) {
		t.Errorf("tags sharing the digest: %v", got)
	}
	if got := others(p.sharing["sha256:"+hex('b')], "v2"); !slices.Equal(got, []string{"latest"}) {
		t.Errorf("others of v2: %v", got)
	}
	if got := names(p); !slices.Equal(got, []string{"latest", "v1", "v2"}) {
		t.Errorf("by name: %v", got)
	}

	// Sorting and filtering change the view, not the derived groups.
	p.sort, p.desc = bySize, true
	p.refresh()
	if got := names(p); !slices.Equal(got, []string{"v1", "v2", "latest"}) {
		t.Errorf("by size, largest first (ties by name, reversed too): %v", got)
	}
	p.filter = "aaaa" // the start of a digest
	p.refresh()
	if got := names(p); !slices.Equal(got, []string{"v1"}) {
		t.Errorf("filtered by digest prefix: %v", got)
	}

	// The row of a tag that shares its manifest marks the group, and says so in words.
	row := p.renderTag(2, p.groups[p.tags[2].Digest], time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	if err := app.Match(app.Td().Class("digest mono").Title("sha256:"+hex('b')+" — shared with other tags"), row, 2); err != nil {
		t.Errorf("digest cell of a shared tag: %v", err)
	}
}

func TestJobStatusFoldsEvents(t *testing.T) {
	var st jobStatus
	st.reset("j1")
	for _, e := range []api.JobEvent{
		{Type: api.EventPhase, Phase: "blobs", Message: "copying blobs"},
		{Type: api.EventProgress, Blob: "a", Done: 5, Total: 10},
		{Type: api.EventProgress, Blob: "b", Done: 1, Total: 4},
		{Type: api.EventProgress, Blob: "a", Done: 10, Total: 10},
	} {
		st.apply(e)
	}
	if done, total := st.bytes(); done != 11 || total != 14 || st.phase != "blobs" || st.state != api.JobRunning {
		t.Errorf("running job: %d of %d, phase %q, state %q", done, total, st.phase, st.state)
	}
	st.apply(api.JobEvent{Type: api.EventResult, State: api.JobSucceeded, Result: &api.JobResult{Deleted: []string{"v1"}}})
	if st.state != api.JobSucceeded || resultLabel(st.result) != "Deleted v1." {
		t.Errorf("finished job: %q, %q", st.state, resultLabel(st.result))
	}
}

func TestStreamsStopOnDismount(t *testing.T) {
	e := app.NewTestEngine()
	c := &copyPanel{Repo: "team/app", Ref: "v1"}
	if err := e.Load(c); err != nil {
		t.Fatal(err)
	}
	parent := c.jobs.context()
	if err := e.Load(&cleanupPanel{Repo: "team/app"}); err != nil { // replaces, so dismounts, the copy panel
		t.Fatal(err)
	}
	e.ConsumeAll()
	select {
	case <-parent.Done():
	default:
		t.Fatal("the copy panel's job streams still run after it was dismounted")
	}
}

func TestLinksKeepTheBasePath(t *testing.T) {
	t.Setenv("GOAPP_ROOT_PREFIX", "/berth/")
	for got, want := range map[string]string{
		activityURL("", ""):                   "/berth/activity",
		activityURL("library/alpine", "7d"):   "/berth/activity?range=7d&repository=library%2Falpine",
		repositoryURL("library/alpine"):       "/berth/repositories/library/alpine",
		manifestURL("library/alpine", "3.21"): "/berth/repositories/library/alpine:3.21",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func TestReferrerTagsGoWithTheImageTheyDescribe(t *testing.T) {
	tags := append(testTags(),
		api.Tag{Name: "sha256-" + hex('a') + ".sig", Kind: "referrer", Digest: "sha256:" + hex('c')},
		api.Tag{Name: "sha256-" + hex('a') + ".att", Kind: "referrer", Digest: "sha256:" + hex('d')},
		api.Tag{Name: "sha256-" + hex('a'), Kind: "referrer", Digest: "sha256:" + hex('b')},          // the OCI fallback index
		api.Tag{Name: "sha256-" + hex('f') + ".sig", Kind: "referrer", Digest: "sha256:" + hex('e')}, // signs nothing here
		api.Tag{Name: "chart", Kind: "artifact", ArtifactType: "application/vnd.cncf.helm.config.v1+json", Digest: "sha256:" + hex('9')},
	)
	p := &repositoryPage{name: "team/app", state: loaded, tags: tags, sort: byName}
	p.tagsChanged()
	if got := names(p); !slices.Equal(got, []string{"chart", "latest", "v1", "v2"}) {
		t.Errorf("view %v: want the referrer tags of v1 folded into its row, the orphan apart", got)
	}
	if got := p.referrers["sha256:"+hex('a')]; len(got) != 3 || len(p.orphans) != 1 {
		t.Errorf("v1's referrer tags: %v, orphans %v", got, p.orphans)
	}
	if got := p.countLabel(); got != "4 tags + 4 signature/attestation tags" {
		t.Errorf("count %q", got)
	}
	if got := p.referrerRefs([]string{"sha256:" + hex('a')}, false); len(got) != 3 || got[0].ref(true) != "sha256:"+hex('c') {
		t.Errorf("v1's referrer refs %v", got)
	}
	if got := p.referrerRefs(nil, true); len(got) != 4 {
		t.Errorf("every referrer ref %v", got)
	}
	// While an image's digest is still unknown, no referrer tag is called an orphan yet.
	p.tags = append(p.tags, api.Tag{Name: "pending"})
	p.tagsChanged()
	if len(p.orphans) != 0 {
		t.Errorf("orphans %v before every digest is known", p.orphans)
	}
	kinds, platforms := p.filterOptions()
	if !slices.Equal(kinds, []string{"artifact", "image"}) || !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("filter options %v %v", kinds, platforms)
	}
	p.kind = "image"
	p.platform = "linux/amd64"
	p.refresh()
	if got := names(p); !slices.Equal(got, []string{"latest", "v2"}) {
		t.Errorf("images for linux/amd64: %v", got)
	}
}

func TestPullCommandFitsTheArtifact(t *testing.T) {
	for _, tc := range []struct{ kind, artifactType, want string }{
		{"image", "", "docker pull r.example/team/app:v1"},
		{"index", "", "docker pull r.example/team/app:v1"},
		{"artifact", "application/vnd.cncf.helm.config.v1+json", "helm pull oci://r.example/team/app --version v1"},
		{"artifact", "application/vnd.example.policy.v1+json", "oras pull r.example/team/app:v1"},
	} {
		if got := pullCommand("r.example", "team/app", "v1", tc.kind, tc.artifactType); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.kind, tc.artifactType, got, tc.want)
		}
	}
}

func TestLiveRefreshKeepsOlderEvents(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 1, 1, 0, min, 0, 0, time.UTC) }
	shown := []api.Event{{ID: "5", Timestamp: at(5)}, {ID: "4", Timestamp: at(4)}, {ID: "3", Timestamp: at(3)}, {ID: "2", Timestamp: at(2)}}
	fresh := []api.Event{{ID: "6", Timestamp: at(6)}, {ID: "5", Timestamp: at(5)}}
	got, next := mergeNewest(fresh, "after-5", shown, "after-2")
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{"6", "5", "4", "3", "2"}) || next != "after-2" {
		t.Errorf("merged %v, next %q: want the new event on top and the older pages kept", ids, next)
	}
	if got, next := mergeNewest(fresh, "after-5", fresh[1:], "x"); len(got) != 2 || next != "after-5" {
		t.Errorf("first page only: %v %q", got, next)
	}
}

// TestRepositoryForgetsAnotherRepositorysUntagged: moving from one repository to another
// drops the first one's untagged rows and label matches at once, and an untagged answer for
// another repository never renders rows (with their delete buttons) on this page.
func TestRepositoryForgetsAnotherRepositorysUntagged(t *testing.T) {
	first := &api.UntaggedPage{Repository: "team/a", Source: api.UntaggedComplete,
		Manifests: []api.UntaggedManifest{{Digest: "sha256:" + hex('a'), Kind: "image"}}}
	p := &repositoryPage{name: "team/b", untagged: first, untaggedErr: "x", untaggedNote: "y",
		labelFor: "label:tier", labeled: map[string]bool{"v1": true}, labelErr: "z", selected: map[string]bool{"latest": true}}
	if p.renderUntagged() != nil {
		t.Error("team/a's untagged rows render on team/b's page")
	}
	if p.untaggedDelete("team/a", first.Manifests[0].Digest) != nil {
		t.Error("a delete button for team/a's digest on team/b's page")
	}
	p.forgetRepositoryState()
	if p.untagged != nil || p.untaggedErr != "" || p.untaggedNote != "" || p.labelFor != "" || p.labeled != nil || p.labelErr != "" || p.selected != nil {
		t.Errorf("state of the repository before kept: %+v", p)
	}
	p.untagged = &api.UntaggedPage{Repository: "team/b", Source: api.UntaggedComplete, Manifests: []api.UntaggedManifest{}}
	if p.renderUntagged() == nil {
		t.Error("team/b's own answer does not render")
	}
}
