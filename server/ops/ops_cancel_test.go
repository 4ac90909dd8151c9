package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// slowUploads delays every upload body read, so a large copy takes seconds.
func slowUploads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch || (r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/")) {
			r.Body = &slowReader{r: r.Body, ctx: r.Context()}
		}
		next.ServeHTTP(w, r)
	})
}

type slowReader struct {
	r   io.ReadCloser
	ctx context.Context
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	select {
	case <-time.After(5 * time.Millisecond): // about 12 MiB/s
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
	return s.r.Read(p)
}

func (s *slowReader) Close() error { return s.r.Close() }

// serveRegistry starts an embedded registry behind wrap.
func serveRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	return registrytest.Wrapped(t, wrap).URL
}

func TestCancelLargeCopyLeavesNoTag(t *testing.T) {
	a := registrytest.Open(t)
	var sessions sync.Map // upload session URLs the destination opened
	b := serveRegistry(t, func(next http.Handler) http.Handler {
		return slowUploads(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
				if loc := w.Header().Get("Location"); loc != "" {
					sessions.Store(loc, true)
				}
			}
		}))
	})
	big, err := random.Layer(64<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, big)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, a, "big/image:v1"), img); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, options(t, a))
	id, err := m.Submit(context.Background(), api.JobRequest{Kind: api.JobCopy, Source: "big/image:v1", Destination: "big/image:v1", DestinationRegistry: b})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until bytes of the big layer are on their way, then cancel.
	deadline := time.Now().Add(time.Minute)
	for {
		info, _, err := m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != api.JobRunning {
			t.Fatalf("the copy ended (%s) before it could be cancelled", info.State)
		}
		if info.Done > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok, err := m.Cancel(context.Background(), id); !ok || err != nil {
		t.Fatalf("cancel: %v, %v", ok, err)
	}
	if info := wait(t, m, id); info.State != api.JobCancelled {
		t.Fatalf("state %s (%s), want cancelled", info.State, info.Error)
	}
	_, err = remote.Head(ref(t, b, "big/image:v1"))
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		t.Fatalf("after cancelling, the destination tag answers %v; want 404", err)
	}
	// The upload session of the blob under way was deleted, not left to the registry's purge.
	n := 0
	sessions.Range(func(k, _ any) bool {
		n++
		loc, _ := url.Parse(k.(string))
		resp, err := http.Get(b + loc.RequestURI())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("upload session %s answers %d after the cancel, want 404", loc.Path, resp.StatusCode)
		}
		return true
	})
	if n == 0 {
		t.Error("the destination saw no upload session")
	}
}
