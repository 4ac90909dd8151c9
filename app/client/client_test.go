package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
)

func TestBerthErrorsCarryCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/manifests/gone"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"NOT_FOUND","message":"no tag gone"}}`))
		case r.URL.Path == "/api/v1/session":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"INVALID_CREDENTIALS","message":"rejected"}}`))
		default:
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte(`<html>teapot</html>`))
		}
	}))
	defer srv.Close()
	c := New(srv.URL, false)
	ctx := context.Background()

	_, err := c.Manifest(ctx, "library/alpine", "gone")
	if api.ErrorCode(err) != api.CodeNotFound || !NotFound(err) || err.Error() != "no tag gone" {
		t.Errorf("missing tag: %v (code %q)", err, api.ErrorCode(err))
	}
	if _, err := c.Session(ctx); !Unauthorized(err) || api.ErrorCode(err) != api.CodeInvalidCredentials {
		t.Errorf("rejected credentials: %v, want an INVALID_CREDENTIALS error that asks for sign-in", err)
	}
	if _, err := c.Stats(ctx, "7d"); api.ErrorCode(err) != api.CodeBadResponse || Offline(err) {
		t.Errorf("non-JSON error answer: %v (code %q)", err, api.ErrorCode(err))
	}
}

func TestDirectReadsARegistry(t *testing.T) {
	reg := httptest.NewServer(registry.New())
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	for _, ref := range []string{"library/alpine:3", "library/alpine:latest", "team/app:v1"} {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		r, err := name.ParseReference(host + "/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	var c Client = New(reg.URL, true)
	if _, ok := c.(*Direct); !ok {
		t.Fatalf("New(direct) = %T", c)
	}
	ctx := context.Background()
	repos, err := c.Repositories(ctx, api.RepositoryQuery{Query: "alp", Limit: 10})
	if err != nil || repos.Total != 1 || repos.Repositories[0].Name != "library/alpine" {
		t.Fatalf("filtered catalog %+v, %v", repos, err)
	}
	tags, err := c.Tags(ctx, "library/alpine", 0, 10)
	if err != nil || len(tags.Tags) != 2 || tags.PullHost != host {
		t.Fatalf("tags %+v, %v", tags, err)
	}
	for _, tg := range tags.Tags {
		if !strings.HasPrefix(tg.Digest, "sha256:") || tg.Kind != "image" || tg.Error != "" {
			t.Errorf("tag not resolved: %+v", tg)
		}
	}
	if !c.Reachable(ctx) {
		t.Error("registry not reachable")
	}
	// What needs a Berth server says so, with its code, instead of failing obscurely.
	if _, err := c.Manifest(ctx, "library/alpine", "3"); api.ErrorCode(err) != api.CodeDirectMode {
		t.Errorf("manifest in direct mode: %v", err)
	}
	if _, err := c.StartJob(ctx, api.JobRequest{Kind: api.JobDelete}); api.ErrorCode(err) != api.CodeDirectMode {
		t.Errorf("job in direct mode: %v", err)
	}
}
