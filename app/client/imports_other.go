//go:build !(js && wasm)

package client

import (
	"context"

	"github.com/berth-registry/berth/app/api"
)

// FileInput returns the file chosen in a file input: outside the browser there is none.
func FileInput(id string) (a Archive, name string, ok bool) { return nil, "", false }

func (c *Berth) upload(ctx context.Context, path string, a Archive, progress func(sent, total int64)) (string, error) {
	ra, ok := a.(ReaderArchive)
	if !ok {
		return "", &api.Error{Code: api.CodeBadRequest, Message: "Nothing to upload."}
	}
	return c.post(ctx, path, ra, progress)
}
