package ops

import (
	"context"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
)

// need is what a job needs on one repository of Berth's registry.
type need struct {
	repository string
	actions    access.Actions
}

// needs lists what req needs on Berth's registry (other registries decide for themselves):
// delete (delete), retag and import (push), copy (pull the source, push the destination),
// cleanup (delete; a dry run only pulls).
func needs(req api.JobRequest) []need {
	switch req.Kind {
	case api.JobDelete:
		return []need{{req.Repository, access.Delete}}
	case api.JobRetag, api.JobImport:
		return []need{{req.Repository, access.Pull | access.Push}}
	case api.JobCopy:
		var out []need
		if req.SourceRegistry == "" && req.Source != "" {
			out = append(out, need{repositoryOf(req.Source), access.Pull})
		}
		if req.DestinationRegistry == "" && req.Destination != "" {
			out = append(out, need{repositoryOf(req.Destination), access.Push})
		}
		return out
	case api.JobCleanup:
		if req.Rule == nil {
			return nil
		}
		if req.DryRun {
			return []need{{req.Rule.Repository, access.Pull}}
		}
		return []need{{req.Rule.Repository, access.Pull | access.Delete}}
	}
	return nil
}

// authorize asks the authorizer for everything req needs, on the request as decoded (the one
// value the job is then made from), before anything is read or queued.
func (m *Manager) authorize(ctx context.Context, req api.JobRequest) error {
	for _, n := range needs(req) {
		if err := m.opts.Authorizer.Authorize(ctx, n.repository, n.actions); err != nil {
			return err
		}
	}
	return nil
}

// repositoryOf cuts the tag or digest off repo:tag or repo@digest.
func repositoryOf(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}
