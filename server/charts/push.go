package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"helm.sh/helm/v3/pkg/chart"
)

// OCI annotation keys Helm sets on chart manifests.
const (
	annotationCreated     = "org.opencontainers.image.created"
	annotationTitle       = "org.opencontainers.image.title"
	annotationVersion     = "org.opencontainers.image.version"
	annotationDescription = "org.opencontainers.image.description"
	annotationURL         = "org.opencontainers.image.url"
	annotationSource      = "org.opencontainers.image.source"
	annotationAuthors     = "org.opencontainers.image.authors"
)

// ociManifest has the fields, in the order, of the image-spec manifest Helm marshals: with
// the same inputs the bytes, and so the digest, are the same as `helm push`'s. Helm leaves
// mediaType out of the body (it only goes in Content-Type), so this does too.
type ociManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// spooled is an upload on disk with its digest, never held whole in memory.
type spooled struct {
	file   *os.File
	digest digest.Digest
	size   int64
	name   string // the multipart file name, if any
}

// pushChart stores a chart (and its .prov) under repository:tag as `helm push` would: the
// config is Chart.yaml as JSON, the layers the archive and the provenance sorted by digest,
// the annotations those Helm derives from Chart.yaml with the created time last.
func (s *Service) pushChart(ctx context.Context, repository string, meta *chart.Metadata, archive, prov *spooled) (string, error) {
	cfg, err := json.Marshal(meta)
	if err != nil {
		return "", err
	}
	cfgDigest := digest.FromBytes(cfg)
	if err := s.reg.PushBlob(ctx, repository, cfgDigest.String(), int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
		return "", fmt.Errorf("push chart config: %w", err)
	}
	layers := []descriptor{{MediaType: ChartLayerMediaType, Digest: archive.digest.String(), Size: archive.size}}
	for _, b := range []*spooled{archive, prov} {
		if b == nil {
			continue
		}
		if _, err := b.file.Seek(0, 0); err != nil {
			return "", err
		}
		if err := s.reg.PushBlob(ctx, repository, b.digest.String(), b.size, b.file); err != nil {
			return "", fmt.Errorf("push chart blob: %w", err)
		}
	}
	if prov != nil {
		layers = append(layers, descriptor{MediaType: ProvLayerMediaType, Digest: prov.digest.String(), Size: prov.size})
	}
	sort.Slice(layers, func(i, j int) bool { return layers[i].Digest < layers[j].Digest })
	raw, err := json.Marshal(ociManifest{
		SchemaVersion: 2,
		Config:        descriptor{MediaType: ConfigMediaType, Digest: cfgDigest.String(), Size: int64(len(cfg))},
		Layers:        layers,
		Annotations:   chartAnnotations(meta, s.now().UTC().Format(time.RFC3339)),
	})
	if err != nil {
		return "", err
	}
	return s.reg.PutManifest(ctx, repository, versionTag(meta.Version), raw, ociManifestType)
}

// chartAnnotations are the manifest annotations Helm derives from Chart.yaml: the chart's
// own annotations, except that title and version always come from its name and version.
func chartAnnotations(meta *chart.Metadata, created string) map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if strings.TrimSpace(v) != "" {
			out[k] = v
		}
	}
	set(annotationDescription, meta.Description)
	set(annotationTitle, meta.Name)
	set(annotationVersion, meta.Version)
	set(annotationURL, meta.Home)
	set(annotationCreated, created)
	if len(meta.Sources) > 0 {
		set(annotationSource, meta.Sources[0])
	}
	if len(meta.Maintainers) > 0 {
		var b strings.Builder
		for i, m := range meta.Maintainers {
			b.WriteString(m.Name)
			if m.Email != "" {
				b.WriteString(" (" + m.Email + ")")
			}
			if i < len(meta.Maintainers)-1 {
				b.WriteString(", ")
			}
		}
		set(annotationAuthors, b.String())
	}
	for k, v := range meta.Annotations {
		if k != annotationTitle && k != annotationVersion {
			out[k] = v
		}
	}
	return out
}
