package ops

import (
	"context"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// maxPlaced bounds the blobs a Placed remembers.
const maxPlaced = 100_000

// Placed remembers which destination repository holds each blob copies have written, so
// that a later copy into another repository of the same registry mounts the blob there
// instead of uploading it again, and a copy wanting a blob another is uploading waits for it:
// a replication run moves a shared base layer once. Safe for concurrent copies.
type Placed struct {
	mu      sync.Mutex
	at      map[v1.Hash]string
	pending map[v1.Hash]chan struct{}
}

// claim returns a repository holding the blob, waiting while another copy uploads it; or ""
// with done non-nil: the caller uploads the blob and calls done with the repository it
// wrote it to ("" if it failed).
func (p *Placed) claim(ctx context.Context, d v1.Hash) (repo string, done func(repo string)) {
	if p == nil {
		return "", func(string) {}
	}
	for {
		p.mu.Lock()
		if r, ok := p.at[d]; ok {
			p.mu.Unlock()
			return r, nil
		}
		wait, busy := p.pending[d]
		if !busy {
			if p.pending == nil {
				p.pending, p.at = map[v1.Hash]chan struct{}{}, map[v1.Hash]string{}
			}
			ch := make(chan struct{})
			p.pending[d] = ch
			p.mu.Unlock()
			return "", func(repo string) { p.release(d, repo, ch) }
		}
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return "", func(string) {}
		}
	}
}

// release ends an upload claim: the blob is in repo (unless "").
func (p *Placed) release(d v1.Hash, repo string, ch chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if repo != "" && len(p.at) < maxPlaced {
		p.at[d] = repo
	}
	delete(p.pending, d)
	close(ch)
}

// mountable returns the layer to write, whether the registry may mount it, and what to call
// once it is written ("" if it failed): within one registry (mount) it is mounted from the
// source repository; else from a destination repository another copy put it in.
func (c *Copy) mountable(ctx context.Context, l v1.Layer, d v1.Hash, mount bool) (v1.Layer, bool, func(repo string)) {
	if mount {
		return l, true, func(string) {}
	}
	repo, done := c.Placed.claim(ctx, d)
	if done != nil {
		return l, false, done
	}
	noop := func(string) {}
	if repo == c.dstRepo {
		return l, false, noop // the destination has it: the write finds it there
	}
	ref, err := c.Destination.Registry.Reference(repo, d.String())
	if err != nil {
		return l, false, noop
	}
	return &remote.MountableLayer{Layer: l, Reference: ref}, true, noop
}
