package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// The access-control commands work on the store directly, as berth gc works on the storage:
// they need the same --database (or --data-dir) as the server, and may run while it does
// (its policy cache forgets within seconds).
//
//	berth user add [--admin] [--password-file F] NAME     (password from F or stdin)
//	berth user disable|enable NAME
//	berth token create --user U --name N [--expires 30d] [--read-only]
//	berth token revoke --user U ID
//	berth team create [--owner U] NAME | team delete NAME | team member TEAM USER ROLE|none
//	berth keys rotate
//	berth registry-config --realm URL [--events-url URL] [--bundle-path P]

// accessFlags are the flags every access command takes.
type accessFlags struct {
	database, dataDir, secretFile string
}

func (f *accessFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", envOr("BERTH_DATA_DIR", "data"), "Berth's data directory (the store is <data-dir>/berth.db without --database)")
	fs.StringVar(&f.database, "database", os.Getenv("BERTH_DATABASE"), "the store: postgres://… or a SQLite path, as the server's --database")
	fs.StringVar(&f.secretFile, "secret-file", os.Getenv("BERTH_SECRET_FILE"), "the cluster secret sealing signing keys (default <data-dir>/secret.key)")
}

// open opens the store's accounts; close releases it.
func (f *accessFlags) open(ctx context.Context) (*auth.Accounts, store.Accounts, func(), error) {
	dsn := f.database
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(f.dataDir, "berth.db")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, nil, err
	}
	accounts, err := store.AccountsOf(st)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return auth.NewAccounts(accounts, auth.NewPolicy(accounts, 0), auth.RefreshTTL, nil), accounts, func() { _ = st.Close() }, nil
}

func (f *accessFlags) keyring(ctx context.Context, st store.Accounts) (*auth.Keyring, error) {
	path := f.secretFile
	if path == "" {
		path = filepath.Join(f.dataDir, "secret") // the cluster secret berth generates
	}
	secret, err := auth.LoadSecret(path, f.secretFile == "")
	if err != nil {
		return nil, err
	}
	return auth.OpenKeyring(ctx, st, secret, 24*time.Hour)
}

// cliActor names changes made from the command line in the audit log.
func cliActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func cmdUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("user", "add|disable|enable NAME", stderr)
	var af accessFlags
	af.register(fs)
	admin := fs.Bool("admin", false, "make the user an administrator (add)")
	pwFile := fs.String("password-file", "", "file with the password (add; default: read a line from stdin)")
	if len(args) == 0 {
		fs.Usage()
		return errUsage
	}
	verb := args[0]
	if err := parse(fs, args[1:], 1, true); err != nil {
		return err
	}
	name := fs.Arg(0)
	acc, _, done, err := af.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	switch verb {
	case "add":
		pw, err := readPassword(*pwFile)
		if err != nil {
			return err
		}
		if err := acc.CreateUser(ctx, cliActor(), name, pw, *admin); err != nil {
			return cliErr(err)
		}
		fmt.Fprintf(stdout, "user %s created (namespace %s/)\n", name, name)
	case "disable", "enable":
		off := verb == "disable"
		if err := acc.UpdateUser(ctx, cliActor(), name, auth.UserChange{Disabled: &off}); err != nil {
			return cliErr(err)
		}
		fmt.Fprintf(stdout, "user %s %sd\n", name, verb)
	default:
		fs.Usage()
		return errUsage
	}
	return nil
}

func readPassword(file string) (string, error) {
	var b []byte
	var err error
	if file != "" {
		b, err = os.ReadFile(file)
	} else {
		var line string
		line, err = bufio.NewReader(os.Stdin).ReadString('\n')
		if errors.Is(err, io.EOF) && line != "" {
			err = nil
		}
		b = []byte(line)
	}
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// cliErr prints an API error's message rather than its wrapping.
func cliErr(err error) error {
	var he *httperr.Error
	if errors.As(err, &he) {
		return errors.New(he.Message)
	}
	return err
}

func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", "create --user U --name N [--expires 30d] [--read-only] | revoke --user U ID", stderr)
	var af accessFlags
	af.register(fs)
	user := fs.String("user", "", "whose token")
	name := fs.String("name", "", "what the token is for (create)")
	expires := fs.String("expires", "", "lifetime such as 90d (create; default: never)")
	readOnly := fs.Bool("read-only", false, "pulls only (create)")
	if len(args) == 0 {
		fs.Usage()
		return errUsage
	}
	verb := args[0]
	nargs := map[string]int{"create": 0, "revoke": 1}[verb]
	if err := parse(fs, args[1:], nargs, true); err != nil {
		return err
	}
	if *user == "" {
		fs.Usage()
		return errUsage
	}
	acc, _, done, err := af.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	switch verb {
	case "create":
		var ttl time.Duration
		if *expires != "" {
			if ttl, err = api.ParseDuration(*expires); err != nil {
				return err
			}
		}
		id, secret, err := acc.CreatePAT(ctx, cliActor(), *user, *name, ttl, *readOnly)
		if err != nil {
			return cliErr(err)
		}
		// The token is shown this once; only its hash is stored.
		fmt.Fprintf(stderr, "token %s created for %s; it is shown once:\n", id, *user)
		fmt.Fprintln(stdout, secret)
	case "revoke":
		if err := acc.RevokePAT(ctx, cliActor(), *user, fs.Arg(0)); err != nil {
			return cliErr(err)
		}
		fmt.Fprintf(stdout, "token %s revoked\n", fs.Arg(0))
	default:
		fs.Usage()
		return errUsage
	}
	return nil
}

func cmdTeam(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("team", "create [--owner U] NAME | delete NAME | member TEAM USER viewer|developer|maintainer|owner|none", stderr)
	var af accessFlags
	af.register(fs)
	owner := fs.String("owner", "", "the team's first owner (create)")
	if len(args) == 0 {
		fs.Usage()
		return errUsage
	}
	verb := args[0]
	nargs := map[string]int{"create": 1, "delete": 1, "member": 3}[verb]
	if nargs == 0 {
		fs.Usage()
		return errUsage
	}
	if err := parse(fs, args[1:], nargs, true); err != nil {
		return err
	}
	acc, _, done, err := af.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	switch verb {
	case "create":
		err = acc.CreateTeam(ctx, cliActor(), fs.Arg(0), "", *owner, true)
	case "delete":
		err = acc.DeleteTeam(ctx, cliActor(), fs.Arg(0))
	case "member":
		role := fs.Arg(2)
		if role == "none" {
			role = ""
		}
		err = acc.SetTeamMember(ctx, cliActor(), fs.Arg(0), fs.Arg(1), role)
	}
	if err != nil {
		return cliErr(err)
	}
	fmt.Fprintf(stdout, "team %s: %s done\n", fs.Arg(0), verb)
	return nil
}

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys", "rotate", stderr)
	var af accessFlags
	af.register(fs)
	if len(args) == 0 || args[0] != "rotate" {
		fs.Usage()
		return errUsage
	}
	if err := parse(fs, args[1:], 0, true); err != nil {
		return err
	}
	acc, st, done, err := af.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	keys, err := af.keyring(ctx, st)
	if err != nil {
		return err
	}
	id, err := keys.Rotate(ctx)
	if err != nil {
		return err
	}
	acc.Audit(ctx, store.AuditEntry{Actor: cliActor(), Action: auth.AuditKeyRotate, Target: id, OK: true})
	fmt.Fprintf(stdout, "signing key %s is active; tokens signed before stay valid until they expire.\nWrite the registry's certificate bundle again (berth registry-config) before the next rotation.\n", id)
	return nil
}

func cmdRegistryConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("registry-config", "--realm https://berth.example.com/auth/token [--events-url URL]", stderr)
	var af accessFlags
	af.register(fs)
	realm := fs.String("realm", os.Getenv("BERTH_TOKEN_REALM"), "Berth's token endpoint as clients reach it")
	service := fs.String("service", envOr("BERTH_TOKEN_SERVICE", "berth-registry"), "the tokens' service (Berth's --token-service)")
	issuer := fs.String("issuer", envOr("BERTH_TOKEN_ISSUER", "berth"), "the tokens' issuer (Berth's --token-issuer)")
	bundlePath := fs.String("bundle-path", "/etc/docker/registry/berth-token.pem", "where the registry will read the certificate bundle")
	events := fs.String("events-url", "", "Berth's notification webhook as the registry reaches it, e.g. https://berth.example.com/events")
	if err := parse(fs, args, 0, true); err != nil {
		return err
	}
	if *realm == "" {
		fs.Usage()
		return errUsage
	}
	_, st, done, err := af.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	keys, err := af.keyring(ctx, st)
	if err != nil {
		return err
	}
	bundle, err := keys.Bundle(ctx)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, auth.RegistryConfig{Realm: *realm, Service: *service, Issuer: *issuer, BundlePath: *bundlePath, Bundle: bundle, EventsURL: *events}.String())
	return nil
}
