package ops

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// tarFiles writes files (name → content, in the order of names) as a tar.
func tarFiles(t *testing.T, names []string, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// savedImage is an image and the RepoTags docker save lists for it.
type savedImage struct {
	img  v1.Image
	tags []string
}

// dockerSave lays images out as `docker save` (the classic image store) does:
// <config hex>.json, <id>/layer.tar holding each layer uncompressed, a manifest.json and a
// repositories file.
func dockerSave(t *testing.T, images ...savedImage) []byte {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	add := func(n string, b []byte) {
		if _, ok := files[n]; !ok {
			names = append(names, n)
		}
		files[n] = b
	}
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	repositories := map[string]map[string]string{}
	for _, si := range images {
		cfgName, err := si.img.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := si.img.RawConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		add(cfgName.Hex+".json", raw)
		e := entry{Config: cfgName.Hex + ".json", RepoTags: si.tags}
		layers, err := si.img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			diffID, _ := l.DiffID()
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			add(diffID.Hex+"/VERSION", []byte("1.0"))
			add(diffID.Hex+"/layer.tar", b)
			e.Layers = append(e.Layers, diffID.Hex+"/layer.tar")
		}
		manifest = append(manifest, e)
		for _, rt := range si.tags {
			repo, tag, _ := strings.Cut(rt, ":")
			if repositories[repo] == nil {
				repositories[repo] = map[string]string{}
			}
			repositories[repo][tag] = cfgName.Hex
		}
	}
	mj, _ := json.Marshal(manifest)
	add("manifest.json", mj)
	rj, _ := json.Marshal(repositories)
	add("repositories", rj)
	return tarFiles(t, names, files)
}

// tarDir tars a directory (an OCI layout) as `tar -C dir -cf - .` would.
func tarDir(t *testing.T, dir string, extra map[string][]byte) []byte {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, "./"+filepath.ToSlash(rel))
		files["./"+filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range extra {
		names = append(names, n)
		files[n] = b
	}
	return tarFiles(t, names, files)
}

func randomImage(t *testing.T, size int64, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ociLayout writes images and indexes into an OCI layout, each with its ref.name annotation,
// and returns the layout tarred.
func ociLayout(t *testing.T, extra map[string][]byte, entries map[string]mutate.Appendable) []byte {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		opts := []layout.Option{layout.WithAnnotations(map[string]string{annotationRefName: n})}
		switch e := entries[n].(type) {
		case v1.ImageIndex:
			err = p.AppendIndex(e, opts...)
		case v1.Image:
			err = p.AppendImage(e, opts...)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return tarDir(t, dir, extra)
}

func platformIndex(t *testing.T, mt types.MediaType) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		adds = append(adds, mutate.IndexAddendum{Add: randomImage(t, 4096, 2), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), mt)
}
