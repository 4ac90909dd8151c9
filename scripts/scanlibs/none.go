//go:build ignore

// Package scanprobe is the baseline of measure.sh: it only reads every layer uncompressed,
// the least any scanner must do.
package scanprobe

import (
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Name says what this probe measures.
const Name = "read-layers"

// Scan reads every layer of img to the end; it returns the layer count.
func Scan(_ context.Context, img v1.Image, _ string, _ io.Writer) (int, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, err
		}
	}
	return len(layers), nil
}
