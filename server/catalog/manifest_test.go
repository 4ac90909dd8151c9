package catalog_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestManifestDetails reads the demo's image, index, signed image and artifacts in depth.
func TestManifestDetails(t *testing.T) {
	host := seededRegistry(t)
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host}), PullHost: "registry.example.com"})
	ctx := t.Context()

	t.Run("image with history, labels and referrers", func(t *testing.T) {
		m, err := svc.Manifest(ctx, "team/api/server", "v1.2.0")
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != "image" || m.Image == nil || m.PullHost != "registry.example.com" || m.Raw == "" || m.Image.RawConfig == "" {
			t.Fatalf("manifest = %+v", m)
		}
		c := m.Image.Config
		if c.OS != "linux" || len(c.Entrypoint) == 0 || len(c.Env) == 0 || c.Labels["org.opencontainers.image.version"] != "v1.2.0" || len(c.ExposedPorts) == 0 {
			t.Errorf("config = %+v", c)
		}
		var empty, filled int
		for _, h := range m.Image.History {
			switch {
			case h.EmptyLayer && h.Layer == -1:
				empty++
			case !h.EmptyLayer && h.Layer >= 0 && h.Layer < len(m.Image.Layers):
				filled++
			default:
				t.Errorf("history step %+v does not line up with %d layers", h, len(m.Image.Layers))
			}
		}
		if filled != len(m.Image.Layers) || empty == 0 {
			t.Errorf("%d layer steps for %d layers, %d empty steps", filled, len(m.Image.Layers), empty)
		}
		var sig, sbom bool
		for _, r := range m.Referrers {
			sig = sig || strings.HasSuffix(r.Tag, ".sig") && strings.Contains(r.ArtifactType, "cosign")
			sbom = sbom || r.ArtifactType == "application/spdx+json" && !r.Created.IsZero() && r.Size > 0
		}
		if !sig || !sbom || m.ReferrersError != "" {
			t.Errorf("referrers %+v (error %q): want the cosign signature and the SPDX SBOM", m.Referrers, m.ReferrersError)
		}
	})

	t.Run("index and one of its platforms by digest", func(t *testing.T) {
		m, err := svc.Manifest(ctx, "library/alpine", "3.21")
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != "index" || len(m.Platforms) != 3 || m.Image != nil {
			t.Fatalf("index = kind %s, %d platforms", m.Kind, len(m.Platforms))
		}
		child, err := svc.Manifest(ctx, "library/alpine", m.Platforms[2].Digest)
		if err != nil {
			t.Fatal(err)
		}
		if child.Kind != "image" || child.Image.Config.Architecture != m.Platforms[2].Architecture || child.Digest != m.Platforms[2].Digest {
			t.Errorf("platform %s: kind %s, arch %s", m.Platforms[2], child.Kind, child.Image.Config.Architecture)
		}
	})

	t.Run("Helm chart and an artifact of unknown type", func(t *testing.T) {
		for _, tc := range []struct{ repo, tag, want, blob string }{
			{"charts/berth-demo", "0.1.0", "application/vnd.cncf.helm.config.v1+json", "application/vnd.cncf.helm.chart.content.v1.tar+gzip"},
			{"policies/admission", "2025-12", "application/vnd.example.policy.v1+json", "application/vnd.example.policy.v1+json"},
		} {
			m, err := svc.Manifest(ctx, tc.repo, tc.tag)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != "artifact" || m.ArtifactType != tc.want || len(m.Blobs) != 1 || m.Blobs[0].MediaType != tc.blob || m.Image != nil {
				t.Errorf("%s:%s = kind %q type %q blobs %+v", tc.repo, tc.tag, m.Kind, m.ArtifactType, m.Blobs)
			}
		}
	})

	t.Run("bad references", func(t *testing.T) {
		for _, tc := range []struct {
			ref    string
			status int
		}{
			{"sha256:" + strings.Repeat("0", 64), http.StatusNotFound},
			{"sha256:nothex", http.StatusBadRequest},
			{"no-such-tag", http.StatusNotFound},
			{"bad tag!", http.StatusBadRequest},
		} {
			_, err := svc.Manifest(ctx, "library/alpine", tc.ref)
			var he *httperr.Error
			if !errors.As(err, &he) || he.Status != tc.status || he.Message == "" {
				t.Errorf("%q: %v, want status %d with a message", tc.ref, err, tc.status)
			}
		}
	})
}

// TestSchema1IsShownWithANote serves a legacy Docker schema 1 manifest. No registry that runs
// here still accepts schema 1 pushes, so a minimal handler plays a registry that kept one.
func TestSchema1IsShownWithANote(t *testing.T) {
	const mt = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	body := []byte(`{"schemaVersion":1,"name":"legacy/app","tag":"v1","architecture":"amd64","fsLayers":[{"blobSum":"sha256:` + strings.Repeat("a", 64) + `"}],"history":[{"v1Compatibility":"{}"}]}`)
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
			w.WriteHeader(http.StatusOK)
		case "/v2/legacy/app/tags/list":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"name":"legacy/app","tags":["v1"]}`))
		case "/v2/legacy/app/manifests/v1", "/v2/legacy/app/manifests/" + digest:
			w.Header().Set("Content-Type", mt)
			w.Header().Set("Docker-Content-Digest", digest)
			w.Header().Set("Content-Length", "0")
			if r.Method == http.MethodGet {
				w.Header().Del("Content-Length")
				w.Write(body)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: srv.URL})})
	page, err := svc.Tags(t.Context(), "legacy/app", catalog.TagQuery{Offset: 0, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tags) != 1 || page.Tags[0].Kind != "schema1" || !strings.Contains(page.Tags[0].Error, "schema 1") {
		t.Fatalf("tag = %+v, want kind schema1 with a note", page.Tags)
	}
	m, err := svc.Manifest(t.Context(), "legacy/app", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "schema1" || !strings.Contains(m.Note, "schema 1") || m.Raw != string(body) {
		t.Fatalf("manifest = kind %q note %q", m.Kind, m.Note)
	}
}
