package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// Delete deletes tags (the tag only; the manifest stays for other tags) and manifests by
// digest (with every tag pointing to them) from one repository.
type Delete struct {
	// Resume takes a reference already gone for deleted: a run before this one, cut short
	// by a crash, may have deleted it.
	Resume bool

	reg        *registry.Client
	repository string
	refs       []string
}

// maxReferences bounds the tags and digests of one delete.
const maxReferences = 10_000

// NewDelete checks the references and returns the delete of them.
func NewDelete(reg *registry.Client, repository string, references []string) (*Delete, error) {
	if err := registry.ValidateRepository(repository); err != nil {
		return nil, err
	}
	if len(references) == 0 {
		return nil, badRequest(errNoReferences.Error())
	}
	if len(references) > maxReferences {
		return nil, badRequest(fmt.Sprintf("at most %d tags or digests per delete", maxReferences))
	}
	for _, r := range references {
		if err := registry.ValidateReference(r); err != nil {
			return nil, err
		}
	}
	return &Delete{reg: reg, repository: repository, refs: slices.Compact(slices.Clone(references))}, nil
}

// Summary says what the delete does.
func (d *Delete) Summary() string {
	ids := slices.Clone(d.refs)
	if len(ids) > 5 {
		ids = append(ids[:5], fmt.Sprintf("and %d more", len(ids)-5))
	}
	return fmt.Sprintf("delete %s: %s", d.repository, strings.Join(ids, ", "))
}

// Run deletes each reference in turn; one that fails does not stop the others, but fails
// the job. A registry that does not allow deletes is named as the cause.
func (d *Delete) Run(ctx context.Context, report Report) (*api.JobResult, error) {
	w, err := d.reg.Writer(ctx)
	if err != nil {
		return nil, err
	}
	res := &api.JobResult{}
	var errs []error
	report.phase("delete", fmt.Sprintf("Deleting %d references from %s", len(d.refs), d.repository))
	for _, ref := range d.refs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if registry.IsDigest(ref) {
			if tags, err := SharingTags(ctx, d.reg, d.repository, ref); err == nil && len(tags) > 0 {
				report.message(fmt.Sprintf("Deleting manifest %s removes its tags %s", ref, strings.Join(tags, ", ")))
			}
		}
		name := d.reg.Address().Host + "/" + registry.JoinReference(d.repository, ref)
		if err := w.Delete(ctx, d.repository, ref); err != nil {
			err = cancelled(ctx, err)
			if errors.Is(err, context.Canceled) {
				return res, err
			}
			if d.Resume && httperr.Is(err, api.CodeNotFound) {
				report.message(name + " is gone already (the attempt before deleted it, or it never was)")
				res.Deleted = append(res.Deleted, ref)
				continue
			}
			report.message(message(err))
			errs = append(errs, err)
			continue
		}
		report.message("Deleted " + name)
		res.Deleted = append(res.Deleted, ref)
	}
	return res, errors.Join(errs...)
}

// SharingTags returns the tags of repository that point to digest, sorted.
func SharingTags(ctx context.Context, reg *registry.Client, repository, digest string) ([]string, error) {
	tags, err := reg.TagDigests(ctx, repository)
	if err != nil {
		return nil, err
	}
	var out []string
	for t, d := range tags {
		if d.Digest.String() == digest {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

var errNoReferences = errors.New("nothing to delete: give at least one tag or digest")
