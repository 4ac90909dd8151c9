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
