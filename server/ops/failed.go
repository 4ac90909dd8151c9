package ops

import (
	"context"
	"strconv"

	"github.com/riverqueue/river"
)

// FailedJob is a write job that failed, as Options.OnFailed hears of it.
type FailedJob struct {
	ID, Kind, Summary, User string
	// Repository is the first repository of Berth's registry the job touched ("" for none).
	Repository string
	Error      string
}

// failed tells OnFailed about job, which failed with reason.
func (m *Manager) failed(ctx context.Context, job *river.Job[opArgs], reason string) {
	if m.opts.OnFailed == nil {
		return
	}
	args := job.Args
	f := FailedJob{ID: strconv.FormatInt(job.ID, 10), Kind: args.Request.Kind, Summary: args.Summary, User: args.User, Error: reason}
	if t := touches(args.Request); len(t) > 0 {
		f.Repository = repositoryOf(t[0])
	}
	m.opts.OnFailed(ctx, f)
}
