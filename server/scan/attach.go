package scan

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/server/store"
)

// The artifact types of what --scan-attach pushes: the SBOM as SPDX 2.3 JSON, and the
// vulnerability report as a CycloneDX 1.5 document listing the findings.
const (
	ArtifactSBOM   = "application/spdx+json"
	ArtifactReport = "application/vnd.berth.vulnerability-report.v1+json"
	cycloneDXType  = "application/vnd.cyclonedx+json"
	// sourceAnnotation names who made an attached document, for the UI and other tools.
	sourceAnnotation = "dev.berth.scan.source"
)

// attach pushes r's SBOM (single images only) and vulnerability report as referrers of the
// image, as Berth itself (Options.Attach); failures are logged, the report stays stored.
func (s *Service) attach(ctx context.Context, repository string, r store.ScanReport) {
	if s.opts.Attach == nil || r.Error != "" || r.DBVersion == "" {
		return
	}
	if err := s.attachReport(ctx, repository, r); err != nil {
		slog.WarnContext(ctx, "scan results not attached", "repository", repository, "digest", r.Digest, "err", err)
	}
}

func (s *Service) attachReport(ctx context.Context, repository string, r store.ScanReport) error {
	m, err := s.opts.Own.Get(ctx, repository, r.Digest)
	if err != nil {
		return err
	}
	subject := v1.Descriptor{MediaType: m.Descriptor.MediaType, Digest: m.Descriptor.Digest, Size: m.Descriptor.Size}
	report, err := vulnerabilityReport(r)
	if err != nil {
		return err
	}
	docs := []struct {
		artifactType, layerType string
		body                    []byte
	}{{ArtifactReport, cycloneDXType, report}}
	if len(r.SPDX) > 0 {
		docs = append(docs, struct {
			artifactType, layerType string
			body                    []byte
		}{ArtifactSBOM, ArtifactSBOM, r.SPDX})
	}
	w, err := s.opts.Attach.Writer(ctx)
	if err != nil {
		return err
	}
	for _, d := range docs {
		img, err := artifact(subject, d.artifactType, d.layerType, d.body, r)
		if err != nil {
			return err
		}
		if _, err := w.PushReferrer(ctx, repository, img); err != nil {
			return err
		}
	}
	return nil
}

// artifact is an OCI artifact manifest of one document referring to subject; its config's
// media type is the artifact type, which registries and go-containerregistry's fallback
// index report as artifactType.
func artifact(subject v1.Descriptor, artifactType, layerType string, body []byte, r store.ScanReport) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.MediaType(artifactType))
	img, err := mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(body, types.MediaType(layerType))})
	if err != nil {
		return nil, err
	}
	img = mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.created": r.Scanned.UTC().Format("2006-01-02T15:04:05Z"),
		sourceAnnotation:                   "Berth scan (OSV), database " + r.DBVersion,
	}).(v1.Image)
	return mutate.Subject(img, subject).(v1.Image), nil
}

// vulnerabilityReport writes r's findings as a CycloneDX 1.5 document (cyclonedx-go).
func vulnerabilityReport(r store.ScanReport) ([]byte, error) {
	bom := cyclonedx.NewBOM()
	bom.Metadata = &cyclonedx.Metadata{Timestamp: r.Scanned.UTC().Format("2006-01-02T15:04:05Z"),
		Tools: &cyclonedx.ToolsChoice{Components: &[]cyclonedx.Component{{Type: cyclonedx.ComponentTypeApplication, Name: "Berth scan (OSV)"}}}}
	components := []cyclonedx.Component{}
	vulns := []cyclonedx.Vulnerability{}
	for i, f := range r.Findings {
		ref := fmt.Sprintf("pkg-%d", i+1)
		components = append(components, cyclonedx.Component{BOMRef: ref, Type: cyclonedx.ComponentTypeLibrary, Name: f.Package, Version: f.Version})
		v := cyclonedx.Vulnerability{ID: f.ID, Description: f.Summary,
			Ratings:    &[]cyclonedx.VulnerabilityRating{{Severity: cyclonedx.Severity(f.Severity)}},
			Affects:    &[]cyclonedx.Affects{{Ref: ref}},
			Advisories: &[]cyclonedx.Advisory{{URL: AdvisoryURL(f.ID)}}}
		if f.Fixed != "" {
			v.Recommendation = "Upgrade " + f.Package + " to " + f.Fixed
		}
		vulns = append(vulns, v)
	}
	bom.Components, bom.Vulnerabilities = &components, &vulns
	var b bytes.Buffer
	if err := cyclonedx.NewBOMEncoder(&b, cyclonedx.BOMFileFormatJSON).EncodeVersion(bom, cyclonedx.SpecVersion1_5); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
