package charts

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"

	"github.com/berth-registry/berth/server/httperr"
)

// indexFile is a classic chart repository's index.yaml, field for field what Helm's
// repo.IndexFile reads (and ChartMuseum writes).
type indexFile struct {
	APIVersion string                     `json:"apiVersion"`
	Entries    map[string][]*chartVersion `json:"entries"`
	Generated  time.Time                  `json:"generated"`
}

// chartVersion is one entry: Chart.yaml inline, then where to get it.
type chartVersion struct {
	*chart.Metadata
	URLs    []string  `json:"urls"`
	Created time.Time `json:"created"`
	Digest  string    `json:"digest,omitempty"`
}

// index builds the caller's index: every chart version it may pull, newest first per name.
// Two repositories holding the same name and version show once: the upload prefix's copy,
// else the one in the first repository by name.
func (s *Service) index(ctx context.Context) (map[string][]*version, error) {
	all, err := s.walk(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b *version) int {
		if pa, pb := s.preferred(a), s.preferred(b); pa != pb {
			if pa {
				return -1
			}
			return 1
		}
		return strings.Compare(a.repository, b.repository)
	})
	byName := map[string][]*version{}
	seen := map[string]bool{}
	for _, v := range all {
		key := v.meta.Name + "\x00" + v.semver.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		byName[v.meta.Name] = append(byName[v.meta.Name], v)
	}
	for _, vs := range byName {
		slices.SortFunc(vs, func(a, b *version) int { return b.semver.Compare(a.semver) })
	}
	return byName, nil
}

// preferred reports whether v lives where uploads of its name go.
func (s *Service) preferred(v *version) bool { return v.repository == s.prefix+v.meta.Name }

func (v *version) entry() *chartVersion {
	created := v.created
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	return &chartVersion{
		Metadata: v.meta,
		URLs:     []string{archiveName(v.meta.Name, v.meta.Version)},
		Created:  created,
		Digest:   v.chart.Digest.Hex,
	}
}

// archiveName is the file name of a version in the classic repository; the URL is relative
// to the repository's URL (…/charts/), as ChartMuseum's are.
func archiveName(name, version string) string { return name + "-" + version + ".tgz" }

// ServeIndex answers GET /charts/index.yaml.
func (s *Service) ServeIndex(w http.ResponseWriter, r *http.Request) {
	byName, err := s.index(r.Context())
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	idx := indexFile{APIVersion: "v1", Entries: map[string][]*chartVersion{}, Generated: s.now().UTC()}
	for name, vs := range byName {
		for _, v := range vs {
			idx.Entries[name] = append(idx.Entries[name], v.entry())
		}
	}
	b, err := yaml.Marshal(idx)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-yaml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// ServeArchive answers GET /charts/NAME-VERSION.tgz and NAME-VERSION.tgz.prov, streamed from
// the registry.
func (s *Service) ServeArchive(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	prov := strings.HasSuffix(file, ".tgz.prov")
	base, ok := strings.CutSuffix(strings.TrimSuffix(file, ".prov"), ".tgz")
	if !ok {
		httperr.Write(w, r, errNotFound("no such chart file: %s", file))
		return
	}
	v, err := s.find(r.Context(), base)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	d, contentType := v.chart, "application/gzip"
	if prov {
		if v.prov == nil {
			httperr.Write(w, r, errNotFound("%s has no provenance file", base))
			return
		}
		d, contentType = *v.prov, "application/pgp-signature"
	}
	rc, err := s.reg.OpenBlob(r.Context(), v.repository, d.Digest.String())
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.FormatInt(d.Size, 10))
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	// Content-addressed: the digest in the index names exactly these bytes.
	w.Header().Set("ETag", `"`+d.Digest.String()+`"`)
	if _, err := io.Copy(w, rc); err != nil {
		// Headers are gone: a short body (against Content-Length) is how the client learns.
		slog.WarnContext(r.Context(), "chart download cut short", "file", file, "err", err)
	}
}

// find resolves NAME-VERSION (both may hold '-') to a chart version the caller may pull:
// first where uploads of that name go, then anywhere in the caller's index.
func (s *Service) find(ctx context.Context, base string) (*version, error) {
	type split struct{ name, version string }
	var candidates []split
	for i := strings.Index(base, "-"); i > 0; {
		name, ver := base[:i], base[i+1:]
		if _, err := semver.NewVersion(ver); err == nil && validRepository(s.prefix+name) {
			candidates = append(candidates, split{name, ver})
		}
		j := strings.Index(base[i+1:], "-")
		if j < 0 {
			break
		}
		i += j + 1
	}
	for _, c := range candidates {
		v, err := s.readVersion(ctx, s.prefix+c.name, versionTag(c.version))
		if err != nil && !notFound(err) && !isAccessError(err) {
			return nil, err
		}
		if v != nil && v.meta.Name == c.name {
			return v, nil
		}
	}
	if len(candidates) == 0 {
		return nil, errNotFound("no chart file %s.tgz", base)
	}
	byName, err := s.index(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range candidates {
		for _, v := range byName[c.name] {
			if v.meta.Version == c.version {
				return v, nil
			}
		}
	}
	return nil, errNotFound("no chart file %s.tgz", base)
}
