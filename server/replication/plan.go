package replication

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
)

// maxItems bounds the artifacts one run plans; a run past it says so and does the first.
const maxItems = 10_000

// planner works out what a run does: reads only, so a dry run is a plan.
type planner struct {
	f        *filter
	src, dst *registry.Client
	srcE     endpoint
	args     runArgs
	// seen remembers which repo@digest carry the rule's labels.
	seen map[string]bool
	// placed is where the run's copies put their blobs: shared ones are mounted, not sent again.
	placed ops.Placed
}

// item is a planned artifact with the repositories it moves between.
type item struct {
	api.ReplicationItem
	srcRepo, dstRepo, tag string
}

// repositories are the source repositories the run looks at.
func (p *planner) repositories(ctx context.Context) ([]string, error) {
	if p.args.Repository != "" {
		if !p.f.repository(p.args.Repository) {
			return nil, nil
		}
		return []string{p.args.Repository}, nil
	}
	if lit := p.f.literal(); lit != "" {
		return []string{lit}, nil
	}
	if p.srcE.NoCatalog {
		return nil, bad("The endpoint %s refuses _catalog: the rule must name one repository, not a pattern.", p.srcE.Name)
	}
	var out []string
	err := p.src.CatalogPages(ctx, func(page []string) error {
		for _, r := range page {
			if p.f.repository(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// notFound reports whether err says the repository or tag does not exist.
func notFound(err error) bool {
	return registry.Status(err) == http.StatusNotFound || httperr.Is(err, api.CodeNotFound)
}

// plan lists every artifact of the run.
func (p *planner) plan(ctx context.Context) ([]item, error) {
	repos, err := p.repositories(ctx)
	if err != nil {
		return nil, err
	}
	var out []item
	for _, repo := range repos {
		items, err := p.repository(ctx, repo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", repo, err)
		}
		out = append(out, items...)
		if len(out) >= maxItems {
			return out[:maxItems], nil
		}
	}
	return out, nil
}

// repository plans one source repository.
func (p *planner) repository(ctx context.Context, repo string) ([]item, error) {
	dstRepo := p.f.destination(repo)
	if p.args.Deleted {
		return p.deleted(ctx, repo, dstRepo)
	}
	var tags []string
	if p.args.Tag != "" {
		tags = []string{p.args.Tag}
	} else {
		all, err := p.src.Tags(ctx, repo)
		if err != nil && !notFound(err) {
			return nil, err
		}
		tags = all
	}
	want := p.choose(tags)
	srcDigests, err := p.src.HeadAll(ctx, repo, want)
	if err != nil && !notFound(err) {
		return nil, err
	}
	if err := p.labelled(ctx, repo, srcDigests); err != nil {
		return nil, err
	}
	if !p.f.rule.NoReferrers {
		if err := p.cosign(ctx, repo, tags, srcDigests); err != nil {
			return nil, err
		}
	}
	dstDigests, err := p.dst.TagDigests(ctx, dstRepo)
	if err != nil && !notFound(err) {
		// The destination cannot be read: plan every copy, whose attempts say what fails.
		dstDigests = nil
	}
	var out []item
	names := make([]string, 0, len(srcDigests))
	for t := range srcDigests {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, t := range names {
		out = append(out, p.compare(repo, dstRepo, t, srcDigests[t], dstDigests))
	}
	if p.args.Tag == "" && p.f.rule.Deletions {
		gone := make([]string, 0)
		for t := range dstDigests {
			if _, ok := srcDigests[t]; !ok && !slices.Contains(tags, t) && (p.f.tag(t) || cosignTag.MatchString(t)) {
				gone = append(gone, t)
			}
		}
		slices.Sort(gone)
		for _, t := range gone {
			out = append(out, p.newItem(repo, dstRepo, t, "", api.ItemDelete, "deleted at the source"))
		}
	}
	return out, nil
}

// choose keeps the tags the filters take; cosign's tags follow their subjects (cosign).
func (p *planner) choose(tags []string) []string {
	var out []string
	for _, t := range tags {
		if !cosignTag.MatchString(t) && p.f.tag(t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 && p.args.Tag != "" && cosignTag.MatchString(p.args.Tag) && !p.f.rule.NoReferrers {
		out = []string{p.args.Tag} // a signature pushed on its own, after its image
	}
	return out
}

// cosign adds the cosign tags (sha256-<hex>.sig, .att, .sbom) of every selected digest.
func (p *planner) cosign(ctx context.Context, repo string, tags []string, digests map[string]v1.Descriptor) error {
	subjects := map[string]bool{}
	for t, d := range digests {
		if !cosignTag.MatchString(t) {
			subjects[d.Digest.Hex] = true
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	if p.args.Tag != "" { // an event names one tag: list the repository's for its signatures
		all, err := p.src.Tags(ctx, repo)
		if err != nil {
			return err
		}
		tags = all
	}
	var extra []string
	for _, t := range tags {
		if m := cosignTag.FindStringSubmatch(t); m != nil && subjects[m[1]] {
			extra = append(extra, t)
		}
	}
	found, err := p.src.HeadAll(ctx, repo, extra)
	if err != nil {
		return err
	}
	for t, d := range found {
		digests[t] = d
	}
	return nil
}

// compare plans one tag: copy it, or skip it when the destination has it (or another image
// under it, without overwrite).
func (p *planner) compare(repo, dstRepo, tag string, src v1.Descriptor, dst map[string]v1.Descriptor) item {
	digest := src.Digest.String()
	if d, ok := dst[tag]; ok {
		if d.Digest == src.Digest {
			return p.newItem(repo, dstRepo, tag, digest, api.ItemSkip, "up to date")
		}
		if !p.f.rule.Overwrite {
			return p.newItem(repo, dstRepo, tag, digest, api.ItemSkip, "another image has the tag at the destination (no overwrite)")
		}
	}
	return p.newItem(repo, dstRepo, tag, digest, api.ItemCopy, "")
}

// deleted plans a tag deleted at the source (an event).
func (p *planner) deleted(ctx context.Context, repo, dstRepo string) ([]item, error) {
	t := p.args.Tag
	if t == "" || (!p.f.tag(t) && !cosignTag.MatchString(t)) {
		return nil, nil
	}
	if !p.f.rule.Deletions {
		return []item{p.newItem(repo, dstRepo, t, "", api.ItemSkip, "deleted at the source; the rule keeps deletions")}, nil
	}
	if _, err := p.dst.Head(ctx, dstRepo, t); notFound(err) {
		return []item{p.newItem(repo, dstRepo, t, "", api.ItemSkip, "not at the destination")}, nil
	} else if err != nil {
		return nil, err
	}
	return []item{p.newItem(repo, dstRepo, t, "", api.ItemDelete, "deleted at the source")}, nil
}

func (p *planner) newItem(repo, dstRepo, tag, digest, action, reason string) item {
	return item{
		ReplicationItem: api.ReplicationItem{
			Source: repo + ":" + tag, Destination: dstRepo + ":" + tag, Digest: digest, Action: action, Reason: reason,
		},
		srcRepo: repo, dstRepo: dstRepo, tag: tag,
	}
}
