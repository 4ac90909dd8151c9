package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sirupsen/logrus"

	"github.com/berth-registry/berth/server/embedded"
)

// serve starts a registry on dir behind httptest and returns its host:port.
func serve(t *testing.T, dir string) string {
	t.Helper()
	reg, err := embedded.New(t.Context(), dir)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := reg.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(t *testing.T, ref string) v1.Hash {
	t.Helper()
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRegistry(t *testing.T) {
	dir := t.TempDir()
	host := serve(t, dir)
	reg, err := name.NewRegistry(host, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}

	digests := map[string]v1.Hash{}
	for _, ref := range []string{"library/alpine:3.21", "library/alpine:latest", "team/api/server:v1", "zeta:1"} {
		digests[ref] = push(t, host+"/"+ref)
	}

	t.Run("read back", func(t *testing.T) {
		for ref, want := range digests {
			r, err := name.ParseReference(host+"/"+ref, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Get(r, remote.WithContext(t.Context()))
			if err != nil {
				t.Fatalf("Get %s: %v", ref, err)
			}
			if desc.Digest != want {
				t.Errorf("Get %s = %s, want %s", ref, desc.Digest, want)
			}
		}
	})

	t.Run("catalog pagination", func(t *testing.T) {
		tests := []struct {
			last string
			n    int
			want []string
		}{
			{"", 2, []string{"library/alpine", "team/api/server"}},
			{"team/api/server", 2, []string{"zeta"}},
			{"", 100, []string{"library/alpine", "team/api/server", "zeta"}},
		}
		for _, tt := range tests {
			got, err := remote.CatalogPage(reg, tt.last, tt.n, remote.WithContext(t.Context()))
			if err != nil {
				t.Fatalf("CatalogPage(%q, %d): %v", tt.last, tt.n, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("CatalogPage(%q, %d) = %v, want %v", tt.last, tt.n, got, tt.want)
			}
		}
	})

	t.Run("tags", func(t *testing.T) {
		repo, err := name.NewRepository(host+"/library/alpine", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.List(repo, remote.WithContext(t.Context()))
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if want := []string{"3.21", "latest"}; !slices.Equal(got, want) {
			t.Errorf("tags = %v, want %v", got, want)
		}
	})

	t.Run("delete manifest", func(t *testing.T) {
		ref, err := name.NewDigest(host+"/zeta@"+digests["zeta:1"].String(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Delete(ref, remote.WithContext(t.Context())); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err = remote.Get(ref, remote.WithContext(t.Context()))
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
			t.Errorf("Get after delete: err = %v, want 404", err)
		}
	})

	t.Run("persists across restart", func(t *testing.T) {
		host2 := serve(t, dir)
		ref, err := name.NewTag(host2+"/team/api/server:v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref, remote.WithContext(t.Context()))
		if err != nil {
			t.Fatalf("Get after restart: %v", err)
		}
		if want := digests["team/api/server:v1"]; desc.Digest != want {
			t.Errorf("digest after restart = %s, want %s", desc.Digest, want)
		}
	})
}

func TestNewBadDir(t *testing.T) {
	// A regular file where the storage root should be.
	file := t.TempDir() + "/file"
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.New(context.Background(), file); err == nil {
		t.Error("New on a regular file: want error")
	}
}

func TestLogsGoToSlog(t *testing.T) {
	serve(t, t.TempDir())

	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	// distribution's storage code logs through the logrus standard logger directly.
	logrus.WithField("k", "v").Info("hello from distribution")
	if got := buf.String(); !strings.Contains(got, "hello from distribution") || !strings.Contains(got, "k=v") ||
		!strings.Contains(got, "level=DEBUG") {
		t.Errorf("slog output = %q, want the logrus line at debug level", got)
	}
}
