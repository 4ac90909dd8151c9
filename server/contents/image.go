package contents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// image is one image manifest the caller was allowed to read, with its config.
type image struct {
	repository  string
	reference   string
	digest      string
	indexDigest string
	platform    string
	platforms   []string
	manifest    v1.Manifest
	config      v1.ConfigFile
	layers      []layerRef
}

// resolve reads the manifest reference names as the caller; for an index it picks platform
// ("os/arch[/variant]", default linux/amd64, else the first image). Reading the manifest is
// what checks the caller's access, so every handler starts here.
func (s *Service) resolve(ctx context.Context, repo, ref, platform string) (*image, error) {
	if err := validRepository(repo); err != nil {
		return nil, err
	}
	if err := validReference(ref); err != nil {
		return nil, err
	}
	if platform != "" && !platformValue.MatchString(platform) {
		return nil, badRequest("platform must look like linux/amd64 or linux/arm/v7")
	}
	raw, mt, digest, err := s.reg.Manifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	img := &image{repository: repo, reference: ref, digest: digest}
	if isIndex(mt, raw) {
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
		if err != nil {
			return nil, notImage(repo, ref, "its index cannot be parsed")
		}
		var chosen *v1.Descriptor
		for i, d := range idx.Manifests {
			if d.Platform == nil || d.Platform.OS == "unknown" {
				continue // buildx attestations
			}
			p := platformString(d.Platform)
			img.platforms = append(img.platforms, p)
			if (platform != "" && p == platform) || (platform == "" && chosen == nil && p == "linux/amd64") {
				chosen = &idx.Manifests[i]
			}
		}
		if chosen == nil && platform == "" && len(img.platforms) > 0 {
			for i, d := range idx.Manifests {
				if d.Platform != nil && d.Platform.OS != "unknown" {
					chosen = &idx.Manifests[i]
					break
				}
			}
		}
		if chosen == nil {
			if platform != "" {
				return nil, httperr.New(api.CodeNotFound, fmt.Sprintf("%s:%s has no %s image (it has %s)", repo, ref, platform, strings.Join(img.platforms, ", ")))
			}
			return nil, notImage(repo, ref, "its index lists no images")
		}
		img.indexDigest, img.platform = digest, platformString(chosen.Platform)
		raw, mt, digest, err = s.reg.Manifest(ctx, repo, chosen.Digest.String())
		if err != nil {
			return nil, err
		}
		img.digest = digest
	}
	if mt == string(types.DockerManifestSchema1) || mt == string(types.DockerManifestSchema1Signed) {
		return nil, notImage(repo, ref, "it is a legacy schema 1 manifest")
	}
	m, err := v1.ParseManifest(strings.NewReader(string(raw)))
	if err != nil {
		return nil, notImage(repo, ref, "its manifest cannot be parsed")
	}
	if !imageConfig(m.Config.MediaType) {
		return nil, notImage(repo, ref, fmt.Sprintf("it is an artifact (%s), not a container image", artifactOf(m)))
	}
	img.manifest = *m
	cfg, err := s.readAll(ctx, repo, m.Config.Digest.String(), s.limits.MaxConfig, "image config")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &img.config); err != nil {
		return nil, httperr.Wrap(api.CodeRegistryError, "the image config of "+repo+":"+ref+" is not valid JSON", err)
	}
	if img.platform == "" && img.config.OS != "" {
		img.platform = platformString(&v1.Platform{OS: img.config.OS, Architecture: img.config.Architecture, Variant: img.config.Variant})
	}
	for i, l := range m.Layers {
		img.layers = append(img.layers, layerRef{repository: repo, digest: l.Digest.String(), mediaType: string(l.MediaType), size: l.Size, index: i})
	}
	return img, nil
}

var platformValue = regexp.MustCompile(`^[a-z0-9_.-]{1,32}/[a-z0-9_.-]{1,32}(/[a-z0-9_.-]{1,32})?$`)

func platformString(p *v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func isIndex(mt string, raw []byte) bool {
	if mt == string(types.OCIImageIndex) || mt == string(types.DockerManifestList) {
		return true
	}
	if mt != "" {
		return false
	}
	var probe struct {
		Manifests json.RawMessage `json:"manifests"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Manifests != nil
}

func imageConfig(mt types.MediaType) bool {
	return mt == types.OCIConfigJSON || mt == types.DockerConfigJSON || mt == ""
}

func artifactOf(m *v1.Manifest) string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	return string(m.Config.MediaType)
}

func notImage(repo, ref, why string) error {
	return badRequest(fmt.Sprintf("%s:%s cannot be looked inside: %s", repo, ref, why))
}

// readAll reads a small blob (config, document) as the caller, up to max bytes.
func (s *Service) readAll(ctx context.Context, repo, digest string, max int64, what string) ([]byte, error) {
	rc, err := s.reg.OpenBlob(ctx, repo, digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		var he *httperr.Error
		if errors.As(err, &he) {
			return nil, err
		}
		return nil, httperr.Wrap(api.CodeRegistryError, fmt.Sprintf("the %s %s cannot be read", what, digest), err)
	}
	if int64(len(data)) > max {
		return nil, httperr.New(api.CodeRegistryError, fmt.Sprintf("the %s %s is larger than %d bytes, the most Berth reads", what, digest, max))
	}
	return data, nil
}

// contents describes the image for the browser: config, layers with what is indexed, steps.
func (s *Service) contents(ctx context.Context, img *image) (api.ImageContents, error) {
	out := api.ImageContents{
		Repository: img.repository, Reference: img.reference, Digest: img.digest, IndexDigest: img.indexDigest,
		Platform: img.platform, Platforms: img.platforms, Config: configSummary(img.config),
		Size: img.manifest.Config.Size, Layers: []api.LayerInfo{}, Steps: []api.BuildStep{},
	}
	digests := make([]string, len(img.layers))
	for i, l := range img.layers {
		digests[i] = l.digest
	}
	stats, err := s.store.LayerIndexStats(ctx, digests)
	if err != nil {
		return out, httperr.Wrap(api.CodeStoreUnavailable, "layer indexes could not be read", err)
	}
	for _, l := range img.layers {
		info := api.LayerInfo{Index: l.index, Digest: l.digest, MediaType: l.mediaType, Size: l.size}
		if st, ok := stats[l.digest]; ok {
			info.Indexed, info.Entries, info.Files = true, st.Entries, st.Files
		}
		out.Layers = append(out.Layers, info)
		out.Size += l.size
	}
	out.Steps = steps(img.config.History, out.Layers)
	return out, nil
}

func configSummary(c v1.ConfigFile) api.ImageConfig {
	out := api.ImageConfig{
		OS: c.OS, Architecture: c.Architecture, Variant: c.Variant, Created: c.Created.Time, Author: c.Author,
		User: c.Config.User, WorkingDir: c.Config.WorkingDir, Entrypoint: c.Config.Entrypoint, Cmd: c.Config.Cmd,
		Env: c.Config.Env, Labels: c.Config.Labels, StopSignal: c.Config.StopSignal,
	}
	for p := range c.Config.ExposedPorts {
		out.ExposedPorts = append(out.ExposedPorts, p)
	}
	slices.Sort(out.ExposedPorts)
	for v := range c.Config.Volumes {
		out.Volumes = append(out.Volumes, v)
	}
	slices.Sort(out.Volumes)
	return out
}

// steps pairs history entries with layers: each entry that is not an empty layer made the
// next layer, in order.
func steps(history []v1.History, layers []api.LayerInfo) []api.BuildStep {
	out := make([]api.BuildStep, 0, len(history))
	next := 0
	for _, h := range history {
		st := api.BuildStep{Instruction: Instruction(h.CreatedBy), CreatedBy: h.CreatedBy, Created: h.Created.Time, Comment: h.Comment, Layer: -1, Files: -1}
		if !h.EmptyLayer && next < len(layers) {
			l := layers[next]
			st.Layer, st.Digest, st.Size = next, l.Digest, l.Size
			if l.Indexed {
				st.Files = l.Files
			}
			next++
		}
		out = append(out, st)
	}
	return out
}

var (
	nopPrefix   = regexp.MustCompile(`^/bin/(ba)?sh -c #\(nop\)\s*`)
	shellPrefix = regexp.MustCompile(`^/bin/(ba)?sh -c\s+`)
	// argsPrefix is the "|2 A=1 B=2 " the builders put before a RUN's command for build args.
	argsPrefix = regexp.MustCompile(`^\|(\d+)\s+`)
)

// Instruction turns a history created_by into a Dockerfile line: "/bin/sh -c #(nop)  CMD
// [\"sh\"]" becomes CMD ["sh"], "/bin/sh -c apk add x" becomes RUN apk add x, BuildKit's
// "RUN |1 V=2 /bin/sh -c make # buildkit" becomes RUN make.
func Instruction(createdBy string) string {
	s := strings.TrimSpace(createdBy)
	s = strings.TrimSpace(strings.TrimSuffix(s, "# buildkit"))
	keyword := ""
	if rest, ok := strings.CutPrefix(s, "RUN "); ok {
		keyword, s = "RUN", strings.TrimSpace(rest)
	}
	if m := argsPrefix.FindStringSubmatch(s); m != nil {
		n := 0
		fmt.Sscan(m[1], &n)
		s = s[len(m[0]):]
		for range n {
			_, after, found := strings.Cut(s, " ")
			if !found {
				s = ""
				break
			}
			s = strings.TrimLeft(after, " ")
		}
		if keyword == "" {
			keyword = "RUN"
		}
	}
	if loc := nopPrefix.FindStringIndex(s); loc != nil {
		return strings.TrimSpace(s[loc[1]:])
	}
	if loc := shellPrefix.FindStringIndex(s); loc != nil {
		return "RUN " + strings.TrimSpace(s[loc[1]:])
	}
	if keyword != "" {
		return keyword + " " + s
	}
	return s
}
