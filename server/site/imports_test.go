package site_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-registry/berth/app/api"
)

// TestImportsThroughTheSite: POST /api/v1/imports is routed with the caller's principal. With
// service credentials that could push, an anonymous upload is refused with 401 before
// anything reaches the registry; a signed-in user's import runs with that user's credentials.
func TestImportsThroughTheSite(t *testing.T) {
	up := registryWithUsers(t, "admin")
	b := newBerth(t, up, basic("admin"), false)
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	tag, _ := name.NewTag("example.com/app:v1")
	if err := tarball.Write(tag, img, &archive); err != nil {
		t.Fatal(err)
	}
	// The counting Berth rewrites Host, so the registry's upload Locations name the registry
	// itself, where Basic credentials are not sent: signed-in pushes go through one that
	// reaches the registry directly.
	direct := newBerthVia(t, up, basic("admin"), false, false)
	upload := func(b *hardened, user string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, b.url+"/api/v1/imports?repository=imported/app", bytes.NewReader(archive.Bytes()))
		req.Header.Set("Content-Type", "application/x-tar")
		if user != "" {
			req.SetBasicAuth(user, user+"-password")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.Bytes()
	}
	before := b.requests.Load()
	if status, body := upload(b, ""); status != http.StatusUnauthorized || code(body) != api.CodeUnauthorized {
		t.Fatalf("anonymous import: %d %s, want 401", status, body)
	}
	if n := b.requests.Load() - before; n != 0 {
		t.Errorf("the refused import sent %d requests to the registry", n)
	}
	status, body := upload(direct, "admin")
	if status != http.StatusAccepted {
		t.Fatalf("signed-in import: %d %s, want 202", status, body)
	}
	var started api.JobStarted
	_ = json.Unmarshal(body, &started)
	deadline := time.Now().Add(time.Minute)
	var job api.Job
	for {
		_, body := direct.call(t, http.MethodGet, "/api/v1/jobs/"+started.ID, "admin", nil)
		_ = json.Unmarshal(body, &job)
		if job.State != api.JobRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if job.State != api.JobSucceeded || job.Kind != api.JobImport || job.User != "admin" {
		t.Fatalf("import job %+v", job)
	}
	r, _ := name.ParseReference(strings.TrimPrefix(up, "http://")+"/imported/app:v1", name.Insecure)
	d, err := remote.Head(r, remote.WithAuth(basic("admin")))
	if want, _ := img.Digest(); err != nil || d.Digest != want {
		t.Errorf("imported/app:v1: %v (%v), want %s", d, err, want)
	}
}
