package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/store"
)

// berth namespace: a namespace's policies from the command line, on the store directly like
// the other access commands (the operator's; every change is audited as cli:$USER).
//
//	berth namespace immutable list NS
//	berth namespace immutable add NS PATTERN...      (e.g. 'v*' '!*-rc*')
//	berth namespace immutable lift|restore|delete NS ID
//	berth namespace quota [--storage 10GB] [--tags N] NS   (shows, or sets; 0 removes a limit)
//	berth namespace pull-policy [--severity S|none] [--signed[=false]] [--keys FILE|none] NS
//	berth namespace webhook list NS | add [--events push,delete] [--format F] NS URL | remove NS ID
//	berth namespace retention list NS | add [--repositories G] [--include RE] [--keep-last N] [--older-than D] [--every D] NS
//	berth namespace retention remove|preview NS ID
func cmdNamespace(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "namespace", "immutable list|add|lift|restore|delete NS [PATTERN...|ID] | quota [--storage SIZE] [--tags N] NS | "+
		"pull-policy [--severity S] [--signed] [--keys FILE] NS | "+
		"webhook list|add|remove NS [URL|ID] | retention list|add|remove|preview NS [ID]",
		"Shows and changes a namespace's policies on the store directly (every change audited as cli:$USER).")
	var af accessFlags
	af.register(fs)
	storage := fs.String("storage", "", "storage limit such as 10GB or 512MiB; 0 removes it (quota)")
	tags := fs.Int64("tags", -1, "tag limit; 0 removes it (quota)")
	var hf hookFlags
	hf.register(fs)
	var pf pullFlags
	pf.register(fs)
	if len(args) == 0 || !slices.Contains([]string{"immutable", "quota", "pull-policy", "webhook", "retention"}, args[0]) {
		return usagef("want immutable, quota, pull-policy, webhook or retention")
	}
	what := args[0]
	rest, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	dsn, path := af.database, af.sqlitePath()
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("there is no Berth store at %s: give --data-dir (or --database) as Berth runs with it", path)
		}
		if dsn == "" {
			dsn = "sqlite:" + path
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("cannot open the store: %w", err)
	}
	defer st.Close()
	gs, err := store.GovernanceOf(st)
	if err != nil {
		return err
	}
	as, err := store.AccountsOf(st)
	if err != nil {
		return err
	}
	audit := func(ctx context.Context, e store.AuditEntry) {
		e.Time, e.Addr = time.Now(), "cli"
		_ = as.AddAudit(ctx, e)
	}
	switch what {
	case "webhook":
		return webhookCommand(ctx, st, af, audit, hf, rest, c.out, fs.Usage)
	case "retention":
		return retentionCommand(ctx, c, st, af, audit, hf, rest, fs.Usage)
	}
	pulls, err := store.PullPoliciesOf(st)
	if err != nil {
		return err
	}
	gov := governance.New(governance.Options{Store: gs, Accounts: as, Audit: audit, Pulls: pulls})
	if what == "pull-policy" {
		return pullPolicyCommand(ctx, gov, fs, pf, rest, c.out)
	}
	if what == "quota" {
		return quotaCommand(ctx, gov, gs, rest, *storage, *tags, c.out, fs.Usage)
	}
	return immutableCommand(ctx, gov, rest, c.out, fs.Usage)
}

func quotaCommand(ctx context.Context, gov *governance.Service, gs store.Governance, rest []string, storage string, tags int64, stdout io.Writer, usage func()) error {
	if len(rest) != 1 {
		usage()
		return errUsage
	}
	ns := rest[0]
	q, _, err := gs.Quota(ctx, ns)
	if err != nil {
		return err
	}
	if storage != "" || tags >= 0 {
		if storage == "" {
			storage = strconv.FormatInt(q.StorageLimit, 10)
		}
		if tags < 0 {
			tags = q.TagLimit
		}
		if err := gov.SetQuota(ctx, cliActor(), ns, storage, tags); err != nil {
			return err
		}
		if q, _, err = gs.Quota(ctx, ns); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "namespace %s: storage limit %s, tag limit %s\n", ns, limitText(q.StorageLimit, true), limitText(q.TagLimit, false))
	return nil
}

func limitText(n int64, bytes bool) string {
	switch {
	case n == 0:
		return "none"
	case bytes:
		return fmt.Sprintf("%d bytes", n)
	}
	return strconv.FormatInt(n, 10)
}

func immutableCommand(ctx context.Context, gov *governance.Service, rest []string, stdout io.Writer, usage func()) error {
	if len(rest) < 2 {
		usage()
		return errUsage
	}
	verb, ns := rest[0], rest[1]
	switch verb {
	case "list":
		rules, err := gov.Rules(ctx, ns)
		if err != nil {
			return err
		}
		for _, r := range rules {
			state := "in force"
			if r.Lifted {
				state = "lifted"
			}
			fmt.Fprintf(stdout, "%d\t%s\t%s\n", r.ID, strings.Join(r.Patterns, " "), state)
		}
		return nil
	case "add":
		r, err := gov.AddRule(ctx, cliActor(), ns, rest[2:])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rule %d added to namespace %s\n", r.ID, ns)
		return nil
	case "lift", "restore", "delete":
		if len(rest) != 3 {
			usage()
			return errUsage
		}
		id, err := strconv.ParseInt(rest[2], 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a rule id", rest[2])
		}
		if verb == "delete" {
			err = gov.DeleteRule(ctx, cliActor(), ns, id)
		} else {
			err = gov.LiftRule(ctx, cliActor(), ns, id, verb == "lift")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rule %d of namespace %s: %s done\n", id, ns, verb)
		return nil
	}
	usage()
	return errUsage
}
