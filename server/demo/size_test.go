package demo

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// TestSizes keeps seeding quick: the demo must stay a few MiB, with layers no bigger than a
// real small image's.
func TestSizes(t *testing.T) {
	const (
		maxTotal = 15 << 20
		maxLayer = 3 << 19 // 1.5 MiB
	)
	var total int64
	for _, repo := range catalog() {
		seen := map[v1.Hash]bool{}
		var repoSize int64
		add := func(h v1.Hash, size int64) {
			if !seen[h] {
				seen[h] = true
				repoSize += size
			}
		}
		for _, rel := range repo.releases {
			for _, p := range rel.platforms {
				img, err := rel.build(p).build()
				if err != nil {
					t.Fatal(err)
				}
				layers, err := img.Layers()
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range layers {
					d, err := l.Digest()
					if err != nil {
						t.Fatal(err)
					}
					size, err := l.Size()
					if err != nil {
						t.Fatal(err)
					}
					if size > maxLayer {
						t.Errorf("%s:%s layer %s is %d bytes", repo.name, rel.tags[0], d, size)
					}
					add(d, size)
				}
				cd, err := img.ConfigName()
				if err != nil {
					t.Fatal(err)
				}
				raw, err := img.RawConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				add(cd, int64(len(raw)))
				md, err := partial.Descriptor(img)
				if err != nil {
					t.Fatal(err)
				}
				add(md.Digest, md.Size)
			}
		}
		t.Logf("%-25s %7d KiB", repo.name, repoSize>>10)
		total += repoSize
	}
	t.Logf("total %d KiB", total>>10)
	if total > maxTotal {
		t.Errorf("demo pushes %d bytes, want at most %d", total, maxTotal)
	}
}
