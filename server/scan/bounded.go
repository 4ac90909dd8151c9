package scan

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MaxImageBytes bounds what one scan reads of an image's layers, uncompressed, all layers
// together: a gzip bomb pushed into any namespace (pushes are scanned) fails its scan instead
// of filling the disk and memory SCALIBR keeps the image's files and entries in.
var MaxImageBytes int64 = 4 << 30

// errImageTooLarge is the scan's answer for an image past MaxImageBytes.
var errImageTooLarge = errors.New("the image's layers are larger, uncompressed, than a scan reads")

// budgeted is img whose layers read, together, at most budget bytes uncompressed.
func budgeted(img v1.Image, budget int64) v1.Image {
	left := &atomic.Int64{}
	left.Store(budget)
	return &budgetImage{Image: img, left: left}
}

type budgetImage struct {
	v1.Image
	left *atomic.Int64
}

func (b *budgetImage) Layers() ([]v1.Layer, error) {
	ls, err := b.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = &budgetLayer{Layer: l, left: b.left}
	}
	return out, nil
}

type budgetLayer struct {
	v1.Layer
	left *atomic.Int64
}

func (l *budgetLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Uncompressed()
	if err != nil {
		return nil, err
	}
	return &budgetReader{ReadCloser: rc, left: l.left}, nil
}

type budgetReader struct {
	io.ReadCloser
	left *atomic.Int64
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if r.left.Add(-int64(n)) < 0 {
		return n, fmt.Errorf("%w (%d MiB)", errImageTooLarge, MaxImageBytes>>20)
	}
	return n, err
}
