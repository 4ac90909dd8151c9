package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Options configures a Service.
type Options struct {
	// Registry is the client scans read images with; Own is Berth's own access to the same
	// registry (pushes are scanned whoever pushed them).
	Registry, Own *registry.Client
	// Authorizer decides who may read a report or ask for a scan (required).
	Authorizer access.Authorizer
	// Store keeps reports and the vulnerability database (required).
	Store store.Store
	// WorkDir is where this replica writes the database's archives for the matcher.
	WorkDir string
	// Concurrency bounds the scans running at once on each replica; 0 means 1. Each holds
	// the files SCALIBR keeps from an image (package databases, binaries) in a temp file.
	Concurrency int
	// DBURL, if set, is the OSV archive fetched periodically (a mirror); Fetch the client
	// it is fetched with, whose dials are guarded like remote registries'.
	DBURL string
	Fetch *http.Client
	// MaxDBSize bounds the archive fetched or imported; 0 means DefaultMaxDBSize.
	MaxDBSize int64
	// Attach, if set, is the client (writing as Berth) each report's SBOM and vulnerability
	// report are pushed back to the registry with, as referrers of the image (--scan-attach).
	Attach *registry.Client
	// OnReport, if set, is told about every report stored (webhooks' scan.finished); the
	// report's SBOMs and findings are left out.
	OnReport func(ctx context.Context, repository string, r store.ScanReport)
}

// Service scans images as River jobs and answers reports.
type Service struct {
	opts  Options
	jobs  *ops.Manager
	files *files
}

// New returns a Service; its jobs run once Attach hands it the Manager.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Authorizer == nil || opts.Own == nil {
		return nil, errors.New("scan: store, authorizer and registry are required")
	}
	if opts.Registry == nil {
		opts.Registry = opts.Own
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.MaxDBSize <= 0 {
		opts.MaxDBSize = DefaultMaxDBSize
	}
	return &Service{opts: opts, files: &files{root: filepath.Join(opts.WorkDir, "vulndb")}}, nil
}

// Queue is the River queue scans run in.
const Queue = "scan"

// Kind is the job kind to give ops.Options.Kinds.
func (s *Service) Kind() ops.Kind {
	return ops.Kind{Name: args{}.Kind(), Queue: Queue, MaxWorkers: s.opts.Concurrency, Register: func(w *river.Workers) {
		river.AddWorker(w, &worker{s: s})
	}, About: about}
}

// about is how the jobs API shows a scan job: its owner's, or (queued on a push or by the
// sweep) Berth's, which administrators see.
func about(encoded []byte) (ops.About, bool) {
	var a args
	if json.Unmarshal(encoded, &a) != nil {
		return ops.About{}, false
	}
	ref := a.Repository + "@" + a.Digest
	return ops.About{Kind: api.JobScan, User: a.User, Summary: "scan " + ref, Touches: []string{ref}}, true
}

// AttachTo makes scans push their results to the registry with w (--scan-attach); set
// while wiring, before any scan runs.
func (s *Service) AttachTo(w *registry.Client) { s.opts.Attach = w }

// Attach hands the Service the Manager its jobs are queued on.
func (s *Service) Attach(m *ops.Manager) { s.jobs = m }

// Periodic are the scan tasks: fetching the database (with DBURL) and queueing scans of
// images never scanned or scanned against an older database.
func (s *Service) Periodic(fetchEvery, sweepEvery time.Duration) []ops.Periodic {
	p := []ops.Periodic{{Name: "scan-sweep", Interval: sweepEvery, RunOnStart: true, Run: s.Sweep}}
	if s.opts.DBURL != "" {
		p = append(p, ops.Periodic{Name: "vulndb-fetch", Interval: fetchEvery, RunOnStart: true, Run: s.Fetch})
	}
	return p
}

// args are a scan job's: unique by digest, database version and who asked, so a digest
// pushed to ten repositories, or pushed again while queued, is scanned once per database,
// and a user asking has a job of their own to follow.
type args struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest" river:"unique"`
	DBVersion  string `json:"dbVersion" river:"unique"`
	// User is who asked (POST /api/v1/scans); "" for Berth itself (a push, the sweep).
	User string `json:"user,omitempty" river:"unique"`
}

func (args) Kind() string { return "berth_scan" }

// Enqueue queues a scan of digest (read from repository) against the current database, as
// Berth's own job.
func (s *Service) Enqueue(ctx context.Context, repository, digest string) (int64, error) {
	return s.enqueue(ctx, "", repository, digest)
}

// enqueue queues a scan user asked for ("" for Berth), listed in the jobs API as theirs.
func (s *Service) enqueue(ctx context.Context, user, repository, digest string) (int64, error) {
	if s.jobs == nil {
		return 0, errors.New("scan: no job queue")
	}
	db, _, err := s.opts.Store.VulnDBState(ctx)
	if err != nil {
		return 0, err
	}
	id, _, err := s.jobs.InsertFor(ctx, user, args{Repository: repository, Digest: digest, DBVersion: db.Version, User: user}, &river.InsertOpts{
		Queue: Queue, MaxAttempts: 2,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: ops.Unfinished()},
	})
	return id, err
}

// Pushed queues scans of the manifests pushed in evs (the webhook's OnCommit hook).
func (s *Service) Pushed(evs []store.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, e := range evs {
		if e.Action != store.ActionPush || e.Digest == "" || !store.IsManifestMediaType(e.MediaType) {
			continue
		}
		if _, err := s.Enqueue(ctx, e.Repository, e.Digest); err != nil {
			slog.Warn("scan not queued", "repository", e.Repository, "digest", e.Digest, "err", err)
		}
	}
}

// sweepBatch bounds the scans one sweep queues; the next sweep queues more.
const sweepBatch = 200

// Sweep queues scans of tagged images without a report against the current database: the
// rescan of everything when the database changed, and pushes whose notification was missed.
func (s *Service) Sweep(ctx context.Context) error {
	db, _, err := s.opts.Store.VulnDBState(ctx)
	if err != nil {
		return err
	}
	stale, err := s.opts.Store.ScanStale(ctx, db.Version, sweepBatch)
	if err != nil {
		return err
	}
	for _, t := range stale {
		if _, err := s.Enqueue(ctx, t.Repository, t.Digest); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		slog.InfoContext(ctx, "scans queued", "images", len(stale), "database", db.Version)
	}
	return nil
}

type worker struct {
	river.WorkerDefaults[args]
	s *Service
}

// Timeout is the lease term: the run is leased like a write job's (ops.Manager.Lease).
func (w *worker) Timeout(*river.Job[args]) time.Duration { return w.s.jobs.LeaseTerm() }

// Work scans under the job's lease, its progress and outcome followed in the jobs API
// (ops.Manager.Track): an image that cannot be scanned fails the job with the report's error.
func (w *worker) Work(ctx context.Context, job *river.Job[args]) error {
	return w.s.jobs.Track(ctx, job.JobRow, "scanning", "Scanning the image.", func(ctx context.Context) (string, error) {
		return w.run(ctx, job)
	})
}

func (w *worker) run(ctx context.Context, job *river.Job[args]) (string, error) {
	start := time.Now()
	report := w.s.scan(ctx, job.Args.Repository, job.Args.Digest)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err := w.s.opts.Store.PutScanReport(context.WithoutCancel(ctx), report); err != nil {
		return "", err
	}
	slog.InfoContext(ctx, "image scanned", "repository", job.Args.Repository, "digest", job.Args.Digest,
		"packages", report.Packages, "findings", len(report.Findings), "error", report.Error, "took", time.Since(start).Round(time.Millisecond))
	w.s.attach(context.WithoutCancel(ctx), job.Args.Repository, report) // attach.go
	if w.s.opts.OnReport != nil {
		report.Findings, report.SPDX, report.CycloneDX = nil, nil, nil
		w.s.opts.OnReport(context.WithoutCancel(ctx), job.Args.Repository, report)
	}
	return report.Error, nil
}

// scan scans every platform of digest; a failure is the report's Error.
func (s *Service) scan(ctx context.Context, repository, digest string) store.ScanReport {
	r := store.ScanReport{Digest: digest, Scanned: time.Now().UTC()}
	db, dir, err := s.database(ctx)
	if err != nil {
		r.Error = "the vulnerability database could not be read"
		slog.WarnContext(ctx, "vulnerability database", "err", err)
		return r
	}
	r.DBVersion = db.Version
	d, err := s.opts.Own.Descriptor(ctx, repository, digest)
	if err != nil {
		r.Error = "the image could not be read: " + readable(err)
		return r
	}
	platforms, err := registry.Platforms(d)
	if err != nil {
		r.Error = "the image index could not be read"
		return r
	}
	if len(platforms) == 0 {
		// An index of artifacts, such as a referrers fallback index: nothing to scan, and
		// nothing --scan-attach would attach to it.
		r.Error = "an index without platform images: nothing to scan"
		return r
	}
	for _, p := range platforms {
		img, err := image(d, p)
		if err != nil {
			r.Error = "the image could not be read"
			return r
		}
		if !scannable(img) {
			r.Error = "not a container image (an artifact or a signature): nothing to scan"
			return r
		}
		res, err := Image(ctx, img, dir, repository+"@"+p.Digest.String())
		if err != nil {
			r.Error = "the scan failed: " + err.Error()
			return r
		}
		merge(&r, res, p.Digest.String() == digest)
	}
	count(&r)
	return r
}

// database returns the current database and the directory its archives are in; "" and a
// zero VulnDB when none is loaded (the scan makes SBOMs only).
func (s *Service) database(ctx context.Context) (store.VulnDB, string, error) {
	state, ok, err := s.opts.Store.VulnDBState(ctx)
	if err != nil || !ok {
		return store.VulnDB{}, "", err
	}
	if dir, ok := s.files.current(state.Version); ok {
		return state, dir, nil
	}
	db, ok, err := s.opts.Store.VulnDBArchives(ctx)
	if err != nil || !ok {
		return store.VulnDB{}, "", err
	}
	dir, err := s.files.dirFor(db)
	if err != nil {
		return store.VulnDB{}, "", fmt.Errorf("write the database's archives: %w", err)
	}
	return db, dir, nil
}

func image(d *remote.Descriptor, p v1.Descriptor) (v1.Image, error) {
	if p.Digest == d.Digest {
		return d.Image()
	}
	idx, err := d.ImageIndex()
	if err != nil {
		return nil, err
	}
	return idx.Image(p.Digest)
}

// scannable: an image whose layers are filesystem tars, not a signature or an artifact.
func scannable(img v1.Image) bool {
	m, err := img.Manifest()
	if err != nil || m.Subject != nil || len(m.Layers) == 0 {
		return false
	}
	for _, l := range m.Layers {
		if !l.MediaType.IsLayer() {
			return false
		}
	}
	return true
}

// merge adds one platform's result: an index's report holds every platform's findings
// once; SBOMs are kept for a single image only (each platform has its own report).
func merge(r *store.ScanReport, res Result, single bool) {
	r.Packages += res.Packages
	seen := map[[3]string]bool{}
	for _, f := range r.Findings {
		seen[[3]string{f.ID, f.Package, f.Version}] = true
	}
	for _, f := range res.Findings {
		if !seen[[3]string{f.ID, f.Package, f.Version}] {
			r.Findings = append(r.Findings, f)
		}
	}
	if single {
		r.SPDX, r.CycloneDX = res.SPDX, res.CycloneDX
	}
}

// count fills the severity counts from the findings.
func count(r *store.ScanReport) {
	for _, f := range r.Findings {
		switch f.Severity {
		case Critical:
			r.Critical++
			if f.Fixed != "" {
				r.FixableCritical++
			}
		case High:
			r.High++
		case Medium:
			r.Medium++
		case Low:
			r.Low++
		default:
			r.Unknown++
		}
	}
}

// readable is what a report (and its job) says of a registry error: the client's message
// without the request URLs and transport details after it.
func readable(err error) string {
	if he, ok := errors.AsType[*httperr.Error](err); ok {
		return he.Message
	}
	return httperr.Reason(err)
}

// ScanNow scans digest in this process, without a job (berth scan); the report is returned,
// not stored.
func (s *Service) ScanNow(ctx context.Context, repository, digest string) store.ScanReport {
	return s.scan(ctx, repository, digest)
}
