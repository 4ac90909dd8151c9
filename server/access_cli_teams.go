package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/store"
)

func cmdToken(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "token", "create --user U --name N [--expires 30d] [--read-only] | revoke --user U ID", "")
	var af accessFlags
	af.register(fs)
	user := fs.String("user", "", "whose token (required)")
	name := fs.String("name", "", "what the token is for (create)")
	expires := fs.String("expires", "", "lifetime such as 90d (create; default: never)")
	readOnly := fs.Bool("read-only", false, "pulls only (create)")
	verb, rest := verbOf(args)
	n, ok := map[string]int{"create": 0, "revoke": 1}[verb]
	if !ok {
		return unknownVerb(fs, rest, "token", verb, "create or revoke")
	}
	pos, err := parseN(fs, rest, n, n, map[int]string{0: "no arguments", 1: "the token's ID"}[n])
	if err != nil {
		return err
	}
	if *user == "" {
		return usagef("--user is required: whose token")
	}
	var ttl time.Duration
	if *expires != "" {
		if ttl, err = api.ParseDuration(*expires); err != nil {
			return usagef("--expires %s: %v", *expires, err)
		}
	}
	acc, _, done, err := af.open(ctx, false)
	if err != nil {
		return err
	}
	defer done(nil)
	if verb == "revoke" {
		if err := acc.RevokePAT(ctx, cliActor(), *user, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "token %s revoked\n", pos[0])
		return nil
	}
	id, secret, err := acc.CreatePAT(ctx, cliActor(), *user, *name, ttl, *readOnly)
	if err != nil {
		return err
	}
	// The token is shown this once; only its hash is stored.
	fmt.Fprintf(c.err, "token %s created for %s; it is shown once:\n", id, *user)
	fmt.Fprintln(c.out, secret)
	return nil
}

func cmdTeam(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "team", "create [--owner U] NAME | delete NAME | member TEAM USER viewer|developer|maintainer|owner|none", "")
	var af accessFlags
	af.register(fs)
	owner := fs.String("owner", "", "the team's first owner (create)")
	verb, rest := verbOf(args)
	n, ok := map[string]int{"create": 1, "delete": 1, "member": 3}[verb]
	if !ok {
		return unknownVerb(fs, rest, "team", verb, "create, delete or member")
	}
	pos, err := parseN(fs, rest, n, n, map[int]string{1: "the team's NAME", 3: "TEAM USER ROLE"}[n])
	if err != nil {
		return err
	}
	acc, _, done, err := af.open(ctx, false)
	if err != nil {
		return err
	}
	defer done(nil)
	switch verb {
	case "create":
		err = acc.CreateTeam(ctx, cliActor(), pos[0], "", *owner, true)
	case "delete":
		err = acc.DeleteTeam(ctx, cliActor(), pos[0])
	case "member":
		role := pos[2]
		if role == "none" {
			role = ""
		}
		err = acc.SetTeamMember(ctx, cliActor(), pos[0], pos[1], role)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "team %s: %s done\n", pos[0], verb)
	return nil
}

func cmdKeys(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "keys", "rotate", "")
	var af accessFlags
	af.register(fs)
	verb, rest := verbOf(args)
	if verb != "rotate" {
		return unknownVerb(fs, rest, "keys", verb, "rotate")
	}
	if _, err := parseN(fs, rest, 0, 0, "no arguments"); err != nil {
		return err
	}
	acc, st, done, err := af.open(ctx, false)
	if err != nil {
		return err
	}
	defer done(nil)
	keys, err := af.keyring(ctx, st)
	if err != nil {
		return err
	}
	id, err := keys.Rotate(ctx)
	if err != nil {
		return err
	}
	acc.Audit(ctx, store.AuditEntry{Actor: cliActor(), Action: auth.AuditKeyRotate, Target: id, OK: true})
	fmt.Fprintf(c.out, "signing key %s is active; tokens signed before stay valid until they expire.\nWrite the registry's certificate bundle again (berth registry-config) before the next rotation.\n", id)
	return nil
}

func cmdRegistryConfig(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "registry-config", "--realm https://berth.example.com/auth/token [--events-url URL]", "")
	var af accessFlags
	af.register(fs)
	realm := fs.String("realm", os.Getenv("BERTH_TOKEN_REALM"), "Berth's token endpoint as clients reach it (required)")
	service := fs.String("service", envOr("BERTH_TOKEN_SERVICE", "berth-registry"), "the tokens' service (Berth's --token-service)")
	issuer := fs.String("issuer", envOr("BERTH_TOKEN_ISSUER", "berth"), "the tokens' issuer (Berth's --token-issuer)")
	bundlePath := fs.String("bundle-path", "/etc/docker/registry/berth-token.pem", "where the registry will read the certificate bundle")
	events := fs.String("events-url", "", "Berth's notification webhook as the registry reaches it, e.g. https://berth.example.com/events")
	if _, err := parseN(fs, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	if *realm == "" {
		return usagef("--realm is required: Berth's token endpoint as clients reach it")
	}
	_, st, done, err := af.open(ctx, false)
	if err != nil {
		return err
	}
	defer done(nil)
	keys, err := af.keyring(ctx, st)
	if err != nil {
		return err
	}
	bundle, err := keys.Bundle(ctx)
	if err != nil {
		return err
	}
	fmt.Fprint(c.out, auth.RegistryConfig{Realm: *realm, Service: *service, Issuer: *issuer, BundlePath: *bundlePath, Bundle: bundle, EventsURL: *events}.String())
	return nil
}
