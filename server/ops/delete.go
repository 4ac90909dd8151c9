package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
)

// Delete deletes tags (the tag only; the manifest stays for other tags) and manifests by
// digest (with every tag pointing to them) from one repository.
type Delete struct {
	reg  Registry
	repo name.Repository
	refs []name.Reference
}

// NewDelete checks the references and returns the delete of them.
func NewDelete(reg Registry, repository string, references []string) (*Delete, error) {
	repo, err := reg.Repository(repository)
	if err != nil {
		return nil, err
	}
	if len(references) == 0 {
		return nil, badRequest(errNoReferences.Error())
	}
	d := &Delete{reg: reg, repo: repo}
	for _, r := range references {
		ref, err := reg.Reference(joinRef(repository, r))
		if err != nil {
			return nil, err
		}
		d.refs = append(d.refs, ref)
	}
	return d, nil
}

// Summary says what the delete does.
func (d *Delete) Summary() string {
	ids := make([]string, 0, len(d.refs))
	for _, r := range d.refs {
		ids = append(ids, r.Identifier())
	}
	if len(ids) > 5 {
		ids = append(ids[:5], fmt.Sprintf("and %d more", len(ids)-5))
	}
	return fmt.Sprintf("delete %s: %s", d.repo.RepositoryStr(), strings.Join(ids, ", "))
}

// Run deletes each reference in turn; one that fails does not stop the others, but fails
// the job. A registry that does not allow deletes is named as the cause.
func (d *Delete) Run(ctx context.Context, report Report) (*api.JobResult, error) {
	opts := d.reg.options(ctx)
	res := &api.JobResult{}
	var errs []error
	report.phase("delete", fmt.Sprintf("Deleting %d references from %s", len(d.refs), d.repo.RepositoryStr()))
	for _, ref := range d.refs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		id := ref.Identifier()
		if isDigest(id) {
			if tags, err := SharingTags(ctx, d.reg, d.repo.RepositoryStr(), id); err == nil && len(tags) > 0 {
				report.message(fmt.Sprintf("Deleting manifest %s removes its tags %s", id, strings.Join(tags, ", ")))
			}
		}
		if err := remote.Delete(ref, opts...); err != nil {
			err = cancelled(ctx, explain(err, "delete "+ref.Name()))
			if errors.Is(err, context.Canceled) {
				return res, err
			}
			report.message(err.Error())
			errs = append(errs, err)
			continue
		}
		report.message("Deleted " + ref.Name())
		res.Deleted = append(res.Deleted, id)
	}
	return res, errors.Join(errs...)
}

// SharingTags returns the tags of repository that point to digest, sorted.
func SharingTags(ctx context.Context, reg Registry, repository, digest string) ([]string, error) {
	repo, err := reg.Repository(repository)
	if err != nil {
		return nil, err
	}
	tags, err := tagDigests(ctx, reg, repo)
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

// tagDigests resolves every tag of repo to its descriptor, eight at a time.
func tagDigests(ctx context.Context, reg Registry, repo name.Repository) (map[string]v1.Descriptor, error) {
	opts := reg.options(ctx)
	names, err := remote.List(repo, opts...)
	if err != nil {
		return nil, explain(err, "list the tags of "+repo.RepositoryStr())
	}
	var mu sync.Mutex
	out := make(map[string]v1.Descriptor, len(names))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	for _, t := range names {
		eg.Go(func() error {
			d, err := remote.Head(repo.Tag(t), reg.options(ectx)...)
			if err != nil {
				return explain(err, "read "+repo.Tag(t).Name())
			}
			mu.Lock()
			out[t] = *d
			mu.Unlock()
			return nil
		})
	}
	return out, eg.Wait()
}

// referrerTag matches tags named after a digest (cosign, OCI referrers fallback): they are
// accessories of other manifests, never cleaned up by rules.
var referrerTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.[a-z]+)?$`)

// Cleanup deletes the tags of a repository a rule selects. Plan says which; Run deletes
// exactly the plan it makes.
type Cleanup struct {
	reg              Registry
	rule             api.CleanupRule
	repo             name.Repository
	include, exclude *regexp.Regexp
	olderThan        time.Duration
	// Now is the clock OlderThan is measured against.
	Now func() time.Time
}

// NewCleanup checks the rule and returns the cleanup it describes.
func NewCleanup(reg Registry, rule api.CleanupRule) (*Cleanup, error) {
	repo, err := reg.Repository(rule.Repository)
	if err != nil {
		return nil, err
	}
	c := &Cleanup{reg: reg, rule: rule, repo: repo, Now: time.Now}
	if rule.KeepLast < 0 {
		return nil, badRequest("keepLast must be 0 or more")
	}
	if rule.OlderThan != "" {
		if c.olderThan, err = config.ParseDuration(rule.OlderThan); err != nil {
			return nil, badRequest("olderThan: " + err.Error())
		}
	}
	if rule.Include != "" {
		if c.include, err = regexp.Compile(rule.Include); err != nil {
			return nil, badRequest("include: " + err.Error())
		}
	}
	if rule.Exclude != "" {
		if c.exclude, err = regexp.Compile(rule.Exclude); err != nil {
			return nil, badRequest("exclude: " + err.Error())
		}
	}
	if rule.KeepLast == 0 && c.olderThan == 0 && c.include == nil {
		return nil, badRequest("a rule needs keepLast, olderThan or include; it would delete every tag")
	}
	return c, nil
}

// Summary says what the cleanup does.
func (c *Cleanup) Summary() string {
	var parts []string
	if c.rule.KeepLast > 0 {
		parts = append(parts, fmt.Sprintf("keep last %d", c.rule.KeepLast))
	}
	if c.rule.OlderThan != "" {
		parts = append(parts, "older than "+c.rule.OlderThan)
	}
	if c.rule.Include != "" {
		parts = append(parts, "include /"+c.rule.Include+"/")
	}
	if c.rule.Exclude != "" {
		parts = append(parts, "exclude /"+c.rule.Exclude+"/")
	}
	if len(c.rule.Keep) > 0 {
		parts = append(parts, "keep "+strings.Join(c.rule.Keep, ", "))
	}
	return fmt.Sprintf("cleanup %s (%s)", c.repo.RepositoryStr(), strings.Join(parts, "; "))
}

// candidate is a tag the rule looks at.
type candidate struct {
	tag     string
	digest  string
	created time.Time
}

// Plan returns the tags the rule deletes, oldest first. A tag is a candidate when it matches
// Include (if set), does not match Exclude, is not in Keep and is not named after a digest;
// candidates are ordered newest first by image creation time (unknown times count as
// oldest), the first KeepLast stay, and of the rest those created more than OlderThan ago
// (when set) go. A digest whose every tag goes is deleted as a manifest.
func (c *Cleanup) Plan(ctx context.Context) (api.CleanupPlan, error) {
	tags, err := tagDigests(ctx, c.reg, c.repo)
	if err != nil {
		return api.CleanupPlan{}, err
	}
	var cands []candidate
	for t, d := range tags {
		if referrerTag.MatchString(t) || slices.Contains(c.rule.Keep, t) ||
			(c.include != nil && !c.include.MatchString(t)) || (c.exclude != nil && c.exclude.MatchString(t)) {
			continue
		}
		cands = append(cands, candidate{tag: t, digest: d.Digest.String()})
	}
	if err := c.dates(ctx, cands); err != nil {
		return api.CleanupPlan{}, err
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if n := b.created.Compare(a.created); n != 0 {
			return n
		}
		return strings.Compare(a.tag, b.tag)
	})
	plan := api.CleanupPlan{Repository: c.repo.RepositoryStr(), Delete: []api.CleanupItem{}}
	cutoff := c.Now().Add(-c.olderThan)
	going := map[string]bool{}
	for i, cd := range cands {
		if i < c.rule.KeepLast || (c.olderThan > 0 && (cd.created.IsZero() || !cd.created.Before(cutoff))) {
			continue
		}
		plan.Delete = append(plan.Delete, api.CleanupItem{Tag: cd.tag, Digest: cd.digest, Created: cd.created})
		going[cd.tag] = true
	}
	slices.Reverse(plan.Delete)
	for i, it := range plan.Delete {
		all := true
		for t, d := range tags {
			if d.Digest.String() == it.Digest && !going[t] {
				all = false
				break
			}
		}
		plan.Delete[i].Manifest = all
	}
	plan.Kept = len(tags) - len(plan.Delete)
	return plan, nil
}

// dates fills in when each candidate's image was created: the config's date, the newest of
// the platforms' for an index.
func (c *Cleanup) dates(ctx context.Context, cands []candidate) error {
	created := map[string]time.Time{}
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	seen := map[string]bool{}
	for _, cd := range cands {
		if seen[cd.digest] {
			continue
		}
		seen[cd.digest] = true
		eg.Go(func() error {
			t, err := createdAt(ectx, c.reg, c.repo.Digest(cd.digest), 0)
			if err != nil {
				return err
			}
			mu.Lock()
			created[cd.digest] = t
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	for i := range cands {
		cands[i].created = created[cands[i].digest]
	}
	return nil
}

// createdAt reads when the image at ref was created; zero when no config says.
func createdAt(ctx context.Context, reg Registry, ref name.Digest, depth int) (time.Time, error) {
	opts := reg.options(ctx)
	d, err := remote.Get(ref, opts...)
	if err != nil {
		return time.Time{}, explain(err, "read "+ref.Name())
	}
	var m manifestFields
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return time.Time{}, fmt.Errorf("manifest %s: %w", ref.DigestStr(), err)
	}
	var newest time.Time
	if len(m.Manifests) > 0 && depth == 0 {
		for _, child := range m.Manifests {
			if child.Platform == nil || child.Platform.OS == "unknown" {
				continue // attestations
			}
			t, err := createdAt(ctx, reg, ref.Context().Digest(child.Digest.String()), depth+1)
			if err != nil {
				return time.Time{}, err
			}
			if t.After(newest) {
				newest = t
			}
		}
		return newest, nil
	}
	if m.Config == nil || !strings.Contains(string(m.Config.MediaType), "image.config") && !strings.Contains(string(m.Config.MediaType), "container.image") {
		return time.Time{}, nil
	}
	l, err := remote.Layer(ref.Context().Digest(m.Config.Digest.String()), opts...)
	if err != nil {
		return time.Time{}, explain(err, "read config of "+ref.Name())
	}
	rc, err := l.Compressed()
	if err != nil {
		return time.Time{}, explain(err, "read config of "+ref.Name())
	}
	defer rc.Close()
	var cfg struct {
		Created time.Time `json:"created"`
	}
	if err := json.NewDecoder(rc).Decode(&cfg); err != nil {
		return time.Time{}, fmt.Errorf("config of %s: %w", ref.Name(), err)
	}
	return cfg.Created, nil
}

// Run makes the plan and deletes exactly what it lists: a digest whose every tag goes by
// digest, other tags one by one.
func (c *Cleanup) Run(ctx context.Context, report Report) (*api.JobResult, error) {
	report.phase("plan", "Selecting tags of "+c.repo.RepositoryStr())
	plan, err := c.Plan(ctx)
	if err != nil {
		return nil, err
	}
	res := &api.JobResult{Plan: &plan}
	report.message(fmt.Sprintf("%d tags to delete, %d kept", len(plan.Delete), plan.Kept))
	report.phase("delete", fmt.Sprintf("Deleting %d tags", len(plan.Delete)))
	opts := c.reg.options(ctx)
	done := map[string]bool{}
	var errs []error
	for _, it := range plan.Delete {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var ref name.Reference = c.repo.Tag(it.Tag)
		if it.Manifest {
			if done[it.Digest] {
				res.Deleted = append(res.Deleted, it.Tag)
				continue
			}
			ref = c.repo.Digest(it.Digest)
		}
		if err := remote.Delete(ref, opts...); err != nil {
			err = cancelled(ctx, explain(err, "delete "+ref.Name()))
			if errors.Is(err, context.Canceled) {
				return res, err
			}
			report.message(err.Error())
			errs = append(errs, err)
			continue
		}
		done[it.Digest] = it.Manifest
		report.message("Deleted " + c.repo.Tag(it.Tag).Name())
		res.Deleted = append(res.Deleted, it.Tag)
	}
	return res, errors.Join(errs...)
}
