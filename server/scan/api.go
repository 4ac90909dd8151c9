package scan

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Source names Berth's own reports beside those attached by others.
const Source = "Berth"

// ServeStart queues a scan of the image a repository and reference name (POST
// /api/v1/scans): anyone who may push to the repository may have it scanned (a scan is
// work done on the repository's behalf; readers and read-only tokens see reports only).
func (s *Service) ServeStart(w http.ResponseWriter, r *http.Request) {
	var req api.ScanRequest
	if err := httperr.DecodeJSON(w, r, 4096, "the scan request", &req); err != nil {
		httperr.Write(w, r, err)
		return
	}
	digest, err := s.resolve(r.Context(), req.Repository, req.Reference, access.Pull|access.Push)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	id, err := s.enqueue(r.Context(), access.From(r.Context()).Name, req.Repository, digest)
	if err != nil {
		httperr.Write(w, r, httperr.Wrap(api.CodeStoreUnavailable, "The scan could not be queued; try again shortly.", err))
		return
	}
	httperr.WriteJSON(w, http.StatusAccepted, api.ScanReport{Repository: req.Repository, Digest: digest,
		State: api.ScanQueued, Job: strconv.FormatInt(id, 10), Source: Source, Findings: []api.Finding{}})
}

// resolve checks the caller may do want to repository and returns the digest reference
// names, asked of the registry with the caller's own access.
func (s *Service) resolve(ctx context.Context, repository, reference string, want access.Actions) (string, error) {
	if err := registry.ValidateRepository(repository); err != nil {
		return "", err
	}
	if err := s.opts.Authorizer.Authorize(ctx, repository, want); err != nil {
		return "", err
	}
	d, err := s.opts.Registry.Head(ctx, repository, reference)
	if err != nil {
		return "", err
	}
	return d.Digest.String(), nil
}

// ServeReport answers Berth's report of an image (GET /api/v1/scans/{digest}?repository=…).
func (s *Service) ServeReport(w http.ResponseWriter, r *http.Request) {
	repository, digest := r.URL.Query().Get("repository"), r.PathValue("digest")
	if _, err := s.resolve(r.Context(), repository, digest, access.Pull); err != nil {
		httperr.Write(w, r, err)
		return
	}
	rep, err := s.Report(r.Context(), repository, digest)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, rep)
}

// Report is Berth's report of digest as the API shows it; the caller checked access.
func (s *Service) Report(ctx context.Context, repository, digest string) (api.ScanReport, error) {
	out := api.ScanReport{Repository: repository, Digest: digest, State: api.ScanNotScanned, Source: Source, Findings: []api.Finding{}}
	db, ok, err := s.opts.Store.VulnDBState(ctx)
	if err != nil {
		return out, storeError(err)
	}
	if ok {
		out.Database = Status(db, time.Now())
	}
	rep, found, err := s.opts.Store.ScanReport(ctx, digest)
	if err != nil {
		return out, storeError(err)
	}
	if !found {
		return out, nil
	}
	out.State, out.Scanned, out.Error, out.Packages = api.ScanDone, rep.Scanned, rep.Error, rep.Packages
	if rep.Error != "" {
		out.State = api.ScanFailed
	}
	out.Stale = rep.DBVersion != db.Version
	out.Severities = Severities(rep)
	out.FixableCritical = rep.FixableCritical
	for _, f := range rep.Findings {
		out.Findings = append(out.Findings, api.Finding{ID: f.ID, Severity: f.Severity, Package: f.Package,
			Version: f.Version, FixedVersion: f.Fixed, Title: f.Summary, URL: AdvisoryURL(f.ID)})
	}
	return out, nil
}

// Severities are a report's counts as the UI shows them; a report made without a database
// is no vulnerability report (Reports 0: "not scanned", never "clean").
func Severities(r store.ScanReport) api.Severities {
	if r.Error != "" || r.DBVersion == "" {
		return api.Severities{}
	}
	return api.Severities{Critical: r.Critical, High: r.High, Medium: r.Medium, Low: r.Low, Unknown: r.Unknown, Reports: 1}
}

// AdvisoryURL is the advisory's page on osv.dev, which has every OSV id.
func AdvisoryURL(id string) string { return "https://osv.dev/vulnerability/" + url.PathEscape(id) }

// ServeSBOM answers a stored SBOM (GET /api/v1/scans/{digest}/sbom?repository=…&format=spdx|cyclonedx).
func (s *Service) ServeSBOM(w http.ResponseWriter, r *http.Request) {
	repository, digest := r.URL.Query().Get("repository"), r.PathValue("digest")
	if _, err := s.resolve(r.Context(), repository, digest, access.Pull); err != nil {
		httperr.Write(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "spdx"
	}
	if format != "spdx" && format != "cyclonedx" {
		httperr.Write(w, r, httperr.New(api.CodeBadRequest, "format is spdx or cyclonedx."))
		return
	}
	b, ok, err := s.opts.Store.ScanSBOM(r.Context(), digest, format)
	if err != nil {
		httperr.Write(w, r, storeError(err))
		return
	}
	if !ok {
		httperr.Write(w, r, httperr.New(api.CodeNotFound, "Berth has no SBOM of this manifest: it is not scanned yet, or it is an index (each platform has its own)."))
		return
	}
	w.Header().Set("Content-Type", map[string]string{"spdx": "application/spdx+json", "cyclonedx": "application/vnd.cyclonedx+json"}[format])
	_, _ = w.Write(b)
}

// ServeDatabase answers the vulnerability database's state (GET /api/v1/vulndb).
func (s *Service) ServeDatabase(w http.ResponseWriter, r *http.Request) {
	db, ok, err := s.opts.Store.VulnDBState(r.Context())
	if err != nil {
		httperr.Write(w, r, storeError(err))
		return
	}
	if !ok {
		httperr.WriteJSON(w, http.StatusOK, api.VulnDBStatus{})
		return
	}
	httperr.WriteJSON(w, http.StatusOK, Status(db, time.Now()))
}

// Status describes db for the API.
func Status(db store.VulnDB, now time.Time) api.VulnDBStatus {
	return api.VulnDBStatus{Loaded: true, Version: db.Version, Source: db.Source, Records: db.Records,
		Newest: db.Newest, Age: Age(db.Newest, now), LoadedAt: db.Loaded, Ecosystems: db.Counts}
}

// Age says how old a database is: "database from 3 days ago".
func Age(newest, now time.Time) string {
	if newest.IsZero() {
		return "database of unknown date"
	}
	d := now.Sub(newest)
	switch {
	case d < time.Hour:
		return "database from the last hour"
	case d < 48*time.Hour:
		return fmt.Sprintf("database from %d hours ago", int(d.Hours()))
	}
	return fmt.Sprintf("database from %d days ago", int(d.Hours()/24))
}

func storeError(err error) error {
	return httperr.Wrap(api.CodeStoreUnavailable, "The scan store failed; try again shortly.", err)
}
