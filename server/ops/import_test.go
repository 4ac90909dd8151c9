package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// importServer serves the import and job endpoints of a Manager importing into base.
type importServer struct {
	m    *Manager
	url  string
	base string
	dir  string
}

func newImportServer(t *testing.T, base string, reg *registry.Client, max int64) *importServer {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "imports")
	m := newManager(t, Options{Registry: reg, ImportDir: dir, MaxImportSize: max})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/imports", m.ServeImport)
	mux.HandleFunc("GET /api/v1/jobs/{id}", m.ServeJob)
	mux.HandleFunc("GET /api/v1/jobs/{id}/events", m.ServeEvents)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &importServer{m: m, url: srv.URL, base: base, dir: dir}
}

// upload posts an archive and returns the status and the decoded answer.
func (s *importServer) upload(t *testing.T, query string, body io.Reader, contentType string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/api/v1/imports?"+query, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// run uploads an archive, follows the job's event stream to its end and returns the job's
// id and events.
func (s *importServer) run(t *testing.T, query string, archive []byte) (string, []api.JobEvent) {
	t.Helper()
	status, out := s.upload(t, query, bytes.NewReader(archive), "application/x-tar")
	if status != http.StatusAccepted {
		t.Fatalf("upload %s: %d %v", query, status, out)
	}
	id, _ := out["id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var events []api.JobEvent
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/jobs/"+id+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	defer resp.Body.Close()
	last, err := api.ReadJobEvents(resp.Body, func(e api.JobEvent) { events = append(events, e) })
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	if last.State != api.JobSucceeded {
		t.Fatalf("job %s ended %s: %s", id, last.State, last.Error)
	}
	s.waitArchivesGone(t)
	return id, events
}

// waitArchivesGone waits until no archive is left in the imports directory.
func (s *importServer) waitArchivesGone(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		entries, err := os.ReadDir(s.dir)
		if (err != nil && os.IsNotExist(err)) || (err == nil && len(entries) == 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("archives left in %s: %v", s.dir, entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pulled reads repo:tag back from the registry and checks every blob of it.
func pulled(t *testing.T, base, where string) *remote.Descriptor {
	t.Helper()
	d, err := remote.Get(ref(t, base, where))
	if err != nil {
		t.Fatalf("%s is not in the registry: %v", where, err)
	}
	if d.MediaType.IsIndex() {
		idx, err := d.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		// validate.Index wants platform fields in random images' configs: check each image.
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range im.Manifests {
			img, err := idx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Errorf("%s, image %s: %v", where, m.Digest, err)
			}
		}
		return d
	}
	img, err := d.Image()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("%s: %v", where, err)
	}
	return d
}

func configName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// pulledConfig is the config digest of the image at repo:tag.
func pulledConfig(t *testing.T, base, where string) v1.Hash {
	t.Helper()
	img, err := pulled(t, base, where).Image()
	if err != nil {
		t.Fatal(err)
	}
	return configName(t, img)
}

func TestImportDockerSave(t *testing.T) {
	base := registrytest.Open(t)
	s := newImportServer(t, base, client(t, base), 0)
	one, two := randomImage(t, 32<<10, 3), randomImage(t, 8<<10, 2)

	// Written by hand the way docker save lays it out; the RepoTags' tag part is used.
	id, events := s.run(t, "repository=team/app", dockerSave(t, savedImage{one, []string{"docker.io/library/app:1.0"}}))
	if got := pulledConfig(t, base, "team/app:1.0"); got != configName(t, one) {
		t.Errorf("team/app:1.0 has config %s, want %s", got, configName(t, one))
	}
	// The progress stream: phases in order, each blob's progress up to its size, the result.
	var phases []string
	finished := map[string]bool{}
	for _, e := range events {
		switch e.Type {
		case api.EventPhase:
			phases = append(phases, e.Phase)
		case api.EventProgress:
			if e.Done == e.Total && e.Total > 0 {
				finished[e.Blob] = true
			}
		}
	}
	if want := []string{"read", "prepare", "blobs", "manifests", "tag"}; !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if len(finished) != 4 { // three layers and the config
		t.Errorf("%d blobs reported finished, want 4", len(finished))
	}
	last := events[len(events)-1]
	if last.Result == nil || !slices.Equal(last.Result.Tags, []string{"team/app:1.0"}) || last.Result.Blobs != 4 {
		t.Errorf("result %+v", last.Result)
	}
	job, err := s.m.Wait(context.Background(), id)
	if err != nil || job.Kind != api.JobImport || !strings.Contains(job.Summary, "team/app:1.0") {
		t.Errorf("job %+v (%v)", job, err)
	}

	// With tag= and one image, that tag only; gzip-compressed on the wire.
	s.run(t, "repository=team/app&tag=given", gzipped(t, dockerSave(t, savedImage{two, []string{"other:1"}})))
	if got := pulledConfig(t, base, "team/app:given"); got != configName(t, two) {
		t.Errorf("team/app:given has config %s", got)
	}
	if _, err := remote.Head(ref(t, base, "team/app:1")); err == nil {
		t.Error("tag= given, yet the archive's own tag was pushed too")
	}

	// Several images, one of them under two tags: each tag pushed.
	s.run(t, "repository=multi/app", dockerSave(t,
		savedImage{one, []string{"app:a", "registry.example.com:5000/team/app:b"}},
		savedImage{two, []string{"app:c"}}))
	for tag, img := range map[string]v1.Image{"a": one, "b": one, "c": two} {
		if got := pulledConfig(t, base, "multi/app:"+tag); got != configName(t, img) {
			t.Errorf("multi/app:%s has config %s, want %s", tag, got, configName(t, img))
		}
	}

	// go-containerregistry's tarball.Write (layers gzip-compressed) for comparison: its
	// compressed layers are pushed as they are, so the image keeps its digest.
	three := randomImage(t, 16<<10, 2)
	var buf bytes.Buffer
	tag, _ := name.NewTag("example.com/x/y:crane")
	if err := tarball.Write(tag, three, &buf); err != nil {
		t.Fatal(err)
	}
	s.run(t, "repository=team/crane", buf.Bytes())
	want, _ := three.Digest()
	if d := pulled(t, base, "team/crane:crane"); d.Digest != want {
		t.Errorf("tarball.Write archive pushed as %s, want %s", d.Digest, want)
	}
}

func TestImportOCILayout(t *testing.T) {
	base := registrytest.Open(t)
	s := newImportServer(t, base, client(t, base), 0)
	img := randomImage(t, 16<<10, 2)
	idx := platformIndex(t, types.OCIImageIndex)
	s.run(t, "repository=oci/app", ociLayout(t, nil, map[string]mutate.Appendable{"1.0": img, "multi": idx}))
	for tag, want := range map[string]interface{ Digest() (v1.Hash, error) }{"1.0": img, "multi": idx} {
		w, _ := want.Digest()
		if d := pulled(t, base, "oci/app:"+tag); d.Digest != w {
			t.Errorf("oci/app:%s is %s, want %s", tag, d.Digest, w)
		}
	}

	// Docker's containerd image store: a docker save of a manifest list is an OCI layout
	// (index.json → the list → platform images) with a manifest.json beside it; the list is
	// pushed as it is, an index.
	list := platformIndex(t, types.DockerManifestList)
	im, _ := list.IndexManifest()
	mj, _ := json.Marshal([]map[string]any{{"Config": "blobs/sha256/x", "RepoTags": []string{"app:list"}, "Layers": []string{}}})
	s.run(t, "repository=docker/list&tag=v2", ociLayout(t, map[string][]byte{"manifest.json": mj}, map[string]mutate.Appendable{"docker.io/library/app:list": list}))
	want, _ := list.Digest()
	d := pulled(t, base, "docker/list:v2")
	if d.Digest != want || d.MediaType != types.DockerManifestList {
		t.Errorf("docker/list:v2 is %s %s, want the list %s", d.MediaType, d.Digest, want)
	}
	got, _ := d.ImageIndex()
	gm, _ := got.IndexManifest()
	if len(gm.Manifests) != len(im.Manifests) {
		t.Errorf("the list has %d platforms, want %d", len(gm.Manifests), len(im.Manifests))
	}
}

func TestImportRefusesBadArchivesWritingNothing(t *testing.T) {
	base := registrytest.Open(t)
	s := newImportServer(t, base, client(t, base), 0)
	img := randomImage(t, 64<<10, 2)
	good := dockerSave(t, savedImage{img, []string{"app:bad"}})
	layers, _ := img.Layers()
	diffID, _ := layers[1].DiffID()

	corrupt := bytes.Clone(good)
	// Flip a byte inside the second layer's data: find its tar header, then its data.
	at := bytes.Index(corrupt, []byte(diffID.Hex+"/layer.tar"))
	corrupt[at+512+1000] ^= 0xff

	missing := tarFiles(t, []string{"manifest.json"}, map[string][]byte{"manifest.json": []byte(`[{"Config":"c.json","RepoTags":["app:bad"],"Layers":["l/layer.tar"]}]`)})
	oci := ociLayout(t, nil, map[string]mutate.Appendable{"bad": img})
	ociTruncated := oci[:len(oci)*2/3]
	layerDigest, _ := layers[0].Digest()
	ociCorrupt := bytes.Clone(oci)
	at = bytes.Index(ociCorrupt, []byte("blobs/sha256/"+layerDigest.Hex))
	ociCorrupt[at+512+100] ^= 0xff

	for _, tc := range []struct {
		name, query string
		body        []byte
		want        string
	}{
		{"truncated", "tag=bad", good[:len(good)/2], "truncated"},
		{"truncated gzip", "tag=bad", gzipped(t, good)[:len(good)/4], "truncated"},
		{"corrupt layer", "tag=bad", corrupt, "is corrupt"},
		{"missing config", "", missing, "c.json is missing"},
		{"not a tar", "tag=bad", []byte("hello, this is not a tar archive at all"), "not a docker save or OCI archive"},
		{"text longer than a tar block", "tag=bad", bytes.Repeat([]byte("not a tar archive either\n"), 100), "not a docker save or OCI archive"},
		{"empty file", "tag=bad", nil, "not a docker save or OCI archive"},
		{"tar of other files", "", tarFiles(t, []string{"README"}, map[string][]byte{"README": []byte("hello")}), "not a docker save or OCI archive"},
		{"truncated layout", "tag=bad", ociTruncated, "truncated"},
		{"corrupt layout blob", "", ociCorrupt, "is corrupt"},
		{"tag for several images", "tag=bad", dockerSave(t, savedImage{img, []string{"a:1"}}, savedImage{randomImage(t, 1024, 1), []string{"a:2"}}), "holds 2 images"},
		{"no tag at all", "", dockerSave(t, savedImage{img, nil}), "names no tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := s.upload(t, "repository=bad/app&"+tc.query, bytes.NewReader(tc.body), "application/x-tar")
			msg, _ := out["error"].(map[string]any)["message"].(string)
			if status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Errorf("%d %q, want 400 saying %q", status, msg, tc.want)
			}
			s.waitArchivesGone(t)
		})
	}
	if tags, err := remote.List(ref(t, base, "bad/app:x").Context()); err == nil || len(tags) > 0 {
		t.Errorf("bad/app has tags %v after refused imports (%v)", tags, err)
	}
	// A job request cannot name an archive: only an upload starts an import.
	if _, err := s.m.Submit(context.Background(), api.JobRequest{Kind: api.JobImport, Repository: "bad/app", Archive: "0123456789abcdef0123456789abcdef.tar"}); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("an import through POST /api/v1/jobs: %v, want 400", err)
	}
}

func isStatus(err error, status int) bool {
	var he *httperr.Error
	return errors.As(err, &he) && he.Code.Status() == status
}

func TestImportSizeCapAndAnonymous(t *testing.T) {
	base := registrytest.Open(t)
	s := newImportServer(t, base, client(t, base), 64<<10)
	big := dockerSave(t, savedImage{randomImage(t, 128<<10, 1), []string{"app:big"}})
	// Announced by Content-Length, and streamed without one (chunked), and gzip that
	// inflates past the cap.
	for name, body := range map[string]io.Reader{
		"content-length": bytes.NewReader(big),
		"chunked":        io.MultiReader(bytes.NewReader(big)),
		"gzip":           bytes.NewReader(gzipped(t, big)),
	} {
		status, out := s.upload(t, "repository=big/app", body, "application/x-tar")
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %v, want 413", name, status, out)
		}
	}
	s.waitArchivesGone(t)
	if status, _ := s.upload(t, "repository=big/app", bytes.NewReader(big), "text/plain"); status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain upload: %d, want 415", status)
	}

	// A registry that does not let Berth write on its own: an anonymous upload is refused
	// before its body is read.
	anon, err := registry.New(registry.Options{URL: base, PerUser: true})
	if err != nil {
		t.Fatal(err)
	}
	a := newImportServer(t, base, anon, 0)
	status, out := a.upload(t, "repository=anon/app&tag=x", bytes.NewReader(big), "application/x-tar")
	if status != http.StatusUnauthorized {
		t.Errorf("anonymous upload: %d %v, want 401", status, out)
	}
	if _, err := remote.Head(ref(t, base, "anon/app:x")); err == nil {
		t.Error("the anonymous upload was pushed")
	}
	if entries, _ := os.ReadDir(a.dir); len(entries) > 0 {
		t.Errorf("the anonymous upload left %d files", len(entries))
	}
}

// TestCancelImportLeavesNoTag: an import cancelled while a blob is on its way writes no
// tag, and its archive is removed.
func TestCancelImportLeavesNoTag(t *testing.T) {
	base := serveRegistry(t, slowUploads)
	s := newImportServer(t, base, client(t, base), 0)
	big, err := random.Layer(16<<20, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, big)
	if err != nil {
		t.Fatal(err)
	}
	status, out := s.upload(t, "repository=big/app", bytes.NewReader(ociLayout(t, nil, map[string]mutate.Appendable{"v1": img})), "application/x-tar")
	if status != http.StatusAccepted {
		t.Fatalf("upload: %d %v", status, out)
	}
	id, _ := out["id"].(string)
	// Wait until bytes of the big layer are on their way, then cancel.
	deadline := time.Now().Add(time.Minute)
	for {
		info, _, err := s.m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != api.JobRunning {
			t.Fatalf("the import ended (%s) before it could be cancelled", info.State)
		}
		if info.Done > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok, err := s.m.Cancel(context.Background(), id); !ok || err != nil {
		t.Fatalf("cancel: %v, %v", ok, err)
	}
	if info := wait(t, s.m, id); info.State != api.JobCancelled {
		t.Fatalf("state %s (%s), want cancelled", info.State, info.Error)
	}
	if _, err := remote.Head(ref(t, base, "big/app:v1")); err == nil {
		t.Error("the cancelled import wrote its tag")
	}
	s.waitArchivesGone(t)
}
