package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxConfig bounds an image config read for its labels.
const maxConfig = 4 << 20

// maxPlatforms bounds the platforms of one index whose labels are read.
const maxPlatforms = 32

// label is one "name=value" (or "name": any value) of a rule's label filter.
type label struct {
	name, value string
	any         bool
}

// parseLabels reads a rule's label filter: comma-separated name=value or name.
func parseLabels(s string) ([]label, error) {
	var out []label
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, has := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, " \t") {
			return nil, bad("%q is not a label filter (name=value or name, comma-separated).", clip(part))
		}
		out = append(out, label{name: name, value: strings.TrimSpace(value), any: !has})
	}
	return out, nil
}

// holds reports whether labels carry every one of want.
func holds(labels map[string]string, want []label) bool {
	for _, l := range want {
		v, ok := labels[l.name]
		if !ok || (!l.any && v != l.value) {
			return false
		}
	}
	return true
}

// labelled keeps the digests (by tag) whose image carries the rule's labels; it reads each
// digest once, and an image whose config cannot be read is left out.
func (p *planner) labelled(ctx context.Context, repo string, digests map[string]v1.Descriptor) error {
	if len(p.f.labels) == 0 {
		return nil
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	for t, d := range digests {
		digest := d.Digest.String()
		if m := cosignTag.FindStringSubmatch(t); m != nil {
			digest = "sha256:" + m[1] // a signature pushed alone follows its subject
		}
		key := repo + "@" + digest
		ok, known := p.seen[key]
		if !known {
			var err error
			if ok, err = p.carries(ctx, repo, digest); err != nil && !notFound(err) {
				return err
			}
			p.seen[key] = ok
		}
		if !ok {
			delete(digests, t)
		}
	}
	return nil
}

// carries reports whether the image or index at digest carries the rule's labels (an
// index: one of its platforms, attestations aside).
func (p *planner) carries(ctx context.Context, repo, digest string) (bool, error) {
	m, err := p.src.Get(ctx, repo, digest)
	if err != nil {
		return false, err
	}
	if m.Descriptor.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(m.Raw))
		if err != nil {
			return false, nil
		}
		for i, c := range idx.Manifests {
			if i == maxPlatforms {
				break
			}
			if !c.MediaType.IsImage() || (c.Platform != nil && c.Platform.OS == "unknown") {
				continue
			}
			if ok, err := p.carries(ctx, repo, c.Digest.String()); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	im, err := v1.ParseManifest(bytes.NewReader(m.Raw))
	if err != nil || im.Config.Digest.Hex == "" {
		return false, nil
	}
	raw, err := p.src.ReadBlob(ctx, repo, im.Config.Digest.String(), maxConfig)
	if err != nil {
		return false, err
	}
	var cfg v1.ConfigFile
	if json.Unmarshal(raw, &cfg) != nil {
		return false, nil
	}
	return holds(cfg.Config.Labels, p.f.labels), nil
}
