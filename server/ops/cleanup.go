package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
)

// Cleanup deletes the tags of a repository a rule selects. Plan says which; Run deletes
// exactly the plan it makes.
type Cleanup struct {
	reg              *registry.Client
	rule             api.CleanupRule
	repository       string
	include, exclude *regexp.Regexp
	olderThan        time.Duration
	// Now is the clock OlderThan is measured against.
	Now func() time.Time
}

// NewCleanup checks the rule and returns the cleanup it describes.
func NewCleanup(reg *registry.Client, rule api.CleanupRule) (*Cleanup, error) {
	if err := registry.ValidateRepository(rule.Repository); err != nil {
		return nil, err
	}
	for _, t := range rule.Keep {
		if err := registry.ValidateTag(t); err != nil {
			return nil, err
		}
	}
	var err error
	c := &Cleanup{reg: reg, rule: rule, repository: rule.Repository, Now: time.Now}
	if rule.KeepLast < 0 {
		return nil, badRequest("keepLast must be 0 or more")
	}
	if rule.OlderThan != "" {
		if c.olderThan, err = api.ParseDuration(rule.OlderThan); err != nil {
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
	return fmt.Sprintf("cleanup %s (%s)", c.repository, strings.Join(parts, "; "))
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
	tags, err := c.reg.TagDigests(ctx, c.repository)
	if err != nil {
		return api.CleanupPlan{}, err
	}
	// Immutable tags always stay (governance).
	protected, err := c.reg.Protected(ctx, c.repository, slices.Collect(maps.Keys(tags)))
	if err != nil {
		return api.CleanupPlan{}, err
	}
	var cands []candidate
	for t, d := range tags {
		if _, ok := protected[t]; ok || registry.IsReferrerTag(t) || slices.Contains(c.rule.Keep, t) ||
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
	plan := api.CleanupPlan{Repository: c.repository, Delete: []api.CleanupItem{}}
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
	eg.SetLimit(c.reg.Concurrency())
	seen := map[string]bool{}
	for _, cd := range cands {
		if seen[cd.digest] {
			continue
		}
		seen[cd.digest] = true
		eg.Go(func() error {
			t, err := createdAt(ectx, c.reg, c.repository, cd.digest, 0)
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

// manifestFields is the union of the image manifest and index fields a walk follows.
type manifestFields struct {
	MediaType types.MediaType `json:"mediaType"`
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
	Manifests []v1.Descriptor `json:"manifests"`
}

// createdAt reads when the image with digest was created: the config's date, the newest of
// its platforms' for an index; zero when no config says.
func createdAt(ctx context.Context, reg *registry.Client, repository, digest string, depth int) (time.Time, error) {
	got, err := reg.Get(ctx, repository, digest)
	if err != nil {
		return time.Time{}, err
	}
	var m manifestFields
	if err := json.Unmarshal(got.Raw, &m); err != nil {
		return time.Time{}, fmt.Errorf("manifest %s: %w", digest, err)
	}
	var newest time.Time
	if len(m.Manifests) > 0 && depth == 0 {
		for _, child := range m.Manifests {
			if child.Platform == nil || child.Platform.OS == "unknown" {
				continue // attestations
			}
			t, err := createdAt(ctx, reg, repository, child.Digest.String(), depth+1)
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
	raw, err := reg.ReadBlob(ctx, repository, m.Config.Digest.String(), registry.MaxDocument)
	if err != nil {
		return time.Time{}, err
	}
	var cfg struct {
		Created time.Time `json:"created"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return time.Time{}, fmt.Errorf("config of %s@%s: %w", repository, digest, err)
	}
	return cfg.Created, nil
}

// Run makes the plan and deletes exactly what it lists (see Apply).
func (c *Cleanup) Run(ctx context.Context, report Report) (*api.JobResult, error) {
	report.phase("plan", "Selecting tags of "+c.repository)
	plan, err := c.Plan(ctx)
	if err != nil {
		return nil, err
	}
	return c.Apply(ctx, plan, report)
}

// Apply deletes exactly what plan lists, as the user was shown it: a digest whose every tag
// goes by digest, other tags one by one.
func (c *Cleanup) Apply(ctx context.Context, plan api.CleanupPlan, report Report) (*api.JobResult, error) {
	res := &api.JobResult{Plan: &plan}
	report.message(fmt.Sprintf("%s to delete, %d kept", api.Plural(len(plan.Delete), "tag"), plan.Kept))
	report.phase("delete", "Deleting "+api.Plural(len(plan.Delete), "tag"))
	w, err := c.reg.Writer(ctx)
	if err != nil {
		return res, err
	}
	done := map[string]bool{}
	var errs []error
	for _, it := range plan.Delete {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		ref := it.Tag
		if it.Manifest {
			if done[it.Digest] {
				res.Deleted = append(res.Deleted, it.Tag)
				continue
			}
			ref = it.Digest
		}
		how, err := w.Delete(ctx, c.repository, ref)
		if err != nil {
			err = cancelled(ctx, err)
			if errors.Is(err, context.Canceled) {
				return res, err
			}
			report.message(message(err))
			errs = append(errs, err)
			continue
		}
		done[it.Digest] = it.Manifest
		report.message(deletedMessage(c.reg.Address().Host+"/"+c.repository+":"+it.Tag, how))
		noteHow(res, how)
		res.Deleted = append(res.Deleted, it.Tag)
	}
	return res, errors.Join(errs...)
}
