package registry

import "context"

// Change is a manifest write or delete, as a WriteGuard sees it before it is sent.
type Change struct {
	Repository string
	// Ref is the tag or digest written or deleted.
	Ref string
	// Delete is set for deletes; Raw, MediaType and Digest describe a put.
	Delete    bool
	Raw       []byte
	MediaType string
	Digest    string
}

// WriteGuard decides whether a change may be made (immutable tags, quotas); a non-nil answer
// refuses it and is the error the writer returns. Every Writer asks it before each manifest
// put and delete it is asked for; the throw-away manifest of a tag delete is not asked about
// again (the delete was).
type WriteGuard interface {
	Check(ctx context.Context, ch Change) error
}

// guarded asks the client's guard, if any, about ch.
func (c *Client) guarded(ctx context.Context, ch Change) error {
	if c.guard == nil {
		return nil
	}
	return c.guard.Check(ctx, ch)
}

// TagProtector is a WriteGuard that tells which tags it would refuse to delete, so that
// cleanups keep them instead of failing on them.
type TagProtector interface {
	// Protected returns the tags of repository among tags that may not be deleted, each
	// with the reason.
	Protected(ctx context.Context, repository string, tags []string) (map[string]string, error)
}

// Protected returns which of tags the client's guard protects (none without a guard).
func (c *Client) Protected(ctx context.Context, repository string, tags []string) (map[string]string, error) {
	if p, ok := c.guard.(TagProtector); ok {
		return p.Protected(ctx, repository, tags)
	}
	return nil, nil
}
