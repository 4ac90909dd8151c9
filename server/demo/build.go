package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	binenc "encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// format selects the manifest flavour, so the UI has to render both.
type format int

const (
	docker format = iota
	oci
)

func (f format) manifest() types.MediaType {
	if f == oci {
		return types.OCIManifestSchema1
	}
	return types.DockerManifestSchema2
}

func (f format) config() types.MediaType {
	if f == oci {
		return types.OCIConfigJSON
	}
	return types.DockerConfigJSON
}

func (f format) layer() types.MediaType {
	if f == oci {
		return types.OCILayer
	}
	return types.DockerLayer
}

func (f format) index() types.MediaType {
	if f == oci {
		return types.OCIImageIndex
	}
	return types.DockerManifestList
}

// file is one regular file in a layer.
type file struct {
	path string
	mode int64
	data []byte
}

// step is one Dockerfile instruction. Steps without files only leave a history entry
// (empty_layer), like ENV or CMD do in a real build.
type step struct {
	createdBy string
	files     []file
	// at is when the step ran; zero means when the image was created. Base-image steps carry
	// the base's older date, as they do in images built FROM it.
	at time.Time
}

// imageSpec is everything that determines one image, and so its digest.
type imageSpec struct {
	platform v1.Platform
	format   format
	created  time.Time
	author   string
	steps    []step
	config   v1.Config
}

// build assembles the image. Every input is fixed, so the digest is the same on every run.
func (s imageSpec) build() (v1.Image, error) {
	cfg := &v1.ConfigFile{
		Architecture: s.platform.Architecture,
		OS:           s.platform.OS,
		Variant:      s.platform.Variant,
		Created:      v1.Time{Time: s.created},
		Author:       s.author,
		Config:       s.config,
		RootFS:       v1.RootFS{Type: "layers"},
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, s.format.manifest()), s.format.config())
	img, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}

	adds := make([]mutate.Addendum, 0, len(s.steps))
	for _, st := range s.steps {
		at := st.at
		if at.IsZero() {
			at = s.created
		}
		add := mutate.Addendum{History: v1.History{
			Created:    v1.Time{Time: at},
			CreatedBy:  st.createdBy,
			EmptyLayer: len(st.files) == 0,
		}}
		if len(st.files) > 0 {
			// Files are stamped with the step's time, as a build would leave them.
			add.Layer, err = layer(st.files, at, s.format.layer())
			if err != nil {
				return nil, fmt.Errorf("layer for %q: %w", st.createdBy, err)
			}
		}
		adds = append(adds, add)
	}
	// mutate.Append accepts history-only addenda, which keeps the history entries and layers
	// in Dockerfile order with exactly one non-empty entry per layer.
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	return img, nil
}

// layer returns a gzip-compressed tar of files, plus the parent directories a real rootfs
// would list. It compresses itself (rather than letting ggcr do it) so the bytes, and so
// the digest, depend only on compress/gzip.
func layer(files []file, mtime time.Time, mt types.MediaType) (v1.Layer, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)

	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(strings.TrimPrefix(f.path, "/")); d != "."; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	type entry struct {
		name string
		f    *file
	}
	entries := make([]entry, 0, len(dirs)+len(files))
	for d := range dirs {
		entries = append(entries, entry{name: d})
	}
	for i := range files {
		entries = append(entries, entry{name: strings.TrimPrefix(files[i].path, "/"), f: &files[i]})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })

	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if e.f == nil {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		} else {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, e.f.mode, int64(len(e.f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", e.name, err)
		}
		if e.f != nil {
			if _, err := tw.Write(e.f.data); err != nil {
				return nil, fmt.Errorf("tar body %s: %w", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("close gzip: %w", err)
	}
	gz := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz)), nil
	}, tarball.WithMediaType(mt))
}

// index wraps per-platform images in an image index (OCI) or manifest list (Docker).
func index(f format, imgs ...v1.Image) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, 0, len(imgs))
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("config for index entry: %w", err)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{
				OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant,
			}},
		})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, f.index()), adds...), nil
}

// seed turns a name into 32 bytes for the filler generators, so each file gets its own
// stable stream.
func seed(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// hexID is a stable, realistic-looking hex identifier (file: ids, git revisions).
func hexID(key string, n int) string {
	s := seed("id:" + key)
	return hex.EncodeToString(s[:])[:n]
}

// random returns n incompressible bytes, standing in for binaries and images, so layer
// sizes look like real ones after gzip.
func random(key string, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(seed(key)).Read(b) // ChaCha8.Read never fails
	return b
}

var words = strings.Fields(`the request handler returns an error when the upstream service is not ready
config value default timeout retry limit cache entry index table column function module export import
const let var async await promise resolve reject render component state props style layout`)

// prose returns about n bytes of word salad: text files that compress like real ones do.
func prose(key string, n int) []byte {
	s := seed(key)
	r := rand.New(rand.NewPCG(binenc.LittleEndian.Uint64(s[:8]), binenc.LittleEndian.Uint64(s[8:16])))
	var b bytes.Buffer
	b.Grow(n + 80)
	for b.Len() < n {
		line := 4 + r.IntN(10)
		for i := range line {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func text(p, s string) file   { return file{path: p, mode: 0o644, data: []byte(s)} }
func script(p, s string) file { return file{path: p, mode: 0o755, data: []byte(s)} }

// binary is an executable of n incompressible bytes; key tells builds of the same path apart.
func binary(p, key string, n int) file {
	return file{path: p, mode: 0o755, data: random(key+":"+p, n)}
}
