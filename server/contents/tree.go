package contents

import (
	"context"
	"path"
	"slices"
	"strings"
	"sync"
)

// node is an entry of the merged filesystem and the layer that last wrote it.
type node struct {
	e     entry
	layer int
	// implicit marks a directory no tar listed, only paths below it.
	implicit bool
}

// filesystem is an image's merged filesystem.
type filesystem struct {
	nodes    map[string]node
	children map[string][]string // directory → sorted child paths
	files    int
	bytes    int64
}

// merge applies the layers in order, as a container runtime would: a whiteout deletes its path
// and everything below it from the layers beneath, an opaque marker hides what the layers
// beneath put into its directory, and a non-directory over a directory replaces it whole.
func merge(layers []*layerIndex) *filesystem {
	nodes := map[string]node{}
	for i, x := range layers {
		gone := map[string]bool{}   // paths deleted with everything under them
		hidden := map[string]bool{} // directories whose lower contents are hidden
		for _, e := range x.entries {
			switch e.typ {
			case tWhiteout:
				gone[e.path] = true
			case tOpaque:
				hidden[e.path] = true
			default:
				if old, ok := nodes[e.path]; ok && old.e.typ == tDir && e.typ != tDir {
					hidden[e.path] = true
				}
			}
		}
		if len(gone) > 0 || len(hidden) > 0 {
			for p := range nodes {
				if gone[p] {
					delete(nodes, p)
					continue
				}
				for d := path.Dir(p); ; d = path.Dir(d) {
					if gone[d] || hidden[d] {
						delete(nodes, p)
						break
					}
					if d == "/" {
						break
					}
				}
			}
		}
		for _, e := range x.entries {
			if e.typ == tWhiteout || e.typ == tOpaque {
				if e.typ == tOpaque {
					if _, ok := nodes[e.path]; !ok {
						nodes[e.path] = node{e: entry{path: e.path, typ: tDir, mode: 0o755}, layer: i, implicit: true}
					}
				}
				continue
			}
			nodes[e.path] = node{e: e, layer: i}
			// Tars may omit parent directories; the filesystem still has them.
			for d := path.Dir(e.path); d != "/"; d = path.Dir(d) {
				if _, ok := nodes[d]; ok {
					break
				}
				nodes[d] = node{e: entry{path: d, typ: tDir, mode: 0o755}, layer: i, implicit: true}
			}
		}
	}
	fs := &filesystem{nodes: nodes, children: map[string][]string{}}
	for p, n := range nodes {
		parent := path.Dir(p)
		fs.children[parent] = append(fs.children[parent], p)
		if n.e.typ == tReg {
			fs.files++
			fs.bytes += n.e.size
		}
	}
	for _, c := range fs.children {
		slices.Sort(c)
	}
	return fs
}

// resolveLink follows symlinks (relative to their directory, or absolute) and hard links
// from p, as many as 40 hops like Linux, and returns the path it ends at.
func (fs *filesystem) resolveLink(p string) (string, node, bool) {
	for range 40 {
		n, ok := fs.nodes[p]
		if !ok {
			// A symlink may go through a symlinked directory: resolve the parent, then retry.
			dir, base := path.Split(p)
			dir = path.Clean(dir)
			if dir == "/" || dir == p {
				return p, node{}, false
			}
			rd, dn, ok := fs.resolveLink(dir)
			if !ok || dn.e.typ != tDir || rd == dir {
				return p, node{}, false
			}
			p = path.Join(rd, base)
			continue
		}
		switch n.e.typ {
		case tSymlink:
			if strings.HasPrefix(n.e.link, "/") {
				p = path.Clean(n.e.link)
			} else {
				p = path.Join(path.Dir(p), n.e.link)
			}
		case tHardlink:
			p = n.e.link
		default:
			return p, n, true
		}
	}
	return p, node{}, false
}

// layers returns the decoded indexes of every layer of img, building missing ones.
func (s *Service) layerIndexes(ctx context.Context, img *image) ([]*layerIndex, error) {
	out := make([]*layerIndex, len(img.layers))
	for i, l := range img.layers {
		x, err := s.index(ctx, l)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// filesystemCache keeps the merged filesystems of the last few images, by manifest digest:
// browsing a tree asks for one directory at a time.
type filesystemCache struct {
	mu    sync.Mutex
	order []string
	byKey map[string]*filesystem
}

const filesystemsKept = 8

func (c *filesystemCache) get(digest string) *filesystem {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKey[digest]
}

func (c *filesystemCache) put(digest string, fs *filesystem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]*filesystem{}
	}
	if _, ok := c.byKey[digest]; ok {
		return
	}
	c.byKey[digest] = fs
	c.order = append(c.order, digest)
	if len(c.order) > filesystemsKept {
		delete(c.byKey, c.order[0])
		c.order = c.order[1:]
	}
}

// filesystem returns img's merged filesystem. img was just read as the caller.
func (s *Service) filesystem(ctx context.Context, img *image) (*filesystem, []*layerIndex, error) {
	layers, err := s.layerIndexes(ctx, img)
	if err != nil {
		return nil, nil, err
	}
	if fs := s.filesystems.get(img.digest); fs != nil {
		return fs, layers, nil
	}
	fs := merge(layers)
	s.filesystems.put(img.digest, fs)
	return fs, layers, nil
}
