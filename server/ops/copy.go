package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
)

// Endpoint is a reference in a registry: repo:tag or repo@digest. A destination may be a
// bare repository, which keeps the source's tag (or digest).
type Endpoint struct {
	Registry Registry
	Ref      string
}

// Copy copies a manifest — an image, a multi-platform index with its images, an artifact —
// with every blob it references and every referrer (signatures, SBOMs, attestations) of it
// and of its images, within a registry or between two.
type Copy struct {
	Source, Destination Endpoint
	// Jobs bounds the blobs copied at once; 0 means 4.
	Jobs int

	src, dst name.Reference
}

// maxReferrerDepth bounds how deep referrers of referrers are followed.
const maxReferrerDepth = 3

// NewCopy checks both references and returns the copy between them.
func NewCopy(src, dst Endpoint) (*Copy, error) {
	if src.Ref == "" || dst.Ref == "" {
		return nil, badRequest("a copy needs a source (repository:tag or repository@digest) and a destination")
	}
	s, err := src.Registry.Reference(src.Ref)
	if err != nil {
		return nil, err
	}
	if repo, ref := splitRef(dst.Ref); ref == "" {
		// A bare repository keeps the source's tag or digest.
		dst.Ref = joinRef(repo, s.Identifier())
	}
	d, err := dst.Registry.Reference(dst.Ref)
	if err != nil {
		return nil, err
	}
	if src.Registry.same(dst.Registry) && s.Name() == d.Name() {
		return nil, badRequest("source and destination are the same")
	}
	return &Copy{Source: src, Destination: dst, src: s, dst: d}, nil
}

// Summary says what the copy does, without credentials.
func (c *Copy) Summary() string {
	return fmt.Sprintf("copy %s → %s", c.src.Name(), c.dst.Name())
}

// node is a manifest to write, in the order written: children before their index, subjects
// before their referrers.
type node struct {
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
}

// RawManifest implements remote.Taggable.
func (n node) RawManifest() ([]byte, error) { return n.raw, nil }

// MediaType implements remote.withMediaType, so the manifest is PUT with its own type.
func (n node) MediaType() (types.MediaType, error) { return n.mediaType, nil }

// blob is a blob to copy.
type blob struct {
	digest v1.Hash
	size   int64
}

// graph is everything a copy writes.
type graph struct {
	seen  map[v1.Hash]bool
	nodes []node
	blobs []blob
	known map[v1.Hash]bool
}

// Run copies, reporting phases and per-blob progress. Manifests are written after every
// blob, children before parents, and the destination tag last: cancelled before that final
// PUT, the copy never creates or moves the tag.
func (c *Copy) Run(ctx context.Context, report Report) (*api.JobResult, error) {
	srcOpts := c.Source.Registry.options(ctx)
	dstOpts := c.Destination.Registry.options(ctx)
	report.phase("resolve", "Reading "+c.src.Name())
	root, err := remote.Get(c.src, srcOpts...)
	if err != nil {
		return nil, explain(err, "read "+c.src.Name())
	}
	if d, ok := c.dst.(name.Digest); ok && d.DigestStr() != root.Digest.String() {
		return nil, fmt.Errorf("the destination digest %s differs from the source's %s", d.DigestStr(), root.Digest)
	}
	res := &api.JobResult{Digest: root.Digest.String(), Destination: c.dst.Name()}
	srcRepo, dstRepo := c.src.Context(), c.dst.Context()

	if c.Source.Registry.same(c.Destination.Registry) && srcRepo.Name() == dstRepo.Name() {
		// A retag: everything is there already but the tag.
		report.phase("tag", "Tagging "+c.dst.Name())
		if err := remote.Put(c.dst, node{digest: root.Digest, mediaType: root.MediaType, raw: root.Manifest}, dstOpts...); err != nil {
			return nil, explain(err, "write "+c.dst.Name())
		}
		res.Manifests = 1
		return res, nil
	}

	g := &graph{seen: map[v1.Hash]bool{}, known: map[v1.Hash]bool{}}
	if err := g.walk(ctx, srcRepo, root.Descriptor, root.Manifest, 0, srcOpts, report); err != nil {
		return nil, err
	}
	var total int64
	for _, b := range g.blobs {
		total += b.size
	}
	report.message(fmt.Sprintf("%d manifests and %d blobs (%d bytes) to copy", len(g.nodes), len(g.blobs), total))

	report.phase("blobs", fmt.Sprintf("Copying %d blobs", len(g.blobs)))
	// Within one registry, blobs are mounted from the source repository instead of uploaded.
	mount := c.Source.Registry.same(c.Destination.Registry)
	jobs := c.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(jobs)
	var copied atomic.Int64
	for _, b := range g.blobs {
		eg.Go(func() error {
			if err := copyBlob(ectx, srcRepo, dstRepo, b, mount, c.Source.Registry.options(ectx), c.Destination.Registry.options(ectx), report); err != nil {
				return err
			}
			copied.Add(b.size)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	res.Blobs, res.Bytes = len(g.blobs), copied.Load()

	report.phase("manifests", fmt.Sprintf("Writing %d manifests", len(g.nodes)))
	for _, n := range g.nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := remote.Put(dstRepo.Digest(n.digest.String()), n, dstOpts...); err != nil {
			return nil, cancelled(ctx, explain(err, "write manifest "+n.digest.String()))
		}
		res.Manifests++
	}
	if _, ok := c.dst.(name.Tag); ok {
		report.phase("tag", "Tagging "+c.dst.Name())
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := remote.Put(c.dst, node{digest: root.Digest, mediaType: root.MediaType, raw: root.Manifest}, dstOpts...); err != nil {
			return nil, cancelled(ctx, explain(err, "write "+c.dst.Name()))
		}
	}
	return res, nil
}

// cancelled prefers the context's error: a request cut by cancellation is not a failure.
func cancelled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// manifestFields is the union of the image manifest and index fields a copy follows.
type manifestFields struct {
	MediaType types.MediaType `json:"mediaType"`
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
	Manifests []v1.Descriptor `json:"manifests"`
}

// walk adds the manifest raw (described by d), its children, blobs and referrers to g.
func (g *graph) walk(ctx context.Context, repo name.Repository, d v1.Descriptor, raw []byte, depth int, opts []remote.Option, report Report) error {
	if g.seen[d.Digest] {
		return nil
	}
	g.seen[d.Digest] = true
	var m manifestFields
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	mt := d.MediaType
	if mt == "" {
		mt = m.MediaType
	}
	if mt.IsIndex() || m.Manifests != nil {
		for _, child := range m.Manifests {
			if err := ctx.Err(); err != nil {
				return err
			}
			cd, err := remote.Get(repo.Digest(child.Digest.String()), opts...)
			if err != nil {
				return explain(err, "read manifest "+child.Digest.String())
			}
			if err := g.walk(ctx, repo, cd.Descriptor, cd.Manifest, depth, opts, report); err != nil {
				return err
			}
		}
	} else {
		if m.Config != nil && m.Config.Digest.Hex != "" {
			g.addBlob(*m.Config)
		}
		for _, l := range m.Layers {
			if len(l.URLs) > 0 || l.MediaType == types.DockerForeignLayer {
				continue // foreign layers stay where they are
			}
			g.addBlob(l)
		}
	}
	g.nodes = append(g.nodes, node{digest: d.Digest, mediaType: mt, raw: raw})
	if depth >= maxReferrerDepth {
		return nil
	}
	idx, err := remote.Referrers(repo.Digest(d.Digest.String()), opts...)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		report.message(fmt.Sprintf("cannot list referrers of %s, copying without them: %v", d.Digest, err))
		return nil
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("referrers of %s: %w", d.Digest, err)
	}
	for _, r := range im.Manifests {
		rd, err := remote.Get(repo.Digest(r.Digest.String()), opts...)
		if err != nil {
			return explain(err, "read referrer "+r.Digest.String())
		}
		if err := g.walk(ctx, repo, rd.Descriptor, rd.Manifest, depth+1, opts, report); err != nil {
			return err
		}
	}
	return nil
}

func (g *graph) addBlob(d v1.Descriptor) {
	if g.known[d.Digest] {
		return
	}
	g.known[d.Digest] = true
	g.blobs = append(g.blobs, blob{digest: d.Digest, size: d.Size})
}

// plainLayer hides that a layer is mountable, for copies between registries: a mount
// request naming a repository of another registry would only be refused.
type plainLayer struct{ v1.Layer }

// copyBlob copies one blob, reporting its bytes as they go. go-containerregistry skips blobs
// the destination has and mounts ones from the same registry.
func copyBlob(ctx context.Context, src, dst name.Repository, b blob, mount bool, srcOpts, dstOpts []remote.Option, report Report) error {
	digest := b.digest.String()
	l, err := remote.Layer(src.Digest(digest), srcOpts...)
	if err != nil {
		return explain(err, "read blob "+digest)
	}
	var layer v1.Layer = l
	if !mount {
		layer = plainLayer{l}
	}
	report.progress(digest, 0, b.size)
	updates := make(chan v1.Update, 64)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for u := range updates {
			if u.Error == nil && u.Complete < b.size {
				report.progress(digest, u.Complete, b.size)
			}
		}
	}()
	err = remote.WriteLayer(dst, layer, append(dstOpts, remote.WithProgress(updates))...)
	<-drained
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return explain(err, "copy blob "+digest)
	}
	report.progress(digest, b.size, b.size)
	return nil
}

// isDigest reports whether ref is a digest rather than a tag.
func isDigest(ref string) bool { return strings.HasPrefix(ref, "sha256:") }

var errNoReferences = errors.New("nothing to delete: give at least one tag or digest")
