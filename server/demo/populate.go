package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// PopulateOptions says what Populate writes.
type PopulateOptions struct {
	// Prefix starts every repository name, e.g. "bench" gives bench/r000001.
	Prefix string
	// Repositories and Tags per repository to create.
	Repositories, Tags int
	// Distinct gives every tag its own image (config and manifest); otherwise all tags share
	// one, which is enough for catalog-scale tests and far quicker to write.
	Distinct bool
}

// Populate fills the filesystem storage of a distribution registry rooted at dir (the
// rootdirectory of its filesystem driver) with tiny images, writing the storage layout
// directly: pushing a hundred thousand repositories through the API would take many minutes.
// The registry serving dir sees them as if pushed. It is for benchmarks and load tests.
func Populate(dir string, o PopulateOptions) error {
	if o.Prefix == "" {
		o.Prefix = "bench"
	}
	root := filepath.Join(dir, "docker", "registry", "v2")
	w := &storeWriter{root: root, written: map[string]bool{}}
	layer, diffID, err := tinyLayer()
	if err != nil {
		return err
	}
	layerDigest := w.blob(layer)
	shared := w.image(layerDigest, diffID, len(layer), 0)
	for r := range o.Repositories {
		repo := fmt.Sprintf("%s/r%06d", o.Prefix, r)
		w.link(repo, "_layers", layerDigest)
		for t := range o.Tags {
			img := shared
			if o.Distinct {
				img = w.image(layerDigest, diffID, len(layer), r*o.Tags+t+1)
			}
			w.link(repo, "_layers", img.config)
			w.link(repo, "_manifests/revisions", img.manifest)
			tag := fmt.Sprintf("v%d.%d.%d", t/10000, t/100%100, t%100)
			w.file(filepath.Join(root, "repositories", repo, "_manifests", "tags", tag, "current", "link"), []byte(img.manifest))
			w.file(filepath.Join(root, "repositories", repo, "_manifests", "tags", tag, "index", "sha256", img.manifest[7:], "link"), []byte(img.manifest))
		}
		if w.err != nil {
			return w.err
		}
	}
	return w.err
}

// storeWriter writes distribution's storage layout, remembering the first error.
type storeWriter struct {
	root    string
	written map[string]bool
	err     error
}

type image struct{ config, manifest string }

func (w *storeWriter) file(path string, data []byte) {
	if w.err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		w.err = err
		return
	}
	w.err = os.WriteFile(path, data, 0o644)
}

// blob stores content-addressed data once and returns its digest.
func (w *storeWriter) blob(data []byte) string {
	sum := sha256.Sum256(data)
	hexsum := hex.EncodeToString(sum[:])
	if !w.written[hexsum] {
		w.file(filepath.Join(w.root, "blobs", "sha256", hexsum[:2], hexsum, "data"), data)
		w.written[hexsum] = true
	}
	return "sha256:" + hexsum
}

// link records that repo holds digest (a layer, config or manifest revision).
func (w *storeWriter) link(repo, kind, digest string) {
	w.file(filepath.Join(w.root, "repositories", repo, filepath.FromSlash(kind), "sha256", digest[7:], "link"), []byte(digest))
}

// image writes a config (made distinct by n) and an OCI manifest over the shared layer.
func (w *storeWriter) image(layerDigest, diffID string, layerSize, n int) image {
	created := reference.Add(-time.Duration(n) * time.Minute).UTC().Format(time.RFC3339)
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      created,
		"config":       map[string]any{"Env": []string{"PATH=/usr/bin:/bin"}, "Cmd": []string{"/app"}, "Labels": map[string]string{"org.opencontainers.image.version": fmt.Sprint(n)}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]any{{"created": created, "created_by": "COPY app /app # berth populate"}},
	})
	cd := w.blob(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
		"layers":        []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest, "size": layerSize}},
	})
	return image{config: cd, manifest: w.blob(manifest)}
}

// tinyLayer is a gzip tar holding one small file, with fixed times so its digest is stable,
// and the digest of the uncompressed tar (the config's diff_id).
func tinyLayer() ([]byte, string, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	raw := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(gz, raw))
	body := []byte("#!/bin/sh\necho berth\n")
	if err := tw.WriteHeader(&tar.Header{Name: "app", Mode: 0o755, Size: int64(len(body)), ModTime: reference, Typeflag: tar.TypeReg}); err != nil {
		return nil, "", err
	}
	if _, err := tw.Write(body); err != nil {
		return nil, "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := gz.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "sha256:" + hex.EncodeToString(raw.Sum(nil)), nil
}
