package scan

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// TestScanAttach: with Attach, a scan pushes its SPDX SBOM and its vulnerability report as
// referrers of the image — through the referrers API on distribution 3, the fallback tag on
// 2.8 — and a document someone else attached before is still listed beside them.
func TestScanAttach(t *testing.T) {
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
			img := fixtureImage(t, alpineFiles())
			push(t, reg.Host+"/team/app:1", img)
			d, _ := img.Digest()
			m, _ := img.Manifest()
			subject := v1.Descriptor{MediaType: m.MediaType, Digest: d, Size: mustSize(t, img)}
			theirs, err := artifact(subject, "application/vnd.example.sbom+json", "application/vnd.cyclonedx+json", []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5"}`), store.ScanReport{Scanned: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			writer := registrytest.NewClient(t, registry.Options{URL: reg.URL, ServiceWrites: true})
			w, err := writer.Writer(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.PushReferrer(t.Context(), "team/app", theirs); err != nil {
				t.Fatal(err)
			}
			st, svc := newService(t, reg.URL, func(o *Options) { o.Attach = writer })
			load(t, st, osvArchive(t, advisory("ALPINE-TEST-1", "Alpine:v3.20", "busybox", "1.36.1-r30", "CRITICAL")))
			if _, err := svc.Enqueue(t.Context(), "team/app", d.String()); err != nil {
				t.Fatal(err)
			}
			waitReport(t, st, d.String(), func(r store.ScanReport) bool { return r.Critical == 1 })
			ref, _ := name.NewDigest(reg.Host+"/team/app@"+d.String(), name.Insecure)
			want := []string{ArtifactSBOM, ArtifactReport, "application/vnd.example.sbom+json"} // sorted
			var got []string
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				idx, err := remote.Referrers(ref)
				if err != nil {
					t.Fatal(err)
				}
				im, _ := idx.IndexManifest()
				got = got[:0]
				for _, m := range im.Manifests {
					got = append(got, m.ArtifactType)
				}
				slices.Sort(got)
				if slices.Equal(got, want) {
					return
				}
			}
			t.Fatalf("referrers' artifact types %v, want %v", got, want)
		})
	}
}

func mustSize(t *testing.T, img v1.Image) int64 {
	n, err := img.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
