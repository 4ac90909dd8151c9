package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
)

// keepList collects repeated --keep-tag flags.
type keepList []string

func (k *keepList) String() string     { return strings.Join(*k, ",") }
func (k *keepList) Set(v string) error { *k = append(*k, v); return nil }

// cmdCleanup: berth cleanup --repo R --keep N --older-than D [--dry-run].
func cmdCleanup(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "cleanup", "--repo R [--keep N] [--older-than D] [--include RE] [--exclude RE] [--keep-tag T]... [--dry-run] [--force]",
		"Deletes the tags of one repository that a rule selects. A rule that would delete every tag, or\nlatest, asks first (on a terminal) or needs --force.")
	var t target
	t.flags(fs)
	var rule api.CleanupRule
	var keep keepList
	fs.StringVar(&rule.Repository, "repo", "", "repository to clean up (required)")
	fs.IntVar(&rule.KeepLast, "keep", 0, "keep the newest N tags by creation date")
	fs.StringVar(&rule.OlderThan, "older-than", "", "delete only tags created longer ago than this (30d, 720h)")
	fs.StringVar(&rule.Include, "include", "", "consider only tags matching this regular expression")
	fs.StringVar(&rule.Exclude, "exclude", "", "never delete tags matching this regular expression")
	fs.Var(&keep, "keep-tag", "never delete this tag (repeatable)")
	dryRun := fs.Bool("dry-run", false, "print what would be deleted and delete nothing")
	force := fs.Bool("force", false, "delete without asking, even every tag of the repository or latest")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("cleanup takes no arguments (got %s): name the repository with --repo", strings.Join(pos, " "))
	}
	if rule.Repository == "" {
		return usagef("--repo is required: the repository to clean up, e.g. --repo team/app")
	}
	if rule.KeepLast == 0 && rule.OlderThan == "" && rule.Include == "" {
		return usagef("give --keep, --older-than or --include (--include . selects every tag)")
	}
	rule.Keep = keep
	reg, stop, err := t.open(ctx, c)
	if err != nil {
		return err
	}
	defer stop()
	cl, err := ops.NewCleanup(reg, rule)
	if err != nil {
		return err
	}
	plan, err := cl.Plan(ctx)
	if err != nil {
		return err
	}
	risk, err := cleanupRisk(ctx, reg, plan)
	if err != nil {
		return err
	}
	if *dryRun {
		printPlan(c, plan, risk)
		return nil
	}
	if len(plan.Delete) == 0 {
		fmt.Fprintf(c.out, "nothing to delete in %s (%s kept)\n", plan.Repository, api.Plural(plan.Kept, "tag"))
		return nil
	}
	if risk != "" && !*force {
		if err := c.confirm(risk, plan); err != nil {
			return err
		}
	}
	p := c.newPrinter("Deleting", "Deleted")
	res, err := cl.Apply(ctx, plan, p.report)
	p.end()
	if res != nil {
		for _, tag := range res.Deleted {
			fmt.Fprintf(c.out, "deleted %s:%s\n", rule.Repository, tag)
		}
		if res.Note != "" {
			fmt.Fprintln(c.err, "note: "+res.Note)
		}
	}
	return err
}

func printPlan(c *cli, plan api.CleanupPlan, risk string) {
	for _, it := range plan.Delete {
		fmt.Fprintf(c.out, "would delete %s:%s\t%s\t%s\n", plan.Repository, it.Tag, it.Digest, createdLabel(it.Created))
	}
	fmt.Fprintf(c.out, "%s would be deleted, %d kept\n", api.Plural(len(plan.Delete), "tag"), plan.Kept)
	if risk != "" {
		fmt.Fprintf(c.err, "warning: %s\n", risk)
	}
}

// cleanupRisk says what is dangerous in a plan: that it leaves the repository without tags
// (signature and referrer tags do not count), or deletes latest; "" when neither.
func cleanupRisk(ctx context.Context, reg *registry.Client, plan api.CleanupPlan) (string, error) {
	if len(plan.Delete) == 0 {
		return "", nil
	}
	going := map[string]bool{}
	for _, it := range plan.Delete {
		going[it.Tag] = true
	}
	tags, err := reg.TagDigests(ctx, plan.Repository)
	if err != nil {
		return "", err
	}
	left := 0
	for t := range tags {
		if !going[t] && !registry.IsReferrerTag(t) {
			left++
		}
	}
	latest := ""
	if going["latest"] {
		latest = ", latest included"
	}
	switch {
	case left == 0:
		return fmt.Sprintf("this rule deletes every tag of %s (%s%s): the repository is left empty", plan.Repository, api.Plural(len(plan.Delete), "tag"), latest), nil
	case latest != "":
		return fmt.Sprintf("this rule deletes %s:latest", plan.Repository), nil
	}
	return "", nil
}

// confirm asks before a risky cleanup; without a terminal to ask on, it refuses.
func (c *cli) confirm(risk string, plan api.CleanupPlan) error {
	fmt.Fprintf(c.err, "warning: %s\n", risk)
	refuse := errors.New("nothing deleted: add --force to delete them anyway (--dry-run lists them)")
	if !c.interactive() {
		return refuse
	}
	fmt.Fprintf(c.err, "Delete %s of %s? [y/N] ", api.Plural(len(plan.Delete), "tag"), plan.Repository)
	answer, _ := bufio.NewReader(c.in).ReadString('\n')
	if !slices.Contains([]string{"y", "yes"}, strings.ToLower(strings.TrimSpace(answer))) {
		return refuse
	}
	return nil
}

func createdLabel(t time.Time) string {
	if t.IsZero() {
		return "created: unknown"
	}
	return "created " + t.UTC().Format(time.RFC3339)
}

// cmdGC: berth gc.
func cmdGC(ctx context.Context, c *cli, args []string) error {
	flags := newFlags(c, "gc", "[--data-dir D] [--dry-run] [--remove-untagged]",
		"Runs distribution's offline garbage collection on the embedded registry's storage. It refuses\nwhile Berth, or another berth command, uses the data directory: blobs pushed during the sweep\ncould be lost.")
	dataDir := flags.String("data-dir", envOr("BERTH_DATA_DIR", "data"), "Berth's data directory")
	dryRun := flags.Bool("dry-run", false, "report what would be removed, remove nothing")
	untagged := flags.Bool("remove-untagged", false, "also remove manifests no tag points to (and their blobs)")
	if _, err := parseN(flags, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	dir, err := registryDir(*dataDir)
	if err != nil {
		return err
	}
	unlock, err := lockData(*dataDir, true)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "docker", "registry", "v2")); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(c.out, "nothing to collect: %s holds no images yet\n", dir)
		return nil
	}
	fmt.Fprintf(c.err, "garbage-collecting %s\n", dir)
	res, err := ops.GarbageCollect(ctx, dir, *dryRun, *untagged)
	if err != nil {
		return err
	}
	verb := "freed"
	if *dryRun {
		verb = "would free"
	}
	fmt.Fprintf(c.out, "%s %s (%s before, %s after)\n", verb, api.HumanSize(res.Freed()), api.HumanSize(res.Before), api.HumanSize(res.After))
	return nil
}
