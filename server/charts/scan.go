package charts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/berth-registry/berth/server/httperr"
)

// version is one chart version found in a repository.
type version struct {
	repository string
	tag        string
	semver     *semver.Version
	digest     string // manifest
	config     v1.Descriptor
	chart      v1.Descriptor
	prov       *v1.Descriptor
	created    time.Time
	meta       *chart.Metadata
}

// repoScan is what a repository holds, shared by every caller: it is content (tags and the
// chart configs they point to), and each request still lists the repository's tags with its
// own principal before it uses the scan.
type repoScan struct {
	at   time.Time
	tags []string            // sorted, the semver-looking ones only
	by   map[string]*version // by tag; nil value: the tag is not a chart
}

// charts returns the scan's chart versions, newest first.
func (r *repoScan) charts() []*version {
	var out []*version
	for _, v := range r.by {
		if v != nil {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b *version) int { return b.semver.Compare(a.semver) })
	return out
}

// manifest is the part of an OCI image manifest a chart needs.
type manifest struct {
	MediaType   string            `json:"mediaType"`
	Config      v1.Descriptor     `json:"config"`
	Layers      []v1.Descriptor   `json:"layers"`
	Annotations map[string]string `json:"annotations"`
}

// semverTags keeps the tags a chart version can be stored under, sorted.
func semverTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if _, err := semver.NewVersion(tagVersion(t)); err == nil {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// scan returns repository's chart versions as the caller sees them. Its tag list is read
// with the caller's principal on every call (that is the access check); manifests and
// configs are read only for tags the shared scan does not know yet.
func (s *Service) scan(ctx context.Context, repository string) (*repoScan, error) {
	tags, err := s.reg.Tags(ctx, repository)
	if err != nil {
		return nil, err
	}
	tags = semverTags(tags)
	s.mu.Lock()
	old := s.scans[repository]
	s.mu.Unlock()
	if old != nil && slices.Equal(old.tags, tags) && time.Since(old.at) < scanTTL {
		return old, nil
	}
	next := &repoScan{at: time.Now(), tags: tags, by: make(map[string]*version, len(tags))}
	var todo []string
	for _, t := range tags {
		// A tag seen before is reused: a move of an existing tag arrives through Invalidate.
		if old != nil && time.Since(old.at) < scanTTL {
			if v, ok := old.by[t]; ok {
				next.by[t] = v
				continue
			}
		}
		todo = append(todo, t)
	}
	found := make([]*version, len(todo))
	errs := make([]error, len(todo))
	s.fanOut(len(todo), func(i int) { found[i], errs[i] = s.readVersion(ctx, repository, todo[i]) })
	for i, t := range todo {
		if errs[i] != nil {
			if notFound(errs[i]) { // deleted since the tag list was read
				continue
			}
			return nil, errs[i]
		}
		next.by[t] = found[i]
	}
	s.mu.Lock()
	s.scans[repository] = next
	s.mu.Unlock()
	return next, nil
}

// readVersion reads one tag's manifest and, when it is a chart, its config; nil if it is not.
func (s *Service) readVersion(ctx context.Context, repository, tag string) (*version, error) {
	raw, mediaType, digest, err := s.reg.Manifest(ctx, repository, tag)
	if err != nil {
		return nil, err
	}
	v := parseChartManifest(raw, mediaType)
	if v == nil {
		return nil, nil
	}
	v.repository, v.tag, v.digest = repository, tag, digest
	cfg, err := s.readSmall(ctx, repository, v.config)
	if err != nil {
		return nil, fmt.Errorf("chart config of %s:%s: %w", repository, tag, err)
	}
	var meta chart.Metadata
	if err := json.Unmarshal(cfg, &meta); err != nil || meta.Name == "" {
		return nil, nil // a config Helm would not read: not a chart to list
	}
	sv, err := semver.NewVersion(meta.Version)
	if err != nil {
		return nil, nil
	}
	v.meta, v.semver = &meta, sv
	return v, nil
}

// parseChartManifest recognises a Helm chart manifest; nil for anything else.
func parseChartManifest(raw []byte, mediaType string) *version {
	if mediaType != ociManifestType && mediaType != "" {
		return nil
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil || string(m.Config.MediaType) != ConfigMediaType {
		return nil
	}
	v := &version{config: m.Config}
	for _, l := range m.Layers {
		switch string(l.MediaType) {
		case ChartLayerMediaType, legacyChartLayerType:
			v.chart = l
		case ProvLayerMediaType:
			v.prov = &l
		}
	}
	if v.chart.Digest.Hex == "" {
		return nil
	}
	if c, err := time.Parse(time.RFC3339, m.Annotations["org.opencontainers.image.created"]); err == nil {
		v.created = c
	}
	return v
}

// readSmall reads a blob that is read whole (a config, a .prov), refusing one over
// maxSmallBlob; reading to EOF lets the registry verify the digest.
func (s *Service) readSmall(ctx context.Context, repository string, d v1.Descriptor) ([]byte, error) {
	if d.Size > maxSmallBlob {
		return nil, fmt.Errorf("blob %s is %d bytes, over %d", d.Digest, d.Size, maxSmallBlob)
	}
	rc, err := s.reg.OpenBlob(ctx, repository, d.Digest.String())
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSmallBlob+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxSmallBlob {
		return nil, fmt.Errorf("blob %s is over %d bytes", d.Digest, maxSmallBlob)
	}
	return b, nil
}

// fanOut runs f(0…n-1) with at most s.concurrency calls at once.
func (s *Service) fanOut(n int, f func(i int)) {
	sem := make(chan struct{}, s.concurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// walk returns every chart version the caller may pull, in every repository of the catalog.
// A repository whose shared scan holds no chart is skipped without a request: it adds
// nothing whoever asks, and Invalidate (or the TTL) brings it back when a chart arrives.
func (s *Service) walk(ctx context.Context) ([]*version, error) {
	repos, err := s.authz.Repositories(ctx)
	if err != nil {
		return nil, err
	}
	var todo []string
	s.mu.Lock()
	for _, r := range repos {
		if sc := s.scans[r]; sc != nil && time.Since(sc.at) < scanTTL && len(sc.charts()) == 0 {
			continue
		}
		todo = append(todo, r)
	}
	s.mu.Unlock()
	found := make([][]*version, len(todo))
	errs := make([]error, len(todo))
	s.fanOut(len(todo), func(i int) {
		sc, err := s.scan(ctx, todo[i])
		if err != nil {
			errs[i] = err
			return
		}
		found[i] = sc.charts()
	})
	var out []*version
	for i, r := range todo {
		if err := errs[i]; err != nil {
			if isAccessError(err) {
				continue // listed but not pullable by this caller
			}
			return nil, fmt.Errorf("charts of %s: %w", r, err)
		}
		out = append(out, found[i]...)
	}
	return out, nil
}

// isAccessError reports a 4xx from the registry: this caller may not read that repository
// (or it went away), which leaves it out of the caller's view instead of failing it.
func isAccessError(err error) bool {
	var e *httperr.Error
	return errors.As(err, &e) && e.Status >= 400 && e.Status < 500
}
