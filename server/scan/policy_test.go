package scan

import (
	"context"
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

// TestPullPolicy pulls through Berth's /v2 proxy on distribution 3 and 2.8: with the global
// severity policy, an image with a critical finding is refused in the registry's error format
// with the policy's message and a clean one passes; with a namespace's "signature required"
// policy and its key, an image cosign-signed by that key passes, an unsigned one and one
// signed by another key are refused, the latter passing once the policy names no key.
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
			signed, other := fixtureImage(t, map[string][]byte{"a": []byte("signed")}), fixtureImage(t, map[string][]byte{"a": []byte("other")})
			images := map[string]v1.Image{"vulnerable": vulnerable, "clean": clean, "signed": signed, "other": other}
			for tag, img := range images {
				push(t, reg.Host+"/team/app:"+tag, img)
			}
			key, pub := registrytest.SigningKey(t)
			wrong, _ := registrytest.SigningKey(t)
			registrytest.CosignSign(t, reg.Host+"/team/app", signed, key)
			registrytest.CosignSign(t, reg.Host+"/team/app", other, wrong)

			st, svc := newService(t, reg.URL)
			load(t, st, osvArchive(t, advisory("ALPINE-TEST-1", "Alpine:v3.20", "busybox", "1.36.1-r30", "CRITICAL")))
			for _, img := range []v1.Image{vulnerable, clean} {
				d, _ := img.Digest()
				if _, err := svc.Enqueue(t.Context(), "team/app", d.String()); err != nil {
					t.Fatal(err)
				}
				waitReport(t, st, d.String(), func(store.ScanReport) bool { return true })
			}
			global := pullThrough(t, reg.URL, svc.Admit(Policies{Global: Policy{Severity: "high"}}))
			if status, msg := global("vulnerable"); status != http.StatusForbidden || !strings.HasPrefix(msg, "DENIED: ") || !strings.Contains(msg, `pull policy "severity below high" (global)`) {
				t.Fatalf("vulnerable: %d %q", status, msg)
			}
			if status, msg := global("clean"); status != http.StatusOK {
				t.Fatalf("clean: %d %q", status, msg)
			}

			policy := store.PullPolicy{Namespace: "team", Signed: true, Keys: pub}
			lookup := func(_ context.Context, repository string) (store.PullPolicy, bool, error) {
				return policy, strings.HasPrefix(repository, "team/"), nil
			}
			ns := pullThrough(t, reg.URL, svc.Admit(Policies{Lookup: lookup}))
			if status, msg := ns("signed"); status != http.StatusOK {
				t.Fatalf("signed: %d %q", status, msg)
			}
			if status, msg := ns("clean"); status != http.StatusForbidden || !strings.Contains(msg, `pull policy "signature required" (of namespace team)`) || !strings.Contains(msg, "has no cosign signature") {
				t.Fatalf("unsigned: %d %q", status, msg)
			}
			if status, msg := ns("other"); status != http.StatusForbidden || !strings.Contains(msg, "no cosign signature by the policy's keys") {
				t.Fatalf("signed by another key: %d %q", status, msg)
			}
			policy.Keys = ""
			if status, msg := ns("other"); status != http.StatusOK {
				t.Fatalf("signed by another key, no keys required: %d %q", status, msg)
			}
		})
	}
}

// pullThrough serves reg's /v2 through Berth's proxy with admit, and returns how a GET of a
// manifest of team/app by tag is answered: its status and the first error's "CODE: message".
func pullThrough(t *testing.T, regURL string, admit proxy.Admit) func(tag string) (int, string) {
	up, _ := url.Parse(regURL)
	px, err := proxy.New(proxy.Options{Upstream: up, Timeout: 30 * time.Second, Admit: admit})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(px)
	t.Cleanup(srv.Close)
	return func(tag string) (int, string) {
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
			return resp.StatusCode, body.Errors[0].Code + ": " + body.Errors[0].Message
		}
		if resp.StatusCode == http.StatusOK && resp.Header.Get("Docker-Content-Digest") == "" {
			t.Fatalf("%s: served without its digest", tag)
		}
		return resp.StatusCode, ""
	}
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}
