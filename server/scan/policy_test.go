package scan

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/proxy"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// TestPullPolicy pulls through Berth's /v2 proxy: an image with a critical finding is
// refused in the registry's error format with the policy's message, a clean one passes, on
// distribution 3 and 2.8.
func TestPullPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  func(t *testing.T) registrytest.Registry
	}{
		{"distribution3", func(t *testing.T) registrytest.Registry { return registrytest.Distribution3(t) }},
		{"distribution2.8", func(t *testing.T) registrytest.Registry {
			return registrytest.Distribution28(t, registrytest.Config28{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := tc.reg(t)
			vulnerable, clean := fixtureImage(t, alpineFiles()), fixtureImage(t, debianFiles())
			for tag, img := range map[string]v1.Image{"vulnerable": vulnerable, "clean": clean} {
				ref, _ := name.ParseReference(reg.Host+"/team/app:"+tag, name.Insecure)
				if err := remote.Write(ref, img); err != nil {
					t.Fatal(err)
				}
			}
			st, svc := newService(t, reg.URL)
			load(t, st, osvArchive(t, advisory("ALPINE-TEST-1", "Alpine:v3.20", "busybox", "1.36.1-r30", "CRITICAL")))
			for _, img := range []v1.Image{vulnerable, clean} {
				d, _ := img.Digest()
				if _, err := svc.Enqueue(t.Context(), "team/app", d.String()); err != nil {
					t.Fatal(err)
				}
				waitReport(t, st, d.String(), func(store.ScanReport) bool { return true })
			}
			up, _ := url.Parse(reg.URL)
			px, err := proxy.New(proxy.Options{Upstream: up, Timeout: 5 * time.Second, Admit: svc.Admit("high")})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(px)
			t.Cleanup(srv.Close)
			get := func(tag string) (*http.Response, string) {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/team/app/manifests/"+tag, nil)
				req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct {
					Errors []struct{ Code, Message string } `json:"errors"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&body)
				if len(body.Errors) > 0 {
					return resp, body.Errors[0].Code + ": " + body.Errors[0].Message
				}
				return resp, ""
			}
			resp, msg := get("vulnerable")
			if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(msg, "DENIED: ") || !strings.Contains(msg, `pull policy "severity below high"`) {
				t.Fatalf("vulnerable: %d %q", resp.StatusCode, msg)
			}
			if resp, msg := get("clean"); resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") == "" {
				t.Fatalf("clean: %d %q", resp.StatusCode, msg)
			}
		})
	}
}
