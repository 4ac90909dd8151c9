package contents

import (
	"context"

	"github.com/berth-registry/berth/app/api"
)

// Scans are Berth's own scan reports (server/scan), shown beside the documents others
// attached, with their source.
type Scans interface {
	// Report is Berth's report of digest; the caller checked access to repository.
	Report(ctx context.Context, repository, digest string) (api.ScanReport, error)
}

// ownSeverities adds Berth's report of digest, if it has one with findings matched, to sev.
func (s *Service) ownSeverities(ctx context.Context, repo, digest string, sev *api.Severities) {
	if s.scans == nil {
		return
	}
	r, err := s.scans.Report(ctx, repo, digest)
	if err != nil || r.Severities.Reports == 0 {
		return
	}
	sev.Reports++
	sev.Critical += r.Severities.Critical
	sev.High += r.Severities.High
	sev.Medium += r.Severities.Medium
	sev.Low += r.Severities.Low
	sev.Unknown += r.Severities.Unknown
}

// ownDocument adds Berth's report of the image to the supply chain: a vulnerability document
// whose format names Berth as its source, and its findings. A platform of an index without a
// report of its own shows the index's (a push scans the index, every platform in one report).
func (s *Service) ownDocument(ctx context.Context, out *api.SupplyChain, index string) {
	if s.scans == nil {
		return
	}
	digest := out.Digest
	r, err := s.scans.Report(ctx, out.Repository, digest)
	if err == nil && r.State == api.ScanNotScanned && index != "" {
		digest = index
		r, err = s.scans.Report(ctx, out.Repository, digest)
	}
	if err != nil || r.State == api.ScanNotScanned {
		return
	}
	doc := api.SupplyDocument{Digest: digest, Kind: "vulnerabilities", Format: api.BerthScanFormat,
		Created: r.Scanned, Packages: r.Packages, Findings: len(r.Findings), Error: r.Error}
	if r.Error == "" && r.Severities.Reports == 0 {
		doc.Error = "no vulnerability database is loaded: packages only"
	}
	out.Documents = append(out.Documents, doc)
	if doc.Error != "" {
		return
	}
	out.Severities.Reports++
	count(&out.Severities, r.Findings)
	for _, f := range r.Findings {
		f.Source = api.ReportSource(doc.Format)
		out.Findings = append(out.Findings, f)
	}
}
