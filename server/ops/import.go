package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
)

// Import pushes the images of an archive — `docker save` output or an OCI image layout —
// into one repository: blobs first, then manifests by digest (children before their index),
// the tags last, so a failed or cancelled import leaves no tag half-written.
type Import struct {
	// Jobs bounds the blobs uploaded at once; 0 means 4.
	Jobs int

	reg        *registry.Client
	archive    *Archive
	repository string
	format     string
	// tops are the archive's images (or indexes) with the tags each gets.
	tops []*importImage
	// blobs and manifests of an OCI layout are known up front; docker save images get
	// theirs when their layers are compressed, in Run.
	blobs     []v1.Layer
	manifests []node
	known     map[v1.Hash]bool
	seen      map[v1.Hash]*node
}

// importImage is one image or index of the archive and the tags it is pushed under.
type importImage struct {
	tags []string
	node *node // set for OCI layouts; docker save images get theirs in Run
	// docker save: the config and the layers' paths and diffIDs.
	config  []byte
	layers  []string
	diffIDs []v1.Hash
}

// OCI annotations naming an image of a layout: the OCI one, and the full reference
// containerd (and so Docker's containerd image store) writes next to it.
const (
	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// maxIndexDepth bounds nested indexes in a layout.
const maxIndexDepth = 4

// NewImport reads archive a and plans pushing it into repository: under tag when one is
// given (the archive must then hold one image), else under each image's own tags. With
// verify, every blob is hashed against the digest (or, for docker save layers, the diffID)
// that names it. A malformed, truncated or corrupt archive is a 400 saying what is wrong.
func NewImport(ctx context.Context, reg *registry.Client, a *Archive, repository, tag string, verify bool) (*Import, error) {
	if err := registry.ValidateRepository(repository); err != nil {
		return nil, err
	}
	if tag != "" {
		if err := registry.ValidateTag(tag); err != nil {
			return nil, err
		}
	}
	im := &Import{reg: reg, archive: a, repository: repository, known: map[v1.Hash]bool{}, seen: map[v1.Hash]*node{}}
	var err error
	switch {
	case a.has("index.json") && a.has("oci-layout"):
		// Docker's containerd image store writes manifest.json too; the layout keeps the
		// manifests (and indexes) exactly as they were.
		im.format = "OCI layout"
		err = im.readLayout(ctx, verify)
	case a.has("manifest.json"):
		im.format = "docker save"
		err = im.readDockerSave(ctx, verify)
	default:
		return nil, errNotArchive("it has neither a docker save manifest.json nor an OCI index.json with oci-layout")
	}
	if err != nil {
		return nil, err
	}
	if err := im.assignTags(tag); err != nil {
		return nil, err
	}
	return im, nil
}

// Tags returns the references the import writes, repository:tag.
func (im *Import) Tags() []string {
	var out []string
	for _, t := range im.tops {
		for _, tag := range t.tags {
			out = append(out, im.repository+":"+tag)
		}
	}
	return out
}

// Summary says what the import does.
func (im *Import) Summary() string {
	return fmt.Sprintf("import %s → %s/%s", im.format, im.reg.Address().Host, strings.Join(im.Tags(), ", "))
}

// readLayout reads an OCI image layout: oci-layout, index.json and the blobs they reach.
func (im *Import) readLayout(ctx context.Context, verify bool) error {
	raw, err := im.archive.readJSON("oci-layout")
	if err != nil {
		return err
	}
	var layout struct {
		Version string `json:"imageLayoutVersion"`
	}
	if json.Unmarshal(raw, &layout) != nil || layout.Version == "" {
		return errArchive("oci-layout does not name an imageLayoutVersion")
	}
	raw, err = im.archive.readJSON("index.json")
	if err != nil {
		return err
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(raw, &index); err != nil {
		return errArchive("index.json is not an OCI index (%v)", err)
	}
	if len(index.Manifests) == 0 {
		return errArchive("index.json lists no images")
	}
	byDigest := map[v1.Hash]*importImage{}
	for _, d := range index.Manifests {
		n, err := im.readManifest(ctx, d, 0, verify)
		if err != nil {
			return err
		}
		t := byDigest[d.Digest]
		if t == nil {
			t = &importImage{node: n}
			byDigest[d.Digest] = t
			im.tops = append(im.tops, t)
		}
		if tag := tagOf(d.Annotations[annotationRefName]); tag != "" {
			t.tags = append(t.tags, tag)
		} else if tag := tagOf(d.Annotations[annotationContainerdName]); tag != "" {
			t.tags = append(t.tags, tag)
		}
	}
	return nil
}

// tagOf is the tag a name in an archive stands for: a tag itself, or the tag of a full
// reference (docker.io/library/alpine:3.21, as RepoTags and containerd write them); "" when
// it names none.
func tagOf(s string) string {
	if s == "" {
		return ""
	}
	if registry.ValidateTag(s) == nil {
		return s
	}
	t, err := name.NewTag(s, name.WeakValidation)
	if err != nil || !strings.HasSuffix(s, ":"+t.TagStr()) {
		return ""
	}
	return t.TagStr()
}

// blobPath is where a layout keeps the blob d.
func blobPath(d v1.Hash) string { return "blobs/" + d.Algorithm + "/" + d.Hex }

// readManifest reads the manifest (or index) d describes, and what it references, from the
// layout; children and blobs are added before it.
func (im *Import) readManifest(ctx context.Context, d v1.Descriptor, depth int, verify bool) (*node, error) {
	if n := im.seen[d.Digest]; n != nil {
		return n, nil
	}
	if depth > maxIndexDepth {
		return nil, errArchive("indexes are nested more than %d deep", maxIndexDepth)
	}
	if len(im.seen) >= maxGraph {
		return nil, errArchive("it holds more than %d manifests", maxGraph)
	}
	if d.Digest.Algorithm != "sha256" {
		return nil, errArchive("manifest %s: only sha256 digests are supported", d.Digest)
	}
	p := blobPath(d.Digest)
	if !im.archive.has(p) {
		return nil, errArchive("manifest %s is missing (%s)%s", d.Digest, p, platformHint(d))
	}
	raw, err := im.archive.readJSON(p)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != d.Size {
		return nil, errArchive("manifest %s is %d bytes, its descriptor says %d", d.Digest, len(raw), d.Size)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != d.Digest.Hex {
		return nil, errArchive("manifest %s is corrupt: its content hashes to sha256:%s", d.Digest, hex.EncodeToString(sum[:]))
	}
	var m manifestFields
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errArchive("manifest %s is not JSON (%v)", d.Digest, err)
	}
	mt := d.MediaType
	if mt == "" {
		mt = m.MediaType
	}
	if mt.IsIndex() || m.Manifests != nil {
		for _, child := range m.Manifests {
			if _, err := im.readManifest(ctx, child, depth+1, verify); err != nil {
				return nil, err
			}
		}
	} else {
		if m.Config == nil {
			return nil, errArchive("manifest %s has no config", d.Digest)
		}
		if err := im.addBlob(ctx, *m.Config, "config", verify); err != nil {
			return nil, err
		}
		for _, l := range m.Layers {
			if (len(l.URLs) > 0 || l.MediaType == types.DockerForeignLayer) && !im.archive.has(blobPath(l.Digest)) {
				continue // foreign layers stay where they are
			}
			if err := im.addBlob(ctx, l, "layer", verify); err != nil {
				return nil, err
			}
		}
	}
	n := &node{digest: d.Digest, mediaType: mt, raw: raw}
	im.seen[d.Digest] = n
	im.manifests = append(im.manifests, *n)
	return n, nil
}

// platformHint explains a missing platform image: Docker saves only the platforms pulled.
func platformHint(d v1.Descriptor) string {
	if d.Platform == nil {
		return ""
	}
	return fmt.Sprintf(" — the %s image of the index is not in the archive (save with every platform pulled, or with --platform)", d.Platform)
}

// addBlob adds the layout blob d, checking that it is there, has its size and (verify) its
// digest.
func (im *Import) addBlob(ctx context.Context, d v1.Descriptor, what string, verify bool) error {
	if im.known[d.Digest] {
		return nil
	}
	if d.Digest.Algorithm != "sha256" {
		return errArchive("%s %s: only sha256 digests are supported", what, d.Digest)
	}
	p := blobPath(d.Digest)
	f, ok := im.archive.file(p)
	if !ok {
		return errArchive("%s %s is missing (%s)", what, d.Digest, p)
	}
	if f.size != d.Size {
		return errArchive("%s %s is %d bytes, its manifest says %d", what, d.Digest, f.size, d.Size)
	}
	if verify {
		got, err := im.archive.sha256Of(ctx, p, false)
		if err != nil {
			return err
		}
		if got != d.Digest.String() {
			return errArchive("%s %s is corrupt: its content hashes to %s", what, d.Digest, got)
		}
	}
	im.known[d.Digest] = true
	im.blobs = append(im.blobs, &archiveBlob{a: im.archive, path: p, digest: d.Digest, size: d.Size, mediaType: d.MediaType})
	return nil
}

// dockerSaveEntry is one image of a docker save manifest.json.
type dockerSaveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// hexName finds a sha256 in a docker save file name (<hex>.json, sha256:<hex>, blobs/sha256/<hex>).
var hexName = regexp.MustCompile(`(?:^|[/:])([a-f0-9]{64})(?:\.json)?$`)

// readDockerSave reads a docker save manifest.json and checks every image's config and
// layers against the config's diffIDs.
func (im *Import) readDockerSave(ctx context.Context, verify bool) error {
	raw, err := im.archive.readJSON("manifest.json")
	if err != nil {
		return err
	}
	var entries []dockerSaveEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return errArchive("manifest.json is not a docker save manifest (%v)", err)
	}
	if len(entries) == 0 {
		return errArchive("manifest.json lists no images")
	}
	diffIDs := map[string]string{} // layer path → diffID, each layer hashed once
	for i, e := range entries {
		if e.Config == "" {
			return errArchive("image %d of manifest.json names no config", i+1)
		}
		config, err := im.archive.readJSON(e.Config)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(config)
		if m := hexName.FindStringSubmatch(e.Config); m != nil && m[1] != hex.EncodeToString(sum[:]) {
			return errArchive("config %s is corrupt: its content hashes to sha256:%s", e.Config, hex.EncodeToString(sum[:]))
		}
		var cfg v1.ConfigFile
		if err := json.Unmarshal(config, &cfg); err != nil {
			return errArchive("config %s is not an image config (%v)", e.Config, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
			return errArchive("config %s lists %d layers, manifest.json %d", e.Config, len(cfg.RootFS.DiffIDs), len(e.Layers))
		}
		t := &importImage{config: config, layers: e.Layers, diffIDs: cfg.RootFS.DiffIDs}
		for j, l := range e.Layers {
			if !im.archive.has(l) {
				return errArchive("layer %s is missing", l)
			}
			if !verify {
				continue
			}
			got, ok := diffIDs[l]
			if !ok {
				if got, err = im.archive.sha256Of(ctx, l, true); err != nil {
					return err
				}
				diffIDs[l] = got
			}
			if want := cfg.RootFS.DiffIDs[j].String(); got != want {
				return errArchive("layer %s is corrupt: its content hashes to %s, the config says %s", l, got, want)
			}
		}
		for _, rt := range e.RepoTags {
			if tag := tagOf(rt); tag != "" {
				t.tags = append(t.tags, tag)
			}
		}
		im.tops = append(im.tops, t)
	}
	return nil
}

// assignTags decides the tags: tag for the archive's one image, or each image's own.
func (im *Import) assignTags(tag string) error {
	if tag != "" {
		if len(im.tops) != 1 {
			return badRequest(fmt.Sprintf("The archive holds %d images: leave tag out to push each under its own tag.", len(im.tops)))
		}
		im.tops[0].tags = []string{tag}
		return nil
	}
	owner := map[string]*importImage{}
	for i, t := range im.tops {
		if len(t.tags) == 0 {
			if len(im.tops) == 1 {
				return badRequest("The archive names no tag for its image: give one (tag=, or REPOSITORY:TAG).")
			}
			return badRequest(fmt.Sprintf("Image %d of the archive has no tag (RepoTags or %s).", i+1, annotationRefName))
		}
		var tags []string
		for _, tg := range t.tags {
			if o := owner[tg]; o != nil && o != t {
				return badRequest(fmt.Sprintf("Two images of the archive are both tagged %q.", tg))
			}
			if owner[tg] == nil {
				owner[tg] = t
				tags = append(tags, tg)
			}
		}
		t.tags = tags
	}
	return nil
}

// Run pushes the archive, reporting phases and per-blob progress.
func (im *Import) Run(ctx context.Context, report Report) (*api.JobResult, error) {
	w, err := im.reg.Writer(ctx)
	if err != nil {
		return nil, err
	}
	if err := im.compress(ctx, report); err != nil {
		return nil, err
	}
	var total int64
	sizes := make([]int64, len(im.blobs))
	for i, b := range im.blobs {
		if sizes[i], err = b.Size(); err != nil {
			return nil, err
		}
		total += sizes[i]
	}
	report.message(fmt.Sprintf("%s and %s (%s) to push", api.Plural(len(im.manifests), "manifest"), api.Plural(len(im.blobs), "blob"), api.HumanSize(total)))
	report.phase("blobs", "Pushing "+api.Plural(len(im.blobs), "blob"))
	jobs := im.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(jobs)
	var pushed atomic.Int64
	for i, b := range im.blobs {
		eg.Go(func() error {
			d, err := b.Digest()
			if err != nil {
				return err
			}
			digest, size := d.String(), sizes[i]
			report.progress(digest, 0, size)
			err = w.WriteLayer(ectx, im.repository, b, false, func(done int64) {
				if done < size {
					report.progress(digest, done, size)
				}
			})
			if err != nil {
				return err
			}
			report.progress(digest, size, size)
			pushed.Add(size)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, cancelled(ctx, err)
	}
	res := &api.JobResult{Blobs: len(im.blobs), Bytes: pushed.Load()}

	report.phase("manifests", "Writing "+api.Plural(len(im.manifests), "manifest"))
	for _, n := range im.manifests {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := w.PutManifest(ctx, im.repository, n.digest.String(), n.raw, string(n.mediaType)); err != nil {
			return nil, cancelled(ctx, err)
		}
		res.Manifests++
	}
	report.phase("tag", "Tagging "+strings.Join(im.Tags(), ", "))
	for _, t := range im.tops {
		for _, tag := range t.tags {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if _, err := w.PutManifest(ctx, im.repository, tag, t.node.raw, string(t.node.mediaType)); err != nil {
				return res, cancelled(ctx, err)
			}
			ref := im.repository + ":" + tag
			res.Tags = append(res.Tags, ref)
			if res.Digest == "" {
				res.Digest, res.Destination = t.node.digest.String(), im.reg.Address().Host+"/"+ref
			}
		}
	}
	return res, nil
}

// compress gives every docker save image its layers (compressed with gzip where the archive
// holds them plain, which needs a pass over each to know its digest) and manifest.
func (im *Import) compress(ctx context.Context, report Report) error {
	var pending []*importImage
	for _, t := range im.tops {
		if t.node == nil {
			pending = append(pending, t)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	report.phase("prepare", "Reading the layers of "+api.Plural(len(pending), "image"))
	layers := map[string]v1.Layer{}
	for _, t := range pending {
		config := v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(len(t.config)), Digest: sha256Hash(t.config)}
		m := v1.Manifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2, Config: config}
		for j, p := range t.layers {
			l := layers[p]
			if l == nil {
				if err := ctx.Err(); err != nil {
					return err
				}
				var err error
				l, err = tarball.LayerFromOpener(func() (io.ReadCloser, error) {
					r, err := im.archive.open(p)
					if err != nil {
						return nil, err
					}
					return io.NopCloser(&ctxReader{ctx: ctx, r: r}), nil
				})
				if err != nil {
					return cancelled(ctx, errArchive("layer %s cannot be read (%v)", p, err))
				}
				layers[p] = l
			}
			diffID, err := l.DiffID()
			if err != nil {
				return err
			}
			if diffID != t.diffIDs[j] {
				return errArchive("layer %s is corrupt: its content hashes to %s, the config says %s", p, diffID, t.diffIDs[j])
			}
			d, err := l.Digest()
			if err != nil {
				return err
			}
			size, err := l.Size()
			if err != nil {
				return err
			}
			mt, err := l.MediaType()
			if err != nil {
				return err
			}
			m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Size: size, Digest: d})
			if !im.known[d] {
				im.known[d] = true
				im.blobs = append(im.blobs, l)
			}
		}
		if !im.known[config.Digest] {
			im.known[config.Digest] = true
			im.blobs = append(im.blobs, &configBlob{raw: t.config, digest: config.Digest})
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return err
		}
		n := node{digest: sha256Hash(raw), mediaType: types.DockerManifestSchema2, raw: raw}
		t.node = &n
		if !slices.ContainsFunc(im.manifests, func(o node) bool { return o.digest == n.digest }) {
			im.manifests = append(im.manifests, n)
		}
	}
	return nil
}

func sha256Hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// archiveBlob is a blob of an OCI layout, read from the archive as it is.
type archiveBlob struct {
	a         *Archive
	path      string
	digest    v1.Hash
	size      int64
	mediaType types.MediaType
}

func (b *archiveBlob) Digest() (v1.Hash, error) { return b.digest, nil }
func (b *archiveBlob) DiffID() (v1.Hash, error) { return b.digest, nil }
func (b *archiveBlob) Size() (int64, error)     { return b.size, nil }
func (b *archiveBlob) MediaType() (types.MediaType, error) {
	return b.mediaType, nil
}
func (b *archiveBlob) Compressed() (io.ReadCloser, error) {
	r, err := b.a.open(b.path)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(r), nil
}
func (b *archiveBlob) Uncompressed() (io.ReadCloser, error) { return b.Compressed() }

// configBlob is a docker save image's config.
type configBlob struct {
	raw    []byte
	digest v1.Hash
}

func (b *configBlob) Digest() (v1.Hash, error) { return b.digest, nil }
func (b *configBlob) DiffID() (v1.Hash, error) { return b.digest, nil }
func (b *configBlob) Size() (int64, error)     { return int64(len(b.raw)), nil }
func (b *configBlob) MediaType() (types.MediaType, error) {
	return types.DockerConfigJSON, nil
}
func (b *configBlob) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.raw)), nil
}
func (b *configBlob) Uncompressed() (io.ReadCloser, error) { return b.Compressed() }
