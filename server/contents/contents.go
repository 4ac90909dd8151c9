// Package contents looks inside images: the files of each layer and of the merged filesystem,
// text files and downloads, image diffs, SBOMs, vulnerability reports and signatures found as
// referrers, and the build steps of the config's history.
//
// Layers are read as streams (gzip, zstd or plain tar) without being kept; what is kept is a
// compact per-layer file index in the store, keyed by the layer digest, built once and shared
// by every image and replica. Every request first asks the Authorizer whether the caller may
// pull the repository, then reads the image's manifest as the caller (the identity the site
// put into the context), and a stored index is used only for layers of a manifest the caller
// just read.
package contents

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Registry is the registry as the person asking sees it: every call runs with the principal
// (user credentials) carried in ctx; errors come back already mapped to *httperr.Error
// (401 stays 401, 404 stays 404, unreachable 502, slow 504).
type Registry interface {
	Tags(ctx context.Context, repository string) ([]string, error)
	Manifest(ctx context.Context, repository, reference string) (raw []byte, mediaType, digest string, err error)
	OpenBlob(ctx context.Context, repository, digest string) (io.ReadCloser, error) // verified against digest at EOF
	Referrers(ctx context.Context, repository, digest string) ([]v1.Descriptor, error)
}

// Store is the part of store.Store this package uses.
type Store interface {
	LayerIndex(ctx context.Context, digest string) (store.LayerIndex, bool, error)
	PutLayerIndex(ctx context.Context, idx store.LayerIndex) error
	LayerIndexStats(ctx context.Context, digests []string) (map[string]store.LayerIndex, error)
}

// Limits bound what one layer, file or document may cost. Zero fields take the defaults.
type Limits struct {
	// MaxEntries is the most entries indexed per layer (default 200 000); the rest are counted
	// as skipped and the index is marked truncated.
	MaxEntries int
	// MaxPath is the longest path indexed, in bytes (default 4096).
	MaxPath int
	// MaxText is the most bytes of a file shown as text (default 1 MiB).
	MaxText int64
	// MaxDocument is the largest SBOM, report or signature payload read (default 32 MiB).
	MaxDocument int64
	// MaxConfig is the largest image config read (default 8 MiB).
	MaxConfig int64
	// MaxList caps the entries of a tree, search or diff list (default 5000).
	MaxList int
	// IndexTimeout bounds indexing one layer (default 30 minutes).
	IndexTimeout time.Duration
	// MaxWindow is the largest zstd window accepted (default 64 MiB), which bounds the memory
	// a zstd layer takes.
	MaxWindow uint64
	// CacheEntries bounds the decoded layer indexes kept in memory, in entries (default 1 000 000).
	CacheEntries int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxEntries, 200_000)
	def(&l.MaxPath, 4096)
	def(&l.MaxList, 5000)
	def(&l.CacheEntries, 1_000_000)
	if l.MaxText <= 0 {
		l.MaxText = 1 << 20
	}
	if l.MaxDocument <= 0 {
		l.MaxDocument = 32 << 20
	}
	if l.MaxConfig <= 0 {
		l.MaxConfig = 8 << 20
	}
	if l.IndexTimeout <= 0 {
		l.IndexTimeout = 30 * time.Minute
	}
	if l.MaxWindow == 0 {
		l.MaxWindow = 64 << 20
	}
	return l
}

// Options configure a Service.
type Options struct {
	Registry Registry
	Store    Store
	Limits   Limits
	// Authorizer decides who may look inside which repository (required): every endpoint
	// asks it for a pull before it reads anything.
	Authorizer access.Authorizer
	// Scans, if set, are Berth's own scan reports, counted and listed beside attached ones.
	Scans Scans
	// TagNames, if set, lists a repository's tags as the caller last listed them (the
	// catalog keeps the list its pages read: reused for the tag TTL, then for up to a minute
	// while it is read again): the tag table's severities look for cosign's .att and .sbom
	// tags there. Unset, each batch lists the registry's tags, which on a 10,000-tag
	// repository cost the registry and Berth 70–100 ms of CPU. The supply-chain view of one
	// image always lists them afresh.
	TagNames func(ctx context.Context, repository string) ([]string, error)
	// AuthorizeList, if set, is the Authorizer's check for an answer that uses TagNames (the
	// catalog's CanReadList: while the caller keeps a recent list, the registry's check asks
	// for one tag instead of the whole list the answer does not use).
	AuthorizeList func(ctx context.Context, repository string) error
	// HoldBack, if set, waits while the answers pages wait for are being built and for the
	// quiet after a tag answer about the repository (the catalog's BehindAnswers), until the
	// deadline at the latest: the tag table's counts fill in up to 0.3 s after its rows, and
	// a batch asked for by a page left meanwhile is never read.
	HoldBack func(ctx context.Context, repository string, deadline time.Time)
}

// Service serves the "Look inside" endpoints.
type Service struct {
	reg     Registry
	store   Store
	limits  Limits
	authz   access.Authorizer
	scans   Scans
	names   func(ctx context.Context, repository string) ([]string, error)
	hold    func(ctx context.Context, repository string, deadline time.Time)
	canList func(ctx context.Context, repository string) error

	mu      sync.Mutex
	flights map[string]*flight // layer digest → indexing in progress
	cache   *indexCache
	// filesystems are merged filesystems by image manifest digest.
	filesystems filesystemCache
}

// New returns a Service; it panics without an Authorizer, as nothing could be served safely.
func New(opts Options) *Service {
	if opts.Authorizer == nil {
		panic("contents: no authorizer")
	}
	s := &Service{
		reg:     opts.Registry,
		store:   opts.Store,
		limits:  opts.Limits.withDefaults(),
		authz:   opts.Authorizer,
		scans:   opts.Scans,
		names:   opts.TagNames,
		hold:    opts.HoldBack,
		canList: opts.AuthorizeList,
		flights: map[string]*flight{},
	}
	if s.names == nil && opts.Registry != nil {
		s.names = opts.Registry.Tags
	}
	if s.hold == nil {
		s.hold = func(context.Context, string, time.Time) {}
	}
	if s.canList == nil {
		s.canList = func(ctx context.Context, repo string) error { return s.authz.Authorize(ctx, repo, access.Pull) }
	}
	s.cache = newIndexCache(s.limits.CacheEntries)
	return s
}

// repository is the request's repository (site's matcher sets the path value "repository"),
// once its name is valid and the authorizer lets the caller pull it: nothing is read before.
func (s *Service) repository(r *http.Request) (string, error) {
	repo := r.PathValue("repository")
	if err := validRepository(repo); err != nil {
		return "", err
	}
	return repo, s.authz.Authorize(r.Context(), repo, access.Pull)
}

// listedRepository is repository for an answer made from the caller's kept tag list
// (Options.AuthorizeList).
func (s *Service) listedRepository(r *http.Request) (string, error) {
	repo := r.PathValue("repository")
	if err := validRepository(repo); err != nil {
		return "", err
	}
	return repo, s.canList(r.Context(), repo)
}

// repositoryName is distribution's grammar for repository names.
var repositoryName = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

// tagName is distribution's grammar for tags.
var tagName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// digestValue accepts the digests registries use.
var digestValue = regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)

func validRepository(repo string) error {
	if len(repo) > 255 || !repositoryName.MatchString(repo) {
		return httperr.New(api.CodeNameInvalid, "\""+clip(repo)+"\" is not a valid repository name")
	}
	return nil
}

// validReference accepts a tag or a digest.
func validReference(ref string) error {
	if strings.Contains(ref, ":") {
		return validDigest(ref)
	}
	if !tagName.MatchString(ref) {
		return httperr.New(api.CodeTagInvalid, "\""+clip(ref)+"\" is not a valid tag or digest")
	}
	return nil
}

func validDigest(d string) error {
	if !digestValue.MatchString(d) {
		return httperr.New(api.CodeDigestInvalid, "\""+clip(d)+"\" is not a valid digest such as sha256:<64 hex digits>")
	}
	return nil
}

func badRequest(msg string) error {
	return httperr.New(api.CodeBadRequest, msg)
}

// clip keeps echoed input short.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func respond(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	// Answers depend on who asks; never let a shared cache keep them.
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, v)
}
