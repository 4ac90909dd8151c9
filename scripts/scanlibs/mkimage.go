//go:build ignore

// Command mkimage writes the two images measure.sh scans into OCI layouts: "demo" (this
// machine's dpkg status and one Go binary) and "large" (that plus the Go toolchain's binaries
// and Python's dist-packages, about 200 MB uncompressed), from files on this machine so their
// package databases are real.
package main

import (
	"archive/tar"
	"flag"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	out := flag.String("out", "", "directory for demo/ and large/ layouts")
	flag.Parse()
	goroot := runtime.GOROOT()
	demo := []string{"/var/lib/dpkg/status", filepath.Join(goroot, "bin/gofmt")}
	large := append(demo, filepath.Join(goroot, "bin"), filepath.Join(goroot, "pkg/tool"), "/usr/lib/python3/dist-packages")
	for name, paths := range map[string][]string{"demo": demo, "large": large} {
		if err := write(filepath.Join(*out, name), paths); err != nil {
			log.Fatal(err)
		}
	}
}

// write makes an image of one layer holding paths (files or trees) and stores it in a layout.
func write(dir string, paths []string) error {
	tmp, err := os.CreateTemp("", "layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	tw := tar.NewWriter(tmp)
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			return addFile(tw, p)
		})
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	tmp.Close()
	layer, err := tarball.LayerFromFile(tmp.Name())
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img)
}

func addFile(tw *tar.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr, err := tar.FileInfoHeader(st, "")
	if err != nil {
		return err
	}
	hdr.Name = strings.TrimPrefix(p, "/")
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
