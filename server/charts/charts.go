// Package charts serves Helm charts stored in the registry as OCI artifacts: chart data for
// the UI's chart pages (/api/v1/charts/…), a classic chart repository (/charts/index.yaml and
// /charts/NAME-VERSION.tgz) and ChartMuseum's upload API (/api/charts…). Nothing is stored
// outside the registry: uploads become OCI chart artifacts the way `helm push` builds them,
// and what is read is cached in memory, content-addressed or refreshed by Invalidate.
package charts

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Registry is the registry as the person asking sees it: every call runs with the principal
// carried in ctx, and errors come back as *httperr.Error (401 stays 401, 404 stays 404,
// unreachable 502, slow 504). server/registry implements it.
type Registry interface {
	Catalog(ctx context.Context) ([]string, error)
	Tags(ctx context.Context, repository string) ([]string, error)
	Manifest(ctx context.Context, repository, reference string) (raw []byte, mediaType, digest string, err error)
	OpenBlob(ctx context.Context, repository, digest string) (io.ReadCloser, error)
	PushBlob(ctx context.Context, repository, digest string, size int64, body io.Reader) error
	PutManifest(ctx context.Context, repository, reference string, raw []byte, mediaType string) (digest string, err error)
	DeleteManifest(ctx context.Context, repository, digest string) error
	Referrers(ctx context.Context, repository, digest string) ([]v1.Descriptor, error)
	// CanWrite reports whether a write in ctx would be attempted at all (a caller signed in,
	// or anonymous writes allowed).
	CanWrite(ctx context.Context) bool
}

// Media types Helm writes (helm.sh/helm/v3/pkg/registry/constants.go).
const (
	ConfigMediaType      = "application/vnd.cncf.helm.config.v1+json"
	ChartLayerMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	ProvLayerMediaType   = "application/vnd.cncf.helm.chart.provenance.v1.prov"
	legacyChartLayerType = "application/tar+gzip"
	ociManifestType      = "application/vnd.oci.image.manifest.v1+json"
)

// Defaults of Options.
const (
	DefaultMaxChartSize = 10 << 20
	defaultConcurrency  = 8
	// scanTTL bounds how long a repository's scan is trusted without an Invalidate, for
	// registries whose notifications do not reach Berth.
	scanTTL = 10 * time.Minute
	// maxSmallBlob bounds what is read whole into memory: chart configs and .prov files.
	maxSmallBlob = 1 << 20
)

// Options configures the service.
type Options struct {
	// Registry is read and written with the caller's principal.
	Registry Registry
	// Prefix is put before a chart's name to make the repository a ChartMuseum upload goes
	// to ("charts/" stores nginx in charts/nginx); empty stores it at the top level.
	Prefix string
	// AllowOverwrite lets an upload replace an existing version instead of answering 409.
	AllowOverwrite bool
	// MaxChartSize bounds an uploaded or read chart archive in bytes (DefaultMaxChartSize if 0).
	MaxChartSize int64
	// PullHost is the registry host shown in `helm install oci://HOST/…` commands.
	PullHost string
	// Concurrency bounds registry requests in flight while walking the catalog (8 if 0).
	Concurrency int
	// Now is the clock for the created annotation of uploads (time.Now if nil).
	Now func() time.Time
	// Authorizer decides what the caller may do (required): the chart index lists what it
	// lets the caller see, and every chart read, upload and delete asks it first.
	Authorizer access.Authorizer
}

// Service is the chart API and chart repository.
type Service struct {
	reg            Registry
	prefix         string
	allowOverwrite bool
	maxSize        int64
	pullHost       string
	concurrency    int
	now            func() time.Time
	authz          access.Authorizer

	mu    sync.Mutex
	scans map[string]*repoScan // by repository
	// details caches parsed charts by manifest digest: content-addressed, so never stale.
	details *detailCache
	// uploads serialises uploads per repository, so two uploads of one version cannot both
	// find it missing.
	uploads sync.Map // repository → *sync.Mutex
}

// New returns the service.
func New(opts Options) (*Service, error) {
	if opts.Registry == nil {
		return nil, errors.New("charts: no registry")
	}
	if opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if opts.Prefix != "" && !validRepository(strings.TrimSuffix(opts.Prefix, "/")) {
		return nil, fmt.Errorf("charts: prefix %q is not a repository path", opts.Prefix)
	}
	if opts.MaxChartSize <= 0 {
		opts.MaxChartSize = DefaultMaxChartSize
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Authorizer == nil {
		return nil, errors.New("charts: no authorizer")
	}
	return &Service{
		authz: opts.Authorizer,
		reg:   opts.Registry, prefix: opts.Prefix, allowOverwrite: opts.AllowOverwrite,
		maxSize: opts.MaxChartSize, pullHost: opts.PullHost, concurrency: opts.Concurrency,
		now:   opts.Now,
		scans: map[string]*repoScan{}, details: newDetailCache(64),
	}, nil
}

// Invalidate forgets what is known about repository's charts; the server calls it on push
// and delete notifications, and uploads and deletes call it themselves.
func (s *Service) Invalidate(repository string) {
	s.mu.Lock()
	delete(s.scans, repository)
	s.mu.Unlock()
}

// repositoryRE and tagRE are distribution's grammar, anchored.
var (
	repositoryRE = regexp.MustCompile(`^(?:` + reference.NameRegexp.String() + `)$`)
	tagRE        = regexp.MustCompile(`^(?:` + reference.TagRegexp.String() + `)$`)
)

func validRepository(s string) bool {
	return len(s) <= reference.NameTotalLengthMax && repositoryRE.MatchString(s)
}

// checkRepository reports a name outside distribution's grammar as 400.
func checkRepository(s string) error {
	if !validRepository(s) {
		return httperr.New(api.CodeNameInvalid, fmt.Sprintf("%q is not a valid repository name", s))
	}
	return nil
}

// authorize checks the name, then asks the authorizer whether the caller may do want there.
func (s *Service) authorize(ctx context.Context, repository string, want access.Actions) error {
	if err := checkRepository(repository); err != nil {
		return err
	}
	return s.authz.Authorize(ctx, repository, want)
}

// checkVersion reports a version that is not semver, or that makes no valid tag, as 400.
func checkVersion(v string) (*semver.Version, error) {
	sv, err := semver.NewVersion(v)
	if err != nil {
		return nil, httperr.New(api.CodeTagInvalid, fmt.Sprintf("%q is not a semantic version", v))
	}
	if !tagRE.MatchString(versionTag(v)) {
		return nil, httperr.New(api.CodeTagInvalid, fmt.Sprintf("version %q makes no valid tag", v))
	}
	return sv, nil
}

// versionTag is the tag Helm stores a version under: OCI tags cannot hold '+'.
func versionTag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// tagVersion is the version a tag stands for.
func tagVersion(tag string) string { return strings.ReplaceAll(tag, "_", "+") }

// notFound reports whether err is the registry's (or our) 404.
func notFound(err error) bool {
	var e *httperr.Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func errNotFound(format string, args ...any) error {
	return httperr.New(api.CodeNotFound, fmt.Sprintf(format, args...))
}

func errBad(format string, args ...any) error {
	return httperr.New(api.CodeBadRequest, fmt.Sprintf(format, args...))
}
