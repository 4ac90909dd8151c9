package ops

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
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

// slowDownloads trickles blob bodies out (about 12 MiB/s), so a copy from behind it is still
// uploading when the test cancels it.
func slowDownloads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w = &slowWriter{ResponseWriter: w, ctx: r.Context()}
		}
		next.ServeHTTP(w, r)
	})
}

type slowWriter struct {
	http.ResponseWriter
	ctx context.Context
}

func (s *slowWriter) Write(p []byte) (int, error) {
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

// cancelMidUpload starts a copy of a 64 MiB image from a slow source to dest, cancels it once
// bytes are on their way and waits for the job to end cancelled.
func cancelMidUpload(t *testing.T, dest string) {
	t.Helper()
	src := serveRegistry(t, slowDownloads)
	big, err := random.Layer(64<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, big)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, src, "big/image:v1"), img); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, options(t, src))
	id, err := m.Submit(t.Context(), api.JobRequest{Kind: api.JobCopy, Source: "big/image:v1", Destination: "big/image:v1", DestinationRegistry: dest})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		info, _, err := m.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != api.JobRunning {
			t.Fatalf("the copy ended (%s) before it could be cancelled", info.State)
		}
		if info.Done > 4<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok, err := m.Cancel(t.Context(), id); !ok || err != nil {
		t.Fatalf("cancel: %v, %v", ok, err)
	}
	if info := wait(t, m, id); info.State != api.JobCancelled {
		t.Fatalf("state %s (%s), want cancelled", info.State, info.Error)
	}
}

// A cancelled copy deletes the upload session it had open on distribution 2.8 and 3 alike:
// nothing of it is left under the registry's _uploads.
func TestCancelledCopyLeavesNoUploadSession(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) registrytest.Registry
	}{
		{"distribution-2.8", func(t *testing.T) registrytest.Registry {
			return registrytest.Distribution28(t, registrytest.Config28{})
		}},
		{"distribution-3", func(t *testing.T) registrytest.Registry { return registrytest.Distribution3(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := tc.start(t)
			cancelMidUpload(t, dest.URL)
			if _, err := remote.Head(ref(t, dest.URL, "big/image:v1")); err == nil {
				t.Error("the cancelled copy left its tag")
			}
			if left := dest.UploadSessions(t); len(left) > 0 {
				t.Errorf("upload sessions left after the cancel: %v", left)
			}
		})
	}
}

// A delete killed on distribution 2.8 between pointing the tag at its placeholder and deleting
// that is finished by the resumed attempt, not taken for a tag someone moved.
func TestResumedDeleteOnDistribution28FinishesItsPlaceholder(t *testing.T) {
	reg := registrytest.Distribution28(t, registrytest.Config28{})
	d := pushDated(t, reg.URL, "team/app", time.Now(), "one", "keep")
	target, _ := url.Parse(reg.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var crash, dead atomic.Bool
	inDelete := make(chan struct{}, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if crash.Load() && r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/manifests/sha256:") {
			dead.Store(true) // the replica dies: neither this delete nor anything after arrives
		}
		if dead.Load() {
			select {
			case inDelete <- struct{}{}:
			default:
			}
			http.Error(w, "replica gone", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	crash.Store(true)
	ctx, kill := context.WithCancel(t.Context())
	go func() { <-inDelete; kill() }()
	if _, _, err := attemptOfDelete(ctx, t, st, 1, proxy.URL, []string{"one"}, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("attempt 1 ended with %v, want it killed", err)
	}
	if got := listTags(t, reg.URL, "team/app"); !slices.Equal(got, []string{"keep", "one"}) {
		t.Fatalf("tags after the crash: %v", got)
	}
	if desc, err := remote.Head(ref(t, reg.URL, "team/app:one")); err != nil || desc.Digest == d {
		t.Fatalf("after the crash, team/app:one is %v, %v; want its placeholder", desc, err)
	}
	crash.Store(false)
	dead.Store(false)
	res, messages, err := attemptOfDelete(t.Context(), t, st, 1, proxy.URL, []string{"one"}, true)
	if err != nil || res == nil || !slices.Equal(res.Deleted, []string{"one"}) {
		t.Fatalf("attempt 2: %+v, %v (%q)", res, err, messages)
	}
	if got := listTags(t, reg.URL, "team/app"); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("tags after attempt 2: %v", got)
	}
	if desc, err := remote.Head(ref(t, reg.URL, "team/app@"+d.String())); err != nil || desc.Digest != d {
		t.Errorf("the image of the deleted tag: %v, %v", desc, err)
	}
}
