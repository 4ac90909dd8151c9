package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/retention"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/webhooks"
)

// hookFlags are the flags of berth namespace webhook and retention.
type hookFlags struct {
	events, format, secretFile, hosts          *string
	repos, include, exclude, older, every, reg *string
	keep                                       *int
}

func (h *hookFlags) register(fs interface {
	String(name, value, usage string) *string
	Int(name string, value int, usage string) *int
}) {
	h.events = fs.String("events", "push", "event types, comma-separated: "+strings.Join(webhooks.EventTypes, ", ")+" (webhook add)")
	h.format = fs.String("format", webhooks.FormatJSON, "payload format: "+strings.Join(webhooks.Formats, ", ")+" (webhook add)")
	h.secretFile = fs.String("signing-secret-file", "", "file holding the signing secret; without it Berth makes one and prints it once (webhook add)")
	h.hosts = fs.String("webhook-hosts", os.Getenv("BERTH_WEBHOOK_HOSTS"), "hosts webhooks may target, as the server's --webhook-hosts (webhook add)")
	h.repos = fs.String("repositories", "", "glob of the namespace's repositories; default NS/* (retention add)")
	h.include = fs.String("include", "", "regular expression of the tags to consider (retention add)")
	h.exclude = fs.String("exclude", "", "regular expression of tags always kept (retention add)")
	h.keep = fs.Int("keep-last", 0, "keep the newest N tags (retention add)")
	h.older = fs.String("older-than", "", "delete only tags older than this, such as 30d (retention add)")
	h.every = fs.String("every", "1d", "how often the policy runs, at least 1m (retention add)")
	h.reg = fs.String("registry", os.Getenv("BERTH_REGISTRY"), "the main registry's base URL, as the server's --registry (default: the embedded registry; retention preview)")
}

// webhookCommand: berth namespace webhook list|add|remove NS [URL|ID].
func webhookCommand(ctx context.Context, st store.Store, af accessFlags, audit func(context.Context, store.AuditEntry), h hookFlags, rest []string, stdout io.Writer, usage func()) error {
	if len(rest) < 2 || (rest[0] == "list") != (len(rest) == 2) || len(rest) > 3 {
		usage()
		return errUsage
	}
	ws, err := store.WebhooksOf(st)
	if err != nil {
		return err
	}
	secret, err := clusterSecret(config.Config{SecretFile: af.secretFile, DataDir: af.dataDir})
	if err != nil {
		return err
	}
	hooks, err := webhooks.New(webhooks.Options{Store: ws, Secret: secret, Hosts: commaSplit(*h.hosts), Audit: audit})
	if err != nil {
		return err
	}
	verb, ns := rest[0], rest[1]
	switch verb {
	case "list":
		list, err := ws.Webhooks(ctx, ns)
		if err != nil {
			return err
		}
		for _, w := range list {
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", w.ID, w.URL, strings.Join(w.Events, ","), w.Format)
		}
		return nil
	case "add":
		req := api.WebhookRequest{URL: rest[2], Events: commaSplit(*h.events), Format: *h.format}
		if *h.secretFile != "" {
			b, err := os.ReadFile(*h.secretFile)
			if err != nil {
				return fmt.Errorf("cannot read --signing-secret-file: %w", err)
			}
			req.Secret = strings.TrimSpace(string(b))
		}
		w, err := hooks.Create(ctx, cliActor(), ns, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook %s added to namespace %s\n", w.ID, ns)
		if w.Secret != "" {
			fmt.Fprintf(stdout, "signing secret (shown once): %s\n", w.Secret)
		}
		return nil
	case "remove":
		if err := hooks.Remove(ctx, cliActor(), ns, rest[2]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook %s of namespace %s removed\n", rest[2], ns)
		return nil
	}
	usage()
	return errUsage
}

// retentionCommand: berth namespace retention list|add|remove|preview NS [ID].
func retentionCommand(ctx context.Context, c *cli, st store.Store, af accessFlags, audit func(context.Context, store.AuditEntry), h hookFlags, rest []string, usage func()) error {
	if len(rest) < 2 || len(rest) > 3 || (len(rest) == 3) != (rest[0] == "remove" || rest[0] == "preview") {
		usage()
		return errUsage
	}
	rs, err := store.RetentionOf(st)
	if err != nil {
		return err
	}
	verb, ns := rest[0], rest[1]
	o := retention.Options{Store: rs, Audit: audit}
	if verb == "preview" {
		stop := func() {}
		if *h.reg != "" {
			o.Registry, err = keychainRegistry(*h.reg)
		} else {
			o.Registry, stop, err = (&target{dataDir: af.dataDir}).open(ctx, c)
		}
		if err != nil {
			return err
		}
		defer stop()
	}
	ret := retention.New(o)
	switch verb {
	case "list":
		ps, err := ret.Policies(ctx, ns)
		if err != nil {
			return err
		}
		for _, p := range ps {
			fmt.Fprintf(c.out, "%s\t%s\t%s\tevery %s\tnext %s\n", p.ID, p.Repositories, ruleText(p.Rule), p.Every, p.NextRun.Format("2006-01-02 15:04"))
		}
		return nil
	case "add":
		repos := *h.repos
		if repos == "" {
			repos = ns + "/*"
		}
		p, err := ret.Create(ctx, cliActor(), ns, api.RetentionPolicy{Repositories: repos, Every: *h.every,
			Rule: api.CleanupRule{Include: *h.include, Exclude: *h.exclude, KeepLast: *h.keep, OlderThan: *h.older}})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "retention policy %s added to namespace %s\n", p.ID, ns)
		return nil
	case "remove":
		if err := ret.Remove(ctx, cliActor(), ns, rest[2]); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "retention policy %s of namespace %s removed\n", rest[2], ns)
		return nil
	case "preview":
		plans, err := ret.PreviewPolicy(ctx, ns, rest[2])
		if err != nil {
			return err
		}
		n := 0
		for _, pl := range plans {
			for _, it := range pl.Delete {
				fmt.Fprintf(c.out, "delete %s:%s\n", pl.Repository, it.Tag)
				n++
			}
		}
		fmt.Fprintf(c.out, "a run now would delete %d tags\n", n)
		return nil
	}
	usage()
	return errUsage
}

// ruleText is a cleanup rule in a line.
func ruleText(r api.CleanupRule) string {
	var parts []string
	if r.Include != "" {
		parts = append(parts, "include /"+r.Include+"/")
	}
	if r.Exclude != "" {
		parts = append(parts, "exclude /"+r.Exclude+"/")
	}
	if r.KeepLast > 0 {
		parts = append(parts, fmt.Sprintf("keep last %d", r.KeepLast))
	}
	if r.OlderThan != "" {
		parts = append(parts, "older than "+r.OlderThan)
	}
	if len(parts) == 0 {
		return "every tag"
	}
	return strings.Join(parts, "; ")
}

func commaSplit(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
