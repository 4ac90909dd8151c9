package ops

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// deletesSeen records the DELETE requests a client sends.
type deletesSeen struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (d *deletesSeen) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodDelete {
		d.mu.Lock()
		d.seen = append(d.seen, req.URL.Path)
		d.mu.Unlock()
	}
	return d.base.RoundTrip(req)
}

func (d *deletesSeen) paths() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

// runDelete runs a delete of refs and returns its messages, its result's note last.
func runDelete(t *testing.T, c *registry.Client, repository string, refs ...string) ([]string, error) {
	t.Helper()
	del, err := NewDelete(c, repository, refs)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	res, err := del.Run(t.Context(), func(e api.JobEvent) { msgs = append(msgs, e.Message) })
	if res != nil && res.Note != "" {
		msgs = append(msgs, "note: "+res.Note)
	}
	return msgs, err
}

// Distribution 2.8 cannot delete a tag alone (400 DIGEST_INVALID): the tag goes by way of a
// placeholder manifest, the image and its other tags stay, the job says so, and the client
// remembers the registry's answer.
func TestDeleteTagAloneOnDistribution28(t *testing.T) {
	reg := registrytest.Distribution28(t, registrytest.Config28{})
	seen := &deletesSeen{base: registry.NewTransport(30*time.Second, nil)}
	c := registrytest.NewClient(t, registry.Options{URL: reg.URL, Transport: seen})
	d := pushDated(t, reg.URL, "team/app", time.Now(), "one", "one-alias")
	pushDated(t, reg.URL, "team/app", time.Now().Add(-time.Hour), "two", "three")

	msgs, err := runDelete(t, c, "team/app", "one")
	if err != nil {
		t.Fatalf("delete tag one: %v (%q)", err, msgs)
	}
	if !slices.ContainsFunc(msgs, func(m string) bool {
		return strings.Contains(m, "cannot delete a tag alone") && strings.Contains(m, "placeholder")
	}) {
		t.Errorf("the job does not say how the tag went: %q", msgs)
	}
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "note: The registry cannot delete a tag alone") }) {
		t.Errorf("the job's result has no note: %q", msgs)
	}
	if got := listTags(t, reg.URL, "team/app"); !slices.Equal(got, []string{"one-alias", "three", "two"}) {
		t.Errorf("tags after deleting one: %v", got)
	}
	if desc, err := remote.Head(ref(t, reg.URL, "team/app:one-alias")); err != nil || desc.Digest != d {
		t.Errorf("one-alias after deleting one: %v, %v; want %s", desc, err, d)
	}
	if _, err := remote.Head(ref(t, reg.URL, "team/app@"+d.String())); err != nil {
		t.Errorf("the image of the deleted tag is gone: %v", err)
	}

	// The registry's refusal is remembered: the next tag goes straight by placeholder.
	before := len(seen.paths())
	if msgs, err := runDelete(t, c, "team/app", "two"); err != nil {
		t.Fatalf("delete tag two: %v (%q)", err, msgs)
	}
	for _, p := range seen.paths()[before:] {
		if strings.HasSuffix(p, "/manifests/two") {
			t.Errorf("the client tried DELETE %s again after the registry refused tag deletes", p)
		}
	}
	if got := listTags(t, reg.URL, "team/app"); !slices.Equal(got, []string{"one-alias", "three"}) {
		t.Errorf("tags after deleting two: %v", got)
	}
	// A tag that does not exist is not found, and nothing is written under it.
	if _, err := runDelete(t, c, "team/app", "nope"); err == nil || !strings.Contains(err.Error(), "There is no tag team/app:nope") {
		t.Errorf("deleting a missing tag: %v", err)
	}
	if got := listTags(t, reg.URL, "team/app"); !slices.Equal(got, []string{"one-alias", "three"}) {
		t.Errorf("tags after deleting a missing tag: %v", got)
	}
}

// With deletes off, distribution 2.8 refuses the placeholder's delete too: the tag is put back
// where it was and the job names the setting.
func TestDeleteTagOnDistribution28WithoutDeletesPutsTheTagBack(t *testing.T) {
	reg := registrytest.Distribution28(t, registrytest.Config28{NoDelete: true})
	d := pushDated(t, reg.URL, "team/app", time.Now(), "v1")
	msgs, err := runDelete(t, client(t, reg.URL), "team/app", "v1")
	if err == nil || !strings.Contains(err.Error(), "does not allow deletes") {
		t.Errorf("delete on 2.8 without deletes: %v (%q)", err, msgs)
	}
	if desc, err := remote.Head(ref(t, reg.URL, "team/app:v1")); err != nil || desc.Digest != d {
		t.Errorf("v1 after the refused delete: %v, %v; want %s", desc, err, d)
	}
}
