package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/berth-registry/berth/app/api"
)

// berth replication manages rules on the store, as berth registry does endpoints:
//
//	berth replication add [rule flags] NAME
//	berth replication edit [rule flags] RULE   (only the flags given change)
//	berth replication list | remove RULE

// ruleFlags registers the flags setting a rule's fields on r (edit turns a boolean off with
// --deletions=false).
func ruleFlags(fs *flag.FlagSet, r *api.ReplicationRule) {
	fs.StringVar(&r.Source, "source", api.MainRegistry, "the source endpoint")
	fs.StringVar(&r.Destination, "destination", "", "the destination endpoint")
	fs.StringVar(&r.Repositories, "repositories", "", "glob over repository names (team/**); empty: every one")
	fs.StringVar(&r.Tags, "tags", "", "glob over tags (v*)")
	fs.StringVar(&r.TagRegex, "tag-regex", "", "regular expression a whole tag must match")
	fs.StringVar(&r.SemVer, "semver", "", "version range tags must satisfy (^1.2, >=2 <3)")
	fs.StringVar(&r.Labels, "labels", "", "image config labels required, comma-separated name=value or name")
	fs.StringVar(&r.Prefix, "prefix", "", "put before every destination repository name (mirror/)")
	fs.StringVar(&r.Trigger, "trigger", api.TriggerManual, "manual, push (the main registry's notifications) or schedule")
	fs.StringVar(&r.Schedule, "schedule", "", `cron schedule with --trigger schedule ("0 3 * * *", @hourly)`)
	fs.BoolVar(&r.NoReferrers, "no-referrers", false, "leave signatures, SBOMs and attestations behind")
	fs.BoolVar(&r.Deletions, "deletions", false, "propagate tag deletions at the source")
	fs.BoolVar(&r.Overwrite, "overwrite", false, "move destination tags that point at another image")
}

func cmdReplication(ctx context.Context, c *cli, args []string) error {
	sub := map[string]struct {
		n    int
		what string
	}{"add": {1, "NAME"}, "edit": {1, "RULE"}, "list": {0, "no arguments"}, "remove": {1, "RULE"}}
	if len(args) == 0 {
		return usagef("want add, edit, list or remove")
	}
	want, ok := sub[args[0]]
	if !ok {
		return usagef("unknown command %q: want add, edit, list or remove", args[0])
	}
	var f replicationFlags
	var r api.ReplicationRule
	fs := newFlags(c, "replication "+args[0], want.what, "Manages replication rules (run one with berth replicate RULE).")
	f.register(fs)
	if args[0] == "add" || args[0] == "edit" {
		ruleFlags(fs, &r)
	}
	pos, err := parseN(fs, args[1:], want.n, want.n, want.what)
	if err != nil {
		return err
	}
	svc, ctx, done, err := f.open(ctx, c)
	if err != nil {
		return err
	}
	defer done()
	switch args[0] {
	case "add":
		r.Name = pos[0]
		if r, err = svc.SaveRule(ctx, r); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "added %s (%s → %s)\n", r.Name, r.Source, r.Destination)
	case "edit":
		old, err := svc.Rule(ctx, pos[0])
		if err != nil {
			return err
		}
		fs.Visit(func(fl *flag.Flag) { setRuleField(&old, &r, fl.Name) })
		if r, err = svc.SaveRule(ctx, old); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "changed %s (%s → %s)\n", r.Name, r.Source, r.Destination)
	case "remove":
		if err := svc.DeleteRule(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "removed %s\n", pos[0])
	case "list":
		all, err := svc.Rules(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSOURCE\tDESTINATION\tTRIGGER\tFILTERS")
		for _, r := range all {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Source, r.Destination, trigger(r), filters(r))
		}
		return tw.Flush()
	}
	return nil
}

// setRuleField copies the field flag name sets from r to old.
func setRuleField(old, r *api.ReplicationRule, name string) {
	switch name {
	case "source":
		old.Source = r.Source
	case "destination":
		old.Destination = r.Destination
	case "repositories":
		old.Repositories = r.Repositories
	case "tags":
		old.Tags = r.Tags
	case "tag-regex":
		old.TagRegex = r.TagRegex
	case "semver":
		old.SemVer = r.SemVer
	case "labels":
		old.Labels = r.Labels
	case "prefix":
		old.Prefix = r.Prefix
	case "trigger":
		old.Trigger = r.Trigger
	case "schedule":
		old.Schedule = r.Schedule
	case "no-referrers":
		old.NoReferrers = r.NoReferrers
	case "deletions":
		old.Deletions = r.Deletions
	case "overwrite":
		old.Overwrite = r.Overwrite
	}
}

func trigger(r api.ReplicationRule) string {
	if r.Trigger == api.TriggerSchedule {
		return "schedule " + r.Schedule
	}
	return r.Trigger
}

// filters says a rule's filters and options in a few words.
func filters(r api.ReplicationRule) string {
	var out []string
	for _, kv := range [][2]string{{"repositories", r.Repositories}, {"tags", r.Tags}, {"tag-regex", r.TagRegex},
		{"semver", r.SemVer}, {"labels", r.Labels}, {"prefix", r.Prefix}} {
		if kv[1] != "" {
			out = append(out, kv[0]+"="+kv[1])
		}
	}
	for _, b := range []struct {
		on   bool
		name string
	}{{r.NoReferrers, "no-referrers"}, {r.Deletions, "deletions"}, {r.Overwrite, "overwrite"}} {
		if b.on {
			out = append(out, b.name)
		}
	}
	return strings.Join(out, " ")
}
