package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// Delete deletes tags (the tag only; the manifest stays for other tags) and manifests by
// digest (with every tag pointing to them) from one repository.
//
// Before deleting anything it records what each reference points at (a tag its digest, a
// digest the tags pointing at it), and before each reference that it starts on it. An
// attempt resumed after a crash, maybe an hour later, reads that back: it skips what the
// attempt before deleted, takes a reference gone since only for deleted when the attempt
// before had started on it, and leaves alone a tag moved to another image meanwhile, or a
// manifest that got new tags, failing the job with why.
type Delete struct {
	// Resume is set when an attempt before this one, cut short, may have deleted part of the
	// references; Prior is what it recorded (see recorded).
	Resume bool
	Prior  []api.JobEvent
	// Durable, when set, makes the events reported so far durable; the delete calls it after
	// recording what the references point at and before deleting each.
	Durable func(context.Context) error

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
	report.phase("resolve", fmt.Sprintf("Resolving %s of %s", api.Plural(len(d.refs), "reference"), d.repository))
	now, err := d.resolve(ctx)
	if err != nil {
		return nil, err
	}
	before, started, deleted := d.earlier()
	if before == nil {
		// A first attempt, or one after an attempt that stopped before its record was
		// durable, and so before it deleted anything.
		before = now
		refs := make([]api.JobRef, 0, len(d.refs))
		for _, ref := range d.refs {
			refs = append(refs, now[ref])
		}
		report(api.JobEvent{Type: api.EventMessage, Message: fmt.Sprintf("Resolved %s of %s", api.Plural(len(refs), "reference"), d.repository), Refs: refs})
		if err := d.durable(ctx); err != nil {
			return nil, err
		}
	}
	res := &api.JobResult{}
	var errs []error
	report.phase("delete", fmt.Sprintf("Deleting %s from %s", api.Plural(len(d.refs), "reference"), d.repository))
	for _, ref := range d.refs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		name := d.reg.Address().Host + "/" + registry.JoinReference(d.repository, ref)
		if deleted[ref] {
			report.message(name + " was deleted by the attempt before")
			res.Deleted = append(res.Deleted, ref)
			continue
		}
		target := ref
		if why := changed(before[ref], now[ref]); why != "" {
			// Only a resumed attempt sees a difference: the first one resolved now itself.
			if !d.placeholderLeft(ctx, ref, now[ref].Digest) {
				report.message(why)
				errs = append(errs, httperr.New(api.CodeConflict, why))
				continue
			}
			target = now[ref].Digest
		}
		if tags := now[ref].Tags; len(tags) > 0 {
			report.message(fmt.Sprintf("Deleting manifest %s removes its tags %s", ref, strings.Join(tags, ", ")))
		}
		report(api.JobEvent{Type: api.EventMessage, Message: "Deleting " + name, Ref: ref, Step: api.StepDeleting})
		if err := d.durable(ctx); err != nil {
			return res, err
		}
		how, err := w.Delete(ctx, d.repository, target)
		if target != ref {
			how.Placeholder = target
		}
		if err != nil {
			err = cancelled(ctx, err)
			if errors.Is(err, context.Canceled) {
				return res, err
			}
			if started[ref] && before[ref].Digest != "" && httperr.Is(err, api.CodeNotFound) {
				// Existed when the job started, and the attempt before sent its delete.
				report(api.JobEvent{Type: api.EventMessage, Message: name + " is gone already: the attempt before deleted it", Ref: ref, Step: api.StepDeleted})
				res.Deleted = append(res.Deleted, ref)
				continue
			}
			report.message(message(err))
			errs = append(errs, err)
			continue
		}
		report(api.JobEvent{Type: api.EventMessage, Message: deletedMessage(name, how), Ref: ref, Step: api.StepDeleted})
		noteHow(res, how)
		res.Deleted = append(res.Deleted, ref)
	}
	return res, errors.Join(errs...)
}

// deletedMessage says that name was deleted, and how where the registry could not delete a
// tag alone.
func deletedMessage(name string, how registry.Deleted) string {
	if how.Placeholder == "" {
		return "Deleted " + name
	}
	return fmt.Sprintf("Deleted %s: the registry cannot delete a tag alone (distribution 2.x), so Berth pointed the tag at an empty placeholder manifest and deleted that (%s); the image and its other tags stay", name, how.Placeholder)
}

// placeholderLeft reports whether the attempt before stopped between pointing tag at a
// placeholder manifest (digest) and deleting that: the tag is then deleted by it.
func (d *Delete) placeholderLeft(ctx context.Context, tag, digest string) bool {
	return d.Resume && !registry.IsDigest(tag) && digest != "" && d.reg.IsPlaceholder(ctx, d.repository, digest, tag)
}

// placeholderNote is a result's note when a tag went by way of a placeholder manifest.
const placeholderNote = "The registry cannot delete a tag alone (distribution 2.x): Berth pointed the tag at an empty placeholder manifest and deleted that. The image stays, untagged unless other tags point at it."

// noteHow notes in res a tag deleted by way of a placeholder.
func noteHow(res *api.JobResult, how registry.Deleted) {
	if how.Placeholder != "" {
		res.Note = placeholderNote
	}
}

// durable makes the events reported so far durable, where the delete runs as a job.
func (d *Delete) durable(ctx context.Context) error {
	if d.Durable == nil {
		return nil
	}
	if err := d.Durable(ctx); err != nil {
		return httperr.Wrap(api.CodeStoreUnavailable, "The job store failed, so the delete stopped before deleting what it could not record; try again shortly.", err)
	}
	return nil
}

// earlier returns what the attempts before this one recorded: what the references pointed at
// when the first of them started (nil when none recorded it), and the references they
// started on and deleted.
func (d *Delete) earlier() (before map[string]api.JobRef, started, deleted map[string]bool) {
	if !d.Resume {
		return nil, nil, nil
	}
	started, deleted = map[string]bool{}, map[string]bool{}
	for _, e := range d.Prior {
		if len(e.Refs) > 0 && before == nil {
			before = map[string]api.JobRef{}
			for _, r := range e.Refs {
				before[r.Ref] = r
			}
		}
		switch e.Step {
		case api.StepDeleting:
			started[e.Ref] = true
		case api.StepDeleted:
			deleted[e.Ref] = true
		}
	}
	return before, started, deleted
}

// changed says why a reference is left alone when what it points at now differs from what
// it pointed at when the job started, "" when it may be deleted: a tag moved to another
// image, a reference pushed since, a manifest that got new tags. A reference gone since is
// not a change: its delete answers 404.
func changed(was, is api.JobRef) string {
	switch {
	case is.Digest == "":
		return ""
	case was.Digest == "":
		return fmt.Sprintf("%s did not exist when the job started and was pushed after the crash; left alone", is.Ref)
	case !registry.IsDigest(is.Ref) && is.Digest != was.Digest:
		return fmt.Sprintf("tag %s was moved to another image after the crash; left alone", is.Ref)
	}
	var added []string
	for _, t := range is.Tags {
		if !slices.Contains(was.Tags, t) {
			added = append(added, t)
		}
	}
	if len(added) > 0 {
		return fmt.Sprintf("manifest %s was tagged %s after the crash; left alone, since deleting it would delete those tags", is.Ref, strings.Join(added, ", "))
	}
	return ""
}

// resolve returns what each reference points at now: a tag its digest, a digest itself and
// the tags pointing at it; a reference that does not exist has no digest.
func (d *Delete) resolve(ctx context.Context) (map[string]api.JobRef, error) {
	var tags map[string]v1.Descriptor
	if slices.ContainsFunc(d.refs, registry.IsDigest) {
		var err error
		if tags, err = tagDigests(ctx, d.reg, d.repository); err != nil {
			return nil, err
		}
	}
	var mu sync.Mutex
	out := make(map[string]api.JobRef, len(d.refs))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(d.reg.Concurrency())
	for _, ref := range d.refs {
		eg.Go(func() error {
			r := api.JobRef{Ref: ref}
			if t, ok := tags[ref]; ok {
				r.Digest = t.Digest.String()
			} else if tags == nil || registry.IsDigest(ref) {
				desc, err := d.reg.Head(ectx, d.repository, ref)
				switch {
				case httperr.Is(err, api.CodeNotFound):
				case err != nil:
					return cancelled(ctx, err)
				default:
					r.Digest = desc.Digest.String()
				}
			}
			if r.Digest != "" && registry.IsDigest(ref) {
				for t, desc := range tags {
					if desc.Digest.String() == ref {
						r.Tags = append(r.Tags, t)
					}
				}
				slices.Sort(r.Tags)
			}
			mu.Lock()
			out[ref] = r
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// tagDigests resolves every tag of repository, none when the repository does not exist; a
// tag deleted between the listing and its HEAD makes it list again, once.
func tagDigests(ctx context.Context, reg *registry.Client, repository string) (map[string]v1.Descriptor, error) {
	for try := 0; ; try++ {
		names, err := reg.Tags(ctx, repository)
		if httperr.Is(err, api.CodeNotFound) {
			return map[string]v1.Descriptor{}, nil
		}
		if err != nil {
			return nil, err
		}
		tags, err := reg.HeadAll(ctx, repository, names)
		if err == nil || try > 0 || !httperr.Is(err, api.CodeNotFound) {
			return tags, err
		}
	}
}

var errNoReferences = errors.New("nothing to delete: give at least one tag or digest")
