package ops

import (
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// maxPlaced bounds the blobs a Placed remembers.
const maxPlaced = 100_000

// Placed remembers which destination repository holds each blob copies have written, so
// that a later copy into another repository of the same registry mounts the blob there
// instead of uploading it again: a replication run moves a shared base layer once. Safe for
// concurrent copies.
type Placed struct {
	mu sync.Mutex
	at map[v1.Hash]string
}

// where returns a repository holding the blob, or "".
func (p *Placed) where(d v1.Hash) string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.at[d]
}

// add records that repository holds the blob.
func (p *Placed) add(d v1.Hash, repository string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at == nil {
		p.at = map[v1.Hash]string{}
	}
	if _, ok := p.at[d]; ok || len(p.at) < maxPlaced {
		p.at[d] = repository
	}
}

// mountable returns the layer to write and whether the registry may mount it: from the
// source repository within one registry (mount), else from a destination repository an
// earlier copy put it in.
func (c *Copy) mountable(l v1.Layer, d v1.Hash, mount bool) (v1.Layer, bool) {
	if mount {
		return l, true
	}
	repo := c.Placed.where(d)
	if repo == "" || repo == c.dstRepo {
		return l, false
	}
	ref, err := c.Destination.Registry.Reference(repo, d.String())
	if err != nil {
		return l, false
	}
	return &remote.MountableLayer{Layer: l, Reference: ref}, true
}
