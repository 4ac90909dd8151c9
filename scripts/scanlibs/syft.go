//go:build ignore

// Package scanprobe is the Syft side of measure.sh: the calls Berth would make, copied into a
// throwaway copy of Berth to measure binary growth, and run by run.go for time and RSS. Syft
// only inventories; matching would need Grype on top.
package scanprobe

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/format/cyclonedxjson"
	"github.com/anchore/syft/syft/format/spdxjson"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Name says which library this probe measures.
const Name = "syft"

// Scan inventories img and writes SPDX and CycloneDX; dbDir is unused (no matcher); it
// returns the package count.
func Scan(ctx context.Context, img v1.Image, _ string, out io.Writer) (int, error) {
	dir, err := os.MkdirTemp("", "syft-probe")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	// Syft reads images through stereoscope, which wants a docker archive or a daemon.
	path := filepath.Join(dir, "image.tar")
	tag, err := name.NewTag("probe:latest")
	if err != nil {
		return 0, err
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return 0, err
	}
	src, err := syft.GetSource(ctx, "docker-archive:"+path, nil)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	s, err := syft.CreateSBOM(ctx, src, syft.DefaultCreateSBOMConfig())
	if err != nil {
		return 0, err
	}
	spdxEnc, err := spdxjson.NewFormatEncoderWithConfig(spdxjson.DefaultEncoderConfig())
	if err != nil {
		return 0, err
	}
	if err := spdxEnc.Encode(out, *s); err != nil {
		return 0, err
	}
	cdxEnc, err := cyclonedxjson.NewFormatEncoderWithConfig(cyclonedxjson.DefaultEncoderConfig())
	if err != nil {
		return 0, err
	}
	if err := cdxEnc.Encode(out, *s); err != nil {
		return 0, err
	}
	return s.Artifacts.Packages.PackageCount(), nil
}
