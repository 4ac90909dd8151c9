package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// Endpoint is a reference in a registry: repo:tag or repo@digest. A destination may be a
// bare repository, which keeps the source's tag (or digest).
type Endpoint struct {
	Registry *registry.Client
	Ref      string
}

// Copy copies a manifest — an image, a multi-platform index with its images, an artifact —
// with every blob it references and every referrer (signatures, SBOMs, attestations) of it
// and of its images, within a registry or between two.
type Copy struct {
	Source, Destination Endpoint
	// Jobs bounds the blobs copied at once; 0 means 4.
	Jobs int
	// Resume is set when an attempt before this one, cut short, may have done part of the
	// copy; Prior is what it recorded (see recorded): the source's digest and the
	// destination tag's when it started. A resumed copy writes that digest, not what the
	// source tag points at now, and leaves alone a destination tag someone else moved
	// meanwhile.
	Resume bool
	Prior  []api.JobEvent
	// Durable, when set, makes the events reported so far durable.
	Durable func(context.Context) error
	// SkipReferrers leaves signatures, SBOMs and attestations behind (replication rules that
	// say so).
	SkipReferrers bool
	// Placed, if set, is where earlier copies to the same destination registry put their
	// blobs: a blob found there is mounted from that repository rather than uploaded.
	Placed *Placed

	srcRepo, srcRef string
	dstRepo, dstRef string
}

// maxReferrerDepth bounds how deep referrers of referrers are followed.
const maxReferrerDepth = 3

// maxGraph bounds the manifests one copy writes; real images have a handful.
const maxGraph = 10_000

// NewCopy checks both references and returns the copy between them.
func NewCopy(src, dst Endpoint) (*Copy, error) {
	if src.Ref == "" || dst.Ref == "" {
		return nil, badRequest("a copy needs a source (repository:tag or repository@digest) and a destination")
	}
	c := &Copy{Source: src, Destination: dst}
	var err error
	if c.srcRepo, c.srcRef, err = registry.SplitReference(src.Ref); err != nil {
		return nil, err
	}
	if c.srcRef == "" {
		return nil, badRequest(fmt.Sprintf("the source %q needs a tag or digest", src.Ref))
	}
	if c.dstRepo, c.dstRef, err = registry.SplitReference(dst.Ref); err != nil {
		return nil, err
	}
	if c.dstRef == "" {
		// A bare repository keeps the source's tag or digest.
		c.dstRef = c.srcRef
		c.Destination.Ref = registry.JoinReference(c.dstRepo, c.dstRef)
	}
	if src.Registry.Same(dst.Registry) && c.srcRepo == c.dstRepo && c.srcRef == c.dstRef {
		return nil, badRequest("source and destination are the same")
	}
	return c, nil
}

func (c *Copy) srcName() string {
	return c.Source.Registry.Address().Host + "/" + registry.JoinReference(c.srcRepo, c.srcRef)
}

func (c *Copy) dstName() string {
	return c.Destination.Registry.Address().Host + "/" + registry.JoinReference(c.dstRepo, c.dstRef)
}

// Summary says what the copy does, without credentials.
func (c *Copy) Summary() string {
	return fmt.Sprintf("copy %s → %s", c.srcName(), c.dstName())
}

// node is a manifest to write, in the order written: children before their index, subjects
// before their referrers.
type node struct {
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
}

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
	// noReferrers stops the walk at the manifests themselves.
	noReferrers bool
}

// Run copies, reporting phases and per-blob progress. Manifests are written after every
// blob, children before parents, and the destination tag last: cancelled before that final
// PUT, the copy never creates or moves the tag.
func (c *Copy) Run(ctx context.Context, report Report) (*api.JobResult, error) {
	src, dst := c.Source.Registry, c.Destination.Registry
	w, err := dst.Writer(ctx)
	if err != nil {
		return nil, err
	}
	report.phase("resolve", "Reading "+c.srcName())
	root, err := c.resolve(ctx, report)
	if err != nil {
		return nil, err
	}
	rootDigest := root.Descriptor.Digest
	if registry.IsDigest(c.dstRef) && c.dstRef != rootDigest.String() {
		return nil, badRequest(fmt.Sprintf("the destination digest %s differs from the source's %s", c.dstRef, rootDigest))
	}
	res := &api.JobResult{Digest: rootDigest.String(), Destination: c.dstName()}
	mediaType := string(root.Descriptor.MediaType)

	if src.Same(dst) && c.srcRepo == c.dstRepo {
		// A retag: everything is there already but the tag.
		report.phase("tag", "Tagging "+c.dstName())
		if _, err := w.PutManifest(ctx, c.dstRepo, c.dstRef, root.Raw, mediaType); err != nil {
			return nil, err
		}
		res.Manifests = 1
		return res, nil
	}

	g := &graph{seen: map[v1.Hash]bool{}, known: map[v1.Hash]bool{}, noReferrers: c.SkipReferrers}
	if err := g.walk(ctx, src, c.srcRepo, root.Descriptor, root.Raw, 0, report); err != nil {
		return nil, err
	}
	var total int64
	for _, b := range g.blobs {
		total += b.size
	}
	report.message(fmt.Sprintf("%s and %s (%s) to copy", api.Plural(len(g.nodes), "manifest"), api.Plural(len(g.blobs), "blob"), api.HumanSize(total)))

	report.phase("blobs", "Copying "+api.Plural(len(g.blobs), "blob"))
	// Within one registry, blobs are mounted from the source repository instead of uploaded.
	mount := src.Same(dst)
	jobs := c.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(jobs)
	var copied atomic.Int64
	for _, b := range g.blobs {
		eg.Go(func() error {
			digest := b.digest.String()
			l, err := src.Layer(ectx, c.srcRepo, digest)
			if err != nil {
				return err
			}
			report.progress(digest, 0, b.size)
			l, mountHere, placed := c.mountable(ectx, l, b.digest, mount)
			err = w.WriteLayer(ectx, c.dstRepo, l, mountHere, func(done int64) {
				if done < b.size {
					report.progress(digest, done, b.size)
				}
			})
			if err != nil {
				placed("")
				return err
			}
			placed(c.dstRepo)
			report.progress(digest, b.size, b.size)
			copied.Add(b.size)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, cancelled(ctx, err)
	}
	res.Blobs, res.Bytes = len(g.blobs), copied.Load()

	report.phase("manifests", "Writing "+api.Plural(len(g.nodes), "manifest"))
	for _, n := range g.nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := w.PutManifest(ctx, c.dstRepo, n.digest.String(), n.raw, string(n.mediaType)); err != nil {
			return nil, cancelled(ctx, err)
		}
		res.Manifests++
	}
	if !registry.IsDigest(c.dstRef) {
		report.phase("tag", "Tagging "+c.dstName())
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := w.PutManifest(ctx, c.dstRepo, c.dstRef, root.Raw, mediaType); err != nil {
			return nil, cancelled(ctx, err)
		}
	}
	return res, nil
}

// resolve reads the source manifest and records, durably, its digest and the destination
// tag's before anything is written. Resumed, it reads the digest the attempt before recorded
// and refuses to move a destination tag that points elsewhere than it did then or than the
// copy's digest.
func (c *Copy) resolve(ctx context.Context, report Report) (registry.Manifest, error) {
	src, dst := c.Source.Registry, c.Destination.Registry
	var was map[string]string
	if c.Resume {
		for _, e := range c.Prior {
			if len(e.Refs) > 0 {
				was = map[string]string{}
				for _, r := range e.Refs {
					was[r.Ref] = r.Digest
				}
				break
			}
		}
	}
	ref := c.srcRef
	if d := was[c.srcName()]; d != "" {
		ref = d // what the source tag pointed at when the job started
	}
	root, err := src.Get(ctx, c.srcRepo, ref)
	if err != nil {
		return registry.Manifest{}, err
	}
	digest := root.Descriptor.Digest.String()
	if ref != c.srcRef {
		report.message(fmt.Sprintf("Copying %s, the image %s pointed at when the job started", digest, c.srcName()))
	}
	var tagged string
	if !registry.IsDigest(c.dstRef) {
		d, err := dst.Head(ctx, c.dstRepo, c.dstRef)
		switch {
		case err == nil:
			tagged = d.Digest.String()
		case !httperr.Is(err, api.CodeNotFound):
			return registry.Manifest{}, cancelled(ctx, err)
		}
	}
	if was != nil {
		if old := was[c.dstName()]; !registry.IsDigest(c.dstRef) && tagged != old && tagged != digest {
			return registry.Manifest{}, httperr.New(api.CodeConflict, fmt.Sprintf("tag %s was moved to another image after the crash; left alone", c.dstName()))
		}
		return root, nil
	}
	refs := []api.JobRef{{Ref: c.srcName(), Digest: digest}}
	if !registry.IsDigest(c.dstRef) {
		refs = append(refs, api.JobRef{Ref: c.dstName(), Digest: tagged})
	}
	report(api.JobEvent{Type: api.EventMessage, Message: fmt.Sprintf("%s is %s", c.srcName(), digest), Refs: refs})
	if c.Durable != nil {
		if err := c.Durable(ctx); err != nil {
			return registry.Manifest{}, httperr.Wrap(api.CodeStoreUnavailable, "The job store failed, so the copy stopped before writing what it could not record; try again shortly.", err)
		}
	}
	return root, nil
}

// walk adds the manifest raw (described by d), its children, blobs and referrers to g.
func (g *graph) walk(ctx context.Context, src *registry.Client, repo string, d v1.Descriptor, raw []byte, depth int, report Report) error {
	if g.seen[d.Digest] {
		return nil
	}
	if len(g.seen) >= maxGraph {
		return badRequest(fmt.Sprintf("the source references more than %d manifests", maxGraph))
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
			if g.seen[child.Digest] {
				continue
			}
			cd, err := src.Get(ctx, repo, child.Digest.String())
			if err != nil {
				return err
			}
			if err := g.walk(ctx, src, repo, cd.Descriptor, cd.Raw, depth, report); err != nil {
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
	if depth >= maxReferrerDepth || g.noReferrers {
		return nil
	}
	refs, err := src.Referrers(ctx, repo, d.Digest.String())
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		report.message(fmt.Sprintf("cannot list referrers of %s, copying without them: %s", d.Digest, registry.Describe(err)))
		return nil
	}
	for _, r := range refs {
		if g.seen[r.Digest] {
			continue
		}
		rd, err := src.Get(ctx, repo, r.Digest.String())
		if err != nil {
			return err
		}
		if err := g.walk(ctx, src, repo, rd.Descriptor, rd.Raw, depth+1, report); err != nil {
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
