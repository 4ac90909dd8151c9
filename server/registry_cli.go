package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/store"
)

// The replication commands work on the store directly, as the access commands do: the same
// --database (or --data-dir) and cluster secret as the server.
//
//	berth registry add [--username U --password-file F] [--ca-file F] [--insecure] [--no-catalog] [--repositories a,b] NAME URL
//	berth registry list | remove NAME | test NAME
//	berth replicate [--dry-run] RULE

// replicationFlags are the flags of the replication commands.
type replicationFlags struct {
	accessFlags
	registry string
}

func (f *replicationFlags) register(fs *flag.FlagSet) {
	f.accessFlags.register(fs)
	fs.StringVar(&f.registry, "registry", os.Getenv("BERTH_REGISTRY"), "the main registry's base URL, as the server's --registry (default: the embedded registry)")
}

// open returns the replication service on the store, acting as Berth itself for cliActor.
func (f *replicationFlags) open(ctx context.Context, c *cli) (*replication.Service, context.Context, func(), error) {
	dsn := f.database
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(f.dataDir, "berth.db")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, nil, err
	}
	closeAll := func() { _ = st.Close() }
	secret, err := clusterSecret(config.Config{SecretFile: f.secretFile, DataDir: f.dataDir})
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	var main *registry.Client
	if f.registry != "" {
		main, err = keychainRegistry(f.registry)
	} else {
		var stop func()
		main, stop, err = (&target{dataDir: f.dataDir}).open(ctx, c)
		if err == nil {
			closeAll = func() { stop(); _ = st.Close() }
		}
	}
	if err != nil {
		_ = st.Close()
		return nil, nil, nil, err
	}
	svc, err := replication.New(replication.Options{Store: st, Main: main, Secret: secret})
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return svc, access.With(ctx, access.Identity{Kind: access.Service, Name: cliActor()}), closeAll, nil
}

func cmdRegistry(ctx context.Context, c *cli, args []string) error {
	sub := map[string]struct {
		min, max int
		what     string
	}{"add": {2, 2, "NAME URL"}, "list": {0, 0, "no arguments"}, "remove": {1, 1, "NAME"}, "test": {1, 1, "NAME"}}
	if len(args) == 0 {
		return usagef("want add, list, remove or test")
	}
	want, ok := sub[args[0]]
	if !ok {
		return usagef("unknown command %q: want add, list, remove or test", args[0])
	}
	var f replicationFlags
	var e api.RegistryEndpoint
	fs := newFlags(c, "registry "+args[0], want.what, "Manages the registry endpoints replication rules (and copies) may reach.")
	f.register(fs)
	passwordFile, repositories := "", ""
	if args[0] == "add" {
		fs.StringVar(&repositories, "repositories", "", "comma-separated repositories to list when browsing it where _catalog is refused")
		fs.StringVar(&e.Username, "username", "", "the registry's username (a robot account's)")
		fs.StringVar(&passwordFile, "password-file", "", "file holding the password (sealed with the cluster secret in the store)")
		fs.StringVar(&e.CAFile, "ca-file", "", "PEM bundle trusted for the registry's TLS")
		fs.BoolVar(&e.Insecure, "insecure", false, "skip TLS verification")
		fs.BoolVar(&e.NoCatalog, "no-catalog", false, "the registry refuses _catalog: rules name its repositories")
	}
	pos, err := parseN(fs, args[1:], want.min, want.max, want.what)
	if err != nil {
		return err
	}
	for r := range strings.SplitSeq(repositories, ",") {
		if r = strings.TrimSpace(r); r != "" {
			e.Repositories = append(e.Repositories, r)
		}
	}
	if passwordFile != "" {
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return fmt.Errorf("--password-file %s cannot be read", passwordFile)
		}
		e.Password = strings.TrimRight(string(b), "\r\n")
	}
	svc, ctx, done, err := f.open(ctx, c)
	if err != nil {
		return err
	}
	defer done()
	switch args[0] {
	case "add":
		e.Name, e.URL = pos[0], pos[1]
		if err := svc.AddEndpoint(ctx, e); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "added %s (%s)\n", e.Name, e.URL)
	case "remove":
		if err := svc.RemoveEndpoint(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "removed %s\n", pos[0])
	case "test":
		res, err := svc.Test(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(c.out, res.Message)
		if !res.OK {
			return errors.New("the connection test failed")
		}
	case "list":
		all, err := svc.Endpoints(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tURL\tUSERNAME\tORIGIN\tREPOSITORIES")
		for _, e := range all {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.URL, e.Username, e.Origin, strings.Join(e.Repositories, ","))
		}
		return tw.Flush()
	}
	return nil
}

func cmdReplicate(ctx context.Context, c *cli, args []string) error {
	var f replicationFlags
	fs := newFlags(c, "replicate", "[--dry-run] RULE", "Runs a replication rule here and now, recorded in its history.")
	f.register(fs)
	dry := fs.Bool("dry-run", false, "list what the rule would copy and delete; change nothing")
	pos, err := parseN(fs, args, 1, 1, "RULE")
	if err != nil {
		return err
	}
	svc, ctx, done, err := f.open(ctx, c)
	if err != nil {
		return err
	}
	defer done()
	run, err := svc.RunHere(ctx, pos[0], *dry)
	if err != nil {
		return err
	}
	for _, it := range run.Items {
		line := fmt.Sprintf("%-6s %s → %s", it.Action, it.Source, it.Destination)
		if it.Reason != "" {
			line += " (" + it.Reason + ")"
		}
		if it.Error != "" {
			line += fmt.Sprintf(": failed after %d attempts: %s", it.Attempts, it.Error)
		}
		fmt.Fprintln(c.out, line)
	}
	fmt.Fprintf(c.out, "%s: %d copied, %d deleted, %d skipped, %d failed, %s\n", run.State, run.Copied, run.Deleted, run.Skipped, run.Failed, api.HumanSize(run.Bytes))
	if run.Error != "" {
		return errors.New(run.Error)
	}
	if run.State == api.RunFailed || run.State == api.RunPartial {
		return errors.New("some artifacts failed")
	}
	return nil
}
