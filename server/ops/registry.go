// Package ops runs Berth's write operations — delete, copy, retag, cleanup — as jobs with an
// id, a stream of progress events and cancellation, for the API and the berth CLI alike. Every
// registry request goes through server/registry, with the credentials of whoever started the
// operation.
package ops

import (
	"context"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

func badRequest(msg string) error {
	return httperr.New(api.CodeBadRequest, msg)
}

// cancelled prefers the context's error: a request cut by cancellation is not a failure.
func cancelled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
