package charts

import (
	"container/list"
	"context"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"io"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// ServeVersions answers GET /api/v1/charts/{repository}/versions (site's repository matcher
// sets the path value "repository").
func (s *Service) ServeVersions(w http.ResponseWriter, r *http.Request) {
	v, err := s.Versions(r.Context(), r.PathValue("repository"))
	answer(w, r, v, err)
}

// ServeVersion answers GET /api/v1/charts/{repository}/versions/{version}.
func (s *Service) ServeVersion(w http.ResponseWriter, r *http.Request) {
	v, err := s.Chart(r.Context(), r.PathValue("repository"), r.PathValue("version"))
	answer(w, r, v, err)
}

// answer writes v, or err; answers depend on who asks, so no cache keeps them.
func answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, v)
}

// Versions lists a repository's chart versions, newest first by semantic version.
func (s *Service) Versions(ctx context.Context, repository string) (api.ChartVersions, error) {
	if err := s.authorize(ctx, repository, access.Pull); err != nil {
		return api.ChartVersions{}, err
	}
	sc, err := s.scan(ctx, repository)
	if err != nil {
		return api.ChartVersions{}, err
	}
	out := api.ChartVersions{Repository: repository, Versions: []api.ChartSummary{}}
	for _, v := range sc.charts() {
		if out.Name == "" {
			out.Name = v.meta.Name
		}
		out.Versions = append(out.Versions, api.ChartSummary{
			Version: v.meta.Version, AppVersion: v.meta.AppVersion, Description: v.meta.Description,
			Created: formatTime(v.created), Digest: v.digest, Deprecated: v.meta.Deprecated,
			Prerelease: v.semver.Prerelease() != "",
		})
		if out.Latest == "" && v.semver.Prerelease() == "" {
			out.Latest = v.meta.Version
		}
	}
	if out.Latest == "" && len(out.Versions) > 0 {
		out.Latest = out.Versions[0].Version // only pre-releases: the newest of them
	}
	if len(out.Versions) == 0 {
		return out, errNotFound("%s holds no Helm chart", repository)
	}
	return out, nil
}

// Chart returns one chart version in depth: Chart.yaml, the README rendered safely, values,
// schema, templates, provenance, signatures and the commands to use it.
func (s *Service) Chart(ctx context.Context, repository, version string) (api.Chart, error) {
	if err := s.authorize(ctx, repository, access.Pull); err != nil {
		return api.Chart{}, err
	}
	sv, err := checkVersion(version)
	if err != nil {
		return api.Chart{}, err
	}
	// The manifest is read with the caller's principal every time: that is the access check,
	// and it names the digest the parsed chart is cached under.
	raw, mediaType, digest, err := s.reg.Manifest(ctx, repository, versionTag(version))
	if err != nil {
		return api.Chart{}, err
	}
	v := parseChartManifest(raw, mediaType)
	if v == nil {
		return api.Chart{}, errNotFound("%s:%s is not a Helm chart", repository, version)
	}
	if c, ok := s.details.get(digest); ok {
		c.Repository, c.Prerelease = repository, sv.Prerelease() != ""
		c.Install, c.Pull = s.commands(repository, c.Metadata.Version)
		c.Signatures = s.signatures(ctx, repository, digest)
		return c, nil
	}
	ch, err := s.loadChart(ctx, repository, v)
	if err != nil {
		return api.Chart{}, err
	}
	out := api.Chart{
		Repository: repository, Version: ch.Metadata.Version, Digest: digest,
		Created: formatTime(v.created), Metadata: metadata(ch.Metadata), Templates: []string{},
		Prerelease: sv.Prerelease() != "",
	}
	out.Install, out.Pull = s.commands(repository, ch.Metadata.Version)
	for _, f := range ch.Raw {
		switch strings.ToLower(f.Name) {
		case "readme.md", "readme.txt", "readme":
			if out.ReadmeHTML == "" {
				out.ReadmeHTML = renderReadme(f.Data)
			}
		case "values.yaml":
			out.Values = string(f.Data)
		}
	}
	out.ValuesTree = ch.Values
	if len(ch.Schema) > 0 {
		out.ValuesSchema = string(ch.Schema)
	}
	for _, t := range ch.Templates {
		out.Templates = append(out.Templates, t.Name)
	}
	slices.Sort(out.Templates)
	if v.prov != nil {
		if b, err := s.readSmall(ctx, repository, *v.prov); err == nil {
			out.Provenance = string(b)
		} else {
			slog.WarnContext(ctx, "chart provenance unreadable", "repository", repository, "version", version, "err", err)
		}
	}
	s.details.put(digest, out)
	// Signatures come after the chart and change without it: they are never cached.
	out.Signatures = s.signatures(ctx, repository, digest)
	return out, nil
}

// signatures lists the referrers of a chart manifest (signatures, attestations).
func (s *Service) signatures(ctx context.Context, repository, digest string) []api.ChartSignature {
	refs, err := s.reg.Referrers(ctx, repository, digest)
	if err != nil {
		// A registry without the referrers API (or its fallback) still shows the chart.
		slog.DebugContext(ctx, "chart referrers unreadable", "repository", repository, "err", err)
		return nil
	}
	var out []api.ChartSignature
	for _, d := range refs {
		out = append(out, api.ChartSignature{
			Digest: d.Digest.String(), ArtifactType: d.ArtifactType, Size: d.Size,
			Created: d.Annotations["org.opencontainers.image.created"],
		})
	}
	return out
}

// loadChart streams the chart layer into Helm's loader, bounded by MaxChartSize, and reads
// the stream to its end so the registry verifies the digest.
func (s *Service) loadChart(ctx context.Context, repository string, v *version) (*chart.Chart, error) {
	if v.chart.Size > s.maxSize {
		return nil, httperr.New(api.CodeTooLarge, fmt.Sprintf("the chart archive is %d bytes, over the limit of %d", v.chart.Size, s.maxSize))
	}
	rc, err := s.reg.OpenBlob(ctx, repository, v.chart.Digest.String())
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	lr := io.LimitReader(rc, s.maxSize)
	ch, err := loader.LoadArchive(lr)
	if err != nil {
		return nil, httperr.Wrap(api.CodeRegistryError, "the chart archive in the registry cannot be read", err)
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return nil, fmt.Errorf("read chart %s: %w", v.chart.Digest, err)
	}
	return ch, nil
}

// commands are the helm commands that install and pull a version from the registry.
func (s *Service) commands(repository, version string) (install, pull string) {
	ref := "oci://" + s.pullHost + "/" + repository
	return fmt.Sprintf("helm install %s %s --version %s", path.Base(repository), ref, version),
		fmt.Sprintf("helm pull %s --version %s", ref, version)
}

func metadata(m *chart.Metadata) api.ChartMetadata {
	out := api.ChartMetadata{
		APIVersion: m.APIVersion, Name: m.Name, Version: m.Version, AppVersion: m.AppVersion,
		Description: m.Description, Type: m.Type, Keywords: m.Keywords, Home: m.Home,
		Sources: m.Sources, Icon: m.Icon, KubeVersion: m.KubeVersion, Deprecated: m.Deprecated,
		Annotations: m.Annotations,
	}
	for _, mt := range m.Maintainers {
		if mt != nil {
			out.Maintainers = append(out.Maintainers, api.ChartMaintainer{Name: mt.Name, Email: mt.Email, URL: mt.URL})
		}
	}
	for _, d := range m.Dependencies {
		if d != nil {
			out.Dependencies = append(out.Dependencies, api.ChartDependency{
				Name: d.Name, Version: d.Version, Repository: d.Repository,
				Condition: d.Condition, Tags: d.Tags, Alias: d.Alias,
			})
		}
	}
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// detailCache is a small LRU of parsed charts by manifest digest.
type detailCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of string digests, most recent first
	items map[string]*list.Element
	data  map[string]api.Chart
}

func newDetailCache(n int) *detailCache {
	return &detailCache{max: n, order: list.New(), items: map[string]*list.Element{}, data: map[string]api.Chart{}}
}

func (c *detailCache) get(digest string) (api.Chart, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[digest]
	if !ok {
		return api.Chart{}, false
	}
	c.order.MoveToFront(e)
	return c.data[digest], true
}

func (c *detailCache) put(digest string, v api.Chart) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[digest]; ok {
		c.order.MoveToFront(e)
		c.data[digest] = v
		return
	}
	c.items[digest] = c.order.PushFront(digest)
	c.data[digest] = v
	for c.order.Len() > c.max {
		last := c.order.Back()
		d := c.order.Remove(last).(string)
		delete(c.items, d)
		delete(c.data, d)
	}
}
